"""Benchmark a 48-trial grid on Ray Tune against the same trials run one after another.

    python bench/grid.py [--cpus 2]

3 symbols x 4 holding periods x 4 feature configurations of the quick-start hypothesis on
simulated 5-minute bars: a year (~105k bars per trial, the size bench/run.py times) by default,
`--months 3` for small trials, where the fixed start-up cost of Ray weighs more. Baseline,
measured in the same run: the same 48 trials run sequentially in this process with
`run_experiment`, XGBoost on all cores.
Reported: wall time both ways, speed-up, Ray's overhead per trial (wall time x trial slots,
less the time spent inside trials, per trial) and the time from `ray.init` to the first trial.
Targets on 2 cores: speed-up >= 1.7x; overhead per trial < 10% of the mean trial time;
`ray.init` to first trial < 5 s. Each mode records into its own scratch store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from pydantic import SecretStr
from scratch_store import scratch_store

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.grid import GridConfig
from raytrade.config.loader import load_grid
from raytrade.data.lake import Lake
from raytrade.runner import RunEnvironment, run_experiment
from raytrade.runtime.local import connect, shutdown
from raytrade.runtime.tune import GridStores, TrialEvent, run_grid

ROOT = Path(__file__).parents[1]
AXES = {
    "data.symbol": ["BTC-USD", "ETH-USD", "SOL-USD"],
    "label.holding_period": [6, 12, 24, 48],
    "features.groups": [["returns", "volatility", "momentum", "trend", "range", "calendar"],
                        ["returns", "momentum"], ["volatility", "range"], ["trend", "calendar"]],
}


def grid_files(folder: Path, months: int) -> tuple[GridConfig, list[ExperimentConfig]]:
    base = yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())
    base["features"] = {"groups": ["returns"]}
    base["data"] |= {"start": "2024-01-01", "end": f"2024-{months:02d}-28"}
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    (folder / "grid.yaml").write_text(yaml.safe_dump(
        {"name": "bench-grid", "base": "base.yaml", "axes": AXES,
         "resources": {"cpu": 1, "gpu": 0}}))
    return load_grid(folder / "grid.yaml")


def sequential(trials: list[ExperimentConfig], folder: Path,
               threads: int | None) -> tuple[float, list[float]]:
    with scratch_store("rt_bench_seq") as (engine, _):
        env = RunEnvironment(engine=engine, lake=Lake(folder / "lake"), runs_dir=folder / "runs",
                             models_dir=folder / "models", code_version="bench",
                             threads=threads)
        began = time.perf_counter()
        times = []
        for cfg in trials:
            start = time.perf_counter()
            run_experiment(cfg, env)
            times.append(time.perf_counter() - start)
        return time.perf_counter() - began, times


def on_ray(grid: GridConfig, trials: list[ExperimentConfig], folder: Path,
           cpus: int) -> dict[str, float]:
    events: list[TrialEvent] = []
    with scratch_store("rt_bench_grid") as (engine, url):
        stores = GridStores(engine, SecretStr(url), folder / "lake", folder / "runs",
                            folder / "models", folder / "tune", "bench")
        began = time.perf_counter()
        connect(None, num_cpus=cpus)
        initialised = time.perf_counter()
        try:
            report = run_grid(grid, trials, stores, on_event=events.append)
        finally:
            shutdown()
    failed = [e for e in events if e.status == "failed"]
    if failed:
        raise SystemExit(f"{len(failed)} trials failed, e.g. {failed[0].error}")
    inside = [e.seconds or 0.0 for e in events]
    grid_wall = report.timings["wall_s"]
    slots = min(cpus, len(trials))
    return {"init": initialised - began, "grid_wall": grid_wall,
            "to_first_trial": initialised - began + report.timings["to_first_trial_s"],
            "mean_trial": statistics.mean(inside),
            "overhead_per_trial": max(grid_wall * slots - sum(inside), 0.0) / len(trials),
            "feature_misses": float(report.feature_service.get("misses", 0))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--months", type=int, default=12, choices=range(1, 13))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        grid, trials = grid_files(folder, args.months)
        ray = on_ray(grid, trials, folder / "ray", args.cpus)
        seq_wall, seq_times = sequential(trials, folder / "seq", None)
        one_wall, one_times = sequential(trials, folder / "seq1", 1)
    speedup = seq_wall / ray["grid_wall"]
    overhead = ray["overhead_per_trial"] / ray["mean_trial"]
    print(f"{len(trials)} trials ({' x '.join(str(len(v)) for v in AXES.values())}), "
          f"{args.months} months of 5m bars each, {args.cpus} CPUs, 1 CPU per trial:")
    print(f"  sequential, one process:  {seq_wall:7.1f} s  (median trial "
          f"{statistics.median(seq_times):.2f} s, XGBoost on all cores)")
    print(f"  sequential, 1 XGBoost thread: {one_wall:7.1f} s  (median trial "
          f"{statistics.median(one_times):.2f} s: what each trial is granted on Ray)")
    print(f"  Ray Tune grid:            {ray['grid_wall']:7.1f} s  (+ ray.init {ray['init']:.1f} s;"
          f" mean trial {ray['mean_trial']:.2f} s inside its worker)")
    print(f"  speed-up: {speedup:.2f}x (with ray.init: "
          f"{seq_wall / (ray['grid_wall'] + ray['init']):.2f}x); against the 1-thread "
          f"baseline: {one_wall / ray['grid_wall']:.2f}x")
    print(f"  Ray overhead per trial: {ray['overhead_per_trial'] * 1000:.0f} ms = "
          f"{overhead:.1%} of the mean trial")
    print(f"  ray.init to first trial running: {ray['to_first_trial']:.2f} s")
    print(f"  FeatureService computations: {ray['feature_misses']:.0f} for {len(trials)} trials")
    met = speedup >= 1.7 and overhead < 0.10 and ray["to_first_trial"] < 5.0
    print(f"targets (>= 1.7x, < 10%, < 5 s): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

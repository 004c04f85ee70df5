"""Benchmark one experiment from config load to gate verdict, stage by stage.

    python bench/run.py [--repeat 3]

One year of 5-minute BTC-USD bars from the simulator (~105k bars), the quick-start hypothesis,
recorded in the store named by RAYTRADE_DATABASE_URL (default: a temporary database on the
PostgreSQL server at 127.0.0.1:5432, dropped afterwards). The baseline, measured in the same
run, is bare `xgboost.train` on the same design matrix: the ratio says what the platform costs
on top of the model fit. Target: the whole run under 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from scratch_store import scratch_store

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.loader import load_experiment
from raytrade.data.lake import Lake
from raytrade.data.provider import load_bars
from raytrade.features.pipeline import FeaturePipeline
from raytrade.research.labels import binary_labels
from raytrade.runner import RunEnvironment, run_experiment

ROOT = Path(__file__).parents[1]
TARGET_S = 5.0


def year_config() -> ExperimentConfig:
    doc = load_experiment(ROOT / "experiments" / "quickstart.yaml").model_dump(
        mode="json", by_alias=True)
    doc["data"] |= {"start": "2024-01-01", "end": "2024-12-31"}
    return ExperimentConfig.model_validate(doc)


def timed_run(path: Path, env: RunEnvironment) -> dict[str, float]:
    began = time.perf_counter()
    cfg = load_experiment(path)
    loaded = time.perf_counter()
    result = run_experiment(cfg, env)
    total = time.perf_counter() - began
    return {"config": loaded - began, **result.timings, "total": total,
            "passed": float(result.decision.passed)}


def baseline_fit(cfg: ExperimentConfig) -> float:
    """Time bare xgboost.train on the same rows and features (no early stopping stops it)."""
    bars = load_bars(cfg.data, Lake(Path(tempfile.mkdtemp())))
    pipeline = FeaturePipeline.from_spec(cfg.features)
    frame = pipeline.transform(bars.lazy()).drop_nulls(list(pipeline.feature_names)).collect()
    x = frame.select(pipeline.feature_names).to_numpy()
    y = binary_labels(frame["close"].to_numpy(), cfg.label.holding_period,
                      cfg.label.profit_target)
    keep = ~np.isnan(y)
    n = int(keep.sum() * 0.6)
    matrix = xgb.DMatrix(x[keep][:n], label=y[keep][:n])
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
              "eta": 0.05, "nthread": len(os.sched_getaffinity(0))}
    began = time.perf_counter()
    xgb.train(params, matrix, num_boost_round=cfg.model.params.num_boost_round)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cfg = year_config()
    with scratch_store("rt_bench") as (engine, _), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.yaml"
        path.write_text(cfg.model_dump_json(by_alias=True))  # JSON is YAML
        env = RunEnvironment(engine=engine, lake=Lake(Path(tmp) / "lake"),
                             runs_dir=Path(tmp) / "runs", models_dir=Path(tmp) / "models",
                             code_version="bench")
        runs = [timed_run(path, env) for _ in range(args.repeat)]
    fit = statistics.median(baseline_fit(cfg) for _ in range(args.repeat))
    bars = load_bars(cfg.data, Lake(Path(tempfile.mkdtemp()))).height
    print(f"one experiment, {bars} bars of 5m BTC-USD, median of {args.repeat} runs:")
    for stage in runs[0]:
        if stage != "passed":
            print(f"  {stage:<8} {statistics.median(r[stage] for r in runs):7.3f} s")
    total = statistics.median(r["total"] for r in runs)
    print(f"baseline: bare xgboost.train, same rows, {cfg.model.params.num_boost_round} rounds: "
          f"{fit:.3f} s; run / baseline = {total / fit:.2f}x")
    print(f"gate passed in {sum(r['passed'] for r in runs):.0f} of {len(runs)} runs; "
          f"target < {TARGET_S} s: {'met' if total < TARGET_S else 'MISSED'}")
    return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

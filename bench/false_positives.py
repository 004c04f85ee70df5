"""Measure the gate's false-positive rate on pure noise and its power on planted effects.

    python bench/false_positives.py [--noise 100 --planted 30]

Noise: experiments on simulated bars with no planted signal, varying seed, symbol, timeframe,
feature set and holding period; each is its own family (a first trial, so DSR deflates
nothing: the strictest case for tier 3). Planted: the quick-start hypothesis (correlation 0.15
between the past 12-bar and the next bar's return, "moderate") over a year of 5-minute bars
and different seeds. Every run
goes through run_experiment into a temporary PostgreSQL database on 127.0.0.1:5432.
Targets: at most 1 in 100 noise runs passes all three tiers; at least 80% of planted runs do.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scratch_store import scratch_store

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.loader import load_experiment
from raytrade.core.types import Verdict
from raytrade.data.lake import Lake
from raytrade.runner import RunEnvironment, run_experiment

ROOT = Path(__file__).parents[1]
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT")
TIMEFRAMES = ({"timeframe": "5m", "start": "2024-01-01", "end": "2024-03-31"},
              {"timeframe": "15m", "start": "2023-07-01", "end": "2024-03-31"},
              {"timeframe": "1h", "start": "2022-01-01", "end": "2024-06-30"})
FEATURES = ({"set": "crypto"}, {"groups": ["returns", "momentum", "trend"]},
            {"groups": ["volatility", "range", "calendar", "returns"]})
HOLDING = (6, 12, 24)


def noise_configs(count: int) -> list[ExperimentConfig]:
    base = load_experiment(ROOT / "experiments" / "quickstart.yaml").model_dump(
        mode="json", by_alias=True)
    grid = itertools.cycle(itertools.product(SYMBOLS, TIMEFRAMES, FEATURES, HOLDING))
    configs = []
    for i, (symbol, frame, features, holding) in zip(range(count), grid, strict=False):
        doc: dict[str, Any] = {**base, "name": f"noise-{i}", "family": f"noise-{i}",
                               "features": features, "seed": 1000 + i}
        doc["data"] = {**base["data"], "symbol": symbol, **frame,
                       "sample": {"seed": 5000 + i, "signal_strength": 0.0}}
        doc["label"] = {"holding_period": holding, "profit_target": 0.002}
        configs.append(ExperimentConfig.model_validate(doc))
    return configs


def planted_configs(count: int) -> list[ExperimentConfig]:
    base = load_experiment(ROOT / "experiments" / "quickstart.yaml").model_dump(
        mode="json", by_alias=True)
    configs = []
    for i in range(count):
        doc: dict[str, Any] = {**base, "name": f"planted-{i}", "family": f"planted-{i}"}
        doc["data"] = {**base["data"], "start": "2024-01-01", "end": "2024-12-31",
                       "sample": {**base["data"]["sample"], "seed": 100 + i}}
        configs.append(ExperimentConfig.model_validate(doc))
    return configs


def tally(configs: list[ExperimentConfig], env: RunEnvironment) -> dict[str, int]:
    """Count runs passing each tier, and how often each check failed (keys `failed:<check>`)."""
    counts = {"runs": 0, "tier1": 0, "tier2": 0, "all": 0}
    for cfg in configs:
        decision = run_experiment(cfg, env).decision
        failed = decision.failed_tier
        for check in decision.checks:
            if check.verdict is Verdict.FAILED:
                counts[f"failed:{check.check}"] = counts.get(f"failed:{check.check}", 0) + 1
        counts["runs"] += 1
        counts["tier1"] += failed is None or failed > 1
        counts["tier2"] += failed is None or failed > 2
        counts["all"] += failed is None
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=int, default=100)
    parser.add_argument("--planted", type=int, default=30)
    args = parser.parse_args()
    with scratch_store("rt_fp") as (engine, _), tempfile.TemporaryDirectory() as tmp:
        env = RunEnvironment(engine=engine, lake=Lake(Path(tmp) / "lake"),
                             runs_dir=Path(tmp) / "runs", models_dir=Path(tmp) / "models",
                             code_version="bench")
        began = time.perf_counter()
        noise = tally(noise_configs(args.noise), env)
        planted = tally(planted_configs(args.planted), env)
        seconds = time.perf_counter() - began
    for label, counts in (("noise", noise), ("planted (0.15, lookback 12)", planted)):
        print(f"{label}: {counts['runs']} runs; passed tier 1: {counts['tier1']}, "
              f"tiers 1-2: {counts['tier2']}, all three tiers: {counts['all']}")
        failures = {k.removeprefix("failed:"): v for k, v in counts.items() if ":" in k}
        print(f"  checks failed (runs): {failures}")
    fp_ok = noise["all"] <= max(1, noise["runs"] // 100)
    power_ok = planted["all"] >= 0.8 * planted["runs"]
    print(f"false positives {'within' if fp_ok else 'ABOVE'} target (<= 1 in 100); power "
          f"{planted['all'] / max(planted['runs'], 1):.0%} ({'met' if power_ok else 'MISSED'} "
          f">= 80%); {seconds:.0f} s")
    return 0 if fp_ok and power_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark data-parallel XGBoost on Ray Train against single-process `train_model`.

    python bench/distributed_training.py [--rows 1000000 --features 14 --rounds 200 --repeat 3]

One local Ray (2 CPUs) in this process. Per repeat, interleaved so that background load hits
all three alike: `train_model` with 2 threads; `distributed_trainer` with 2 workers of 1 CPU
(1 thread each); and the same distributed trainer on 1,000 rows for 10 rounds, whose wall time
is Ray Train's fixed cost (starting the controller, workers and helper actors, the XGBoost
tracker, the checkpoint round trip). Early stopping cannot fire (its patience equals the round
count), so every fit runs all rounds. Prints medians, the ratio and the per-fit overhead, and
exits non-zero if the two models' validation losses differ by more than 2%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from raytrade.config.experiment import ModelParams
from raytrade.research.training import TrainedModel, Trainer, train_model
from raytrade.runtime.distributed import TRAIN_ENVIRONMENT, distributed_trainer
from raytrade.runtime.local import start_local

LOSS_TOLERANCE = 0.02
TINY_ROWS, TINY_ROUNDS = 1_000, 10


def make_data(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 rows and a binary label planted in the first three features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    score = x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] ** 2 + rng.normal(size=rows)
    return x, (score > np.median(score)).astype(np.float64)


def fit(trainer: Trainer, x: np.ndarray, y: np.ndarray, rounds: int) -> TrainedModel:
    cut = int(len(x) * 5 / 6)  # 5:1 train:validation
    params = ModelParams(max_depth=6, eta=0.1, num_boost_round=rounds,
                         early_stopping_rounds=rounds)
    names = tuple(f"f{i}" for i in range(x.shape[1]))
    return trainer(x[:cut], y[:cut], x[cut:], y[cut:], kind="binary", params=params, seed=1,
                   feature_names=names, threads=2)


def timed(run: Callable[[], TrainedModel]) -> tuple[float, TrainedModel]:
    began = time.perf_counter()
    model = run()
    return time.perf_counter() - began, model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    parser.add_argument("--features", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    x, y = make_data(args.rows * 6 // 5, args.features, seed=7)
    tiny_x, tiny_y = make_data(TINY_ROWS * 6 // 5, args.features, seed=8)
    began = time.perf_counter()
    start_local(num_cpus=2)
    print(f"ray start: {time.perf_counter() - began:.1f} s")
    distributed = distributed_trainer(2, min_rows=2, cpus_per_worker=1.0)
    times: dict[str, list[float]] = {"single": [], "distributed": [], "overhead": []}
    models: dict[str, TrainedModel] = {}
    for _ in range(args.repeat):
        seconds, models["single"] = timed(lambda: fit(train_model, x, y, args.rounds))
        times["single"].append(seconds)
        seconds, models["distributed"] = timed(lambda: fit(distributed, x, y, args.rounds))
        times["distributed"].append(seconds)
        seconds, _ = timed(lambda: fit(distributed, tiny_x, tiny_y, TINY_ROUNDS))
        times["overhead"].append(seconds)

    env = {k: os.environ.get(k) for k in TRAIN_ENVIRONMENT}
    print(f"{args.rows:,} rows x {args.features} features, binary, {args.rounds} rounds, "
          f"hist; medians of {args.repeat}; Ray Train env {env}")
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, label in (("single", "train_model, 2 threads"),
                        ("distributed", "distributed, 2 workers x 1 thread"),
                        ("overhead", f"Ray Train fixed cost ({TINY_ROWS:,} rows, "
                                     f"{TINY_ROUNDS} rounds)")):
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label:<46} {median[name]:7.2f} s   ({runs})")
    compute = median["distributed"] - median["overhead"]
    print(f"  distributed / single: {median['distributed'] / median['single']:.2f}x; "
          f"distributed minus fixed cost: {compute:.2f} s "
          f"({compute / median['single']:.2f}x single)")
    single_loss, dist_loss = (models[k].validation_loss for k in ("single", "distributed"))
    print(f"  validation logloss: single {single_loss:.5f}, distributed {dist_loss:.5f}")
    return 0 if abs(dist_loss - single_loss) <= LOSS_TOLERANCE * single_loss else 1


if __name__ == "__main__":
    sys.exit(main())

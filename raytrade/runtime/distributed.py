"""Data-parallel XGBoost on Ray Train for trials whose data outgrows one worker.

`distributed_trainer` returns a `Trainer` (research.training): below `min_rows` it is plain
`train_model`; above, Ray Train's `XGBoostTrainer` fits one booster on `num_workers` workers that
each hold a contiguous block of the rows, and the result is the same `TrainedModel` the rest of
the pipeline already knows. Three choices, each measured on our 2-core machines
(bench/distributed_training.py times the whole):

- The rows travel as per-worker blocks through the object store, not as Ray Data datasets. The
  caller already holds numpy arrays; `ray.data` adds a streaming-split coordinator actor per
  dataset (8-10 s more per fit on 2 cores, for train + validation) and buys nothing for data
  that is already in memory.
- Validation is sharded like training. XGBoost's collective sums each metric's (loss, weight)
  pair over the workers before anyone sees it, so every worker reads the loss of the whole
  validation set: early stopping decides the same round everywhere (a worker that stopped
  alone would leave the others blocked in an allreduce) and the loss equals the single-process
  one. A full copy per worker would give the same number for `logloss` at `num_workers` times
  the evaluation cost and memory.
- The workers report once, after training. Ray Train v2 passes each report to its controller
  through a one-slot queue drained once per health-check poll, so the stock callback's report
  after every round costs one poll interval per round (2 s by default).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.train
import xgboost as xgb
from ray.train import RunConfig, ScalingConfig
from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

from raytrade.config.experiment import ModelParams
from raytrade.core.errors import InputError
from raytrade.research.training import (
    Device,
    Kind,
    TrainedModel,
    Trainer,
    train_model,
    xgb_params,
)

# Ray Train reads these when `fit` starts (the driver) and passes them on to its controller and
# workers. Defaults only: an operator's own setting wins.
TRAIN_ENVIRONMENT = {
    # The controller notices a finished run (and every report) only at its next poll: 2 s by
    # default, which dominates a small fit. A poll is one cheap actor call per worker.
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
    # One machine, or a cluster without spot nodes: nothing is preempted, so skip the watcher
    # actor (one more process to start per fit).
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
}


@dataclass(frozen=True)
class _Job:
    """What each worker needs: its block of rows by rank, and how to train."""

    train: tuple[ray.ObjectRef[Any], ...]  # (x, y) per rank
    validation: tuple[ray.ObjectRef[Any], ...]
    feature_names: tuple[str, ...]
    params: dict[str, object]
    num_boost_round: int
    early_stopping_rounds: int


class _CheckpointAtEnd(RayTrainReportCallback):
    """Report once, after the last round, with the booster as rank 0's checkpoint.

    The booster carries `best_iteration` and `best_score` (the validation loss at that round,
    stored as `repr` of the float, so exact) as attributes, so nothing else needs reporting.
    """

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        return False  # never stop training; the per-round report is what we skip


def _train_per_worker(config: dict[str, Any]) -> None:
    """Train this worker's part of one booster; XGBoost's collective joins the parts."""
    job: _Job = config["job"]
    rank = ray.train.get_context().get_world_rank()
    names = list(job.feature_names)
    x, y = ray.get(job.train[rank])
    x_val, y_val = ray.get(job.validation[rank])
    train = xgb.DMatrix(x, label=y, feature_names=names)
    val = xgb.DMatrix(x_val, label=y_val, feature_names=names)
    xgb.train(job.params, train, num_boost_round=job.num_boost_round,
              evals=[(val, "validation")], early_stopping_rounds=job.early_stopping_rounds,
              verbose_eval=False, callbacks=[_CheckpointAtEnd()])


@dataclass(frozen=True)
class DistributedTrainer:
    """A `Trainer` that spreads trials of at least `min_rows` training rows over Ray Train."""

    num_workers: int
    min_rows: int
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    storage_path: Path | None = None

    def __call__(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                 y_val: np.ndarray, *, kind: Kind, params: ModelParams, seed: int,
                 feature_names: tuple[str, ...], device: Device = "cpu",
                 threads: int | None = None) -> TrainedModel:
        """Train like `train_model`; `device` and `threads` apply below `min_rows` only.

        Above it each worker runs `cpus_per_worker` threads, on its own GPU when `use_gpu`.
        """
        if len(x_train) < self.min_rows:
            return train_model(x_train, y_train, x_val, y_val, kind=kind, params=params,
                               seed=seed, feature_names=feature_names, device=device,
                               threads=threads)
        self._check_room()
        threads_per_worker = max(1, int(self.cpus_per_worker))
        job = _Job(
            train=_blocks(x_train, y_train, self.num_workers),
            validation=_blocks(x_val, y_val, self.num_workers),
            feature_names=feature_names,
            params=xgb_params(kind, params, seed, "cuda" if self.use_gpu else "cpu",
                              threads_per_worker),
            num_boost_round=params.num_boost_round,
            early_stopping_rounds=params.early_stopping_rounds)
        booster = self._fit(job)
        return TrainedModel(booster, kind, int(booster.best_iteration), feature_names,
                            float(booster.best_score))

    def _fit(self, job: _Job) -> xgb.Booster:
        for key, value in TRAIN_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
        resources = {"CPU": self.cpus_per_worker, **({"GPU": 1.0} if self.use_gpu else {})}
        name = f"xgboost-{uuid.uuid4().hex[:12]}"
        scratch = None if self.storage_path else tempfile.mkdtemp(prefix="raytrade-train-")
        storage = self.storage_path or Path(str(scratch))
        try:
            trainer = XGBoostTrainer(
                _train_per_worker, train_loop_config={"job": job},
                scaling_config=ScalingConfig(num_workers=self.num_workers,
                                             use_gpu=self.use_gpu,
                                             resources_per_worker=resources),
                run_config=RunConfig(storage_path=str(storage), name=name))
            with _sigint_handler_kept():
                result = trainer.fit()
            if result.checkpoint is None:
                raise RuntimeError(f"Ray Train run {name} finished without a model checkpoint")
            booster: xgb.Booster = RayTrainReportCallback.get_model(result.checkpoint)
            return booster
        finally:
            # The checkpoint only carries the booster back; the registry persists models.
            shutil.rmtree(storage / name, ignore_errors=True)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _check_room(self) -> None:
        """Refuse a worker group that can never be placed instead of waiting for it forever.

        Ray Train's controller and helper actors ask for no CPU, so on 2 CPUs 2 workers of 1 CPU
        fit. But a caller that is an actor (every Tune trial is one) keeps its resources while
        it waits for the workers: on 2 CPUs a trial holding 1 waited forever for 2 workers
        (measured). A plain task lends its CPUs back while blocked in `ray.get`, not its GPUs.
        """
        need = {"CPU": self.num_workers * self.cpus_per_worker}
        if self.use_gpu:
            need["GPU"] = float(self.num_workers)
        total = ray.cluster_resources()  # type: ignore[no-untyped-call]
        held = _held_while_waiting()
        for key, amount in need.items():
            room = total.get(key, 0.0) - held.get(key, 0.0)
            if amount > room:
                raise InputError(
                    f"distributed training needs {amount:g} {key} for {self.num_workers} "
                    f"workers but only {room:g} of the cluster's {total.get(key, 0.0):g} are "
                    "not held by this caller; lower num_workers or cpus_per_worker, give the "
                    "calling trial fewer resources, or add nodes")


def _held_while_waiting() -> dict[str, float]:
    """Return the resources this process keeps while it blocks on the Ray Train run."""
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return {}  # the driver holds nothing
    held: dict[str, float] = context.get_assigned_resources()  # type: ignore[no-untyped-call]
    if context.get_actor_id() is None:
        held = {k: v for k, v in held.items() if k != "CPU"}  # lent back while blocked
    return held


def distributed_trainer(num_workers: int, *, min_rows: int, use_gpu: bool = False,
                        cpus_per_worker: float = 1.0,
                        storage_path: Path | None = None) -> Trainer:
    """Return a trainer that uses `num_workers` Ray Train workers from `min_rows` rows on.

    Below `min_rows` it returns exactly what `train_model` returns. `storage_path` is where
    Ray Train writes its run folder (removed once the model is loaded); on a cluster of several
    machines it must be a folder every node can reach. Ray must already be running.
    """
    if num_workers < 1:
        raise InputError(f"num_workers must be at least 1, got {num_workers}")
    if cpus_per_worker <= 0:
        raise InputError(f"cpus_per_worker must be positive, got {cpus_per_worker}")
    if min_rows < num_workers:
        raise InputError(f"min_rows ({min_rows}) must be at least num_workers ({num_workers}) "
                         "so that every worker gets rows")
    return DistributedTrainer(num_workers, min_rows, use_gpu, cpus_per_worker, storage_path)


@contextmanager
def _sigint_handler_kept() -> Iterator[None]:
    """Put back the process's Ctrl-C handler, which `fit` replaces with one that aborts its run.

    Left in place, Ray's handler turns a later Ctrl-C into an abort of the finished run (the
    interrupt is swallowed, or the process exits with status 0) and keeps that run's controller
    actor alive through its closure.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # `fit` only installs its handler from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _blocks(x: np.ndarray, y: np.ndarray, parts: int) -> tuple[ray.ObjectRef[Any], ...]:
    """Put `parts` contiguous row blocks of (x, y) into the object store, one per worker rank."""
    return tuple(ray.put((xs, ys)) for xs, ys in
                 zip(np.array_split(x, parts), np.array_split(y, parts), strict=True))

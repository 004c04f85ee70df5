"""Grids as Ray Tune trials: each point of a grid's axes is one trial of `run_experiment`,
recorded in the store like `raytrade run`, linked to a `grids` row, with a leaderboard at the end.

The trials' configs and the store's URL reach the workers through the object store
(`tune.with_parameters`), never through Tune's param space, which Tune writes to disk.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from pydantic import SecretStr
from ray import tune
from ray.tune.experiment import Trial

from raytrade.audit import family_pbo
from raytrade.config.experiment import ExperimentConfig
from raytrade.config.grid import GridConfig, Resources
from raytrade.core.errors import InputError, MissingDataError
from raytrade.core.records import CheckResult
from raytrade.data.lake import Lake
from raytrade.research.training import Device, Trainer, train_model
from raytrade.runner import RunEnvironment, RunResult, run_experiment
from raytrade.runtime.feature_service import SERVICE_NAME, SharedFeatures, feature_service
from raytrade.runtime.local import NAMESPACE
from raytrade.runtime.metrics import TrialMetrics
from raytrade.store.grids import (
    BoardRow,
    finish_grid,
    latest_grid,
    leaderboard,
    record_failed_trial,
    start_grid,
)
from raytrade.store.session import Engine, make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridPlan:
    """What every trial needs. Travels through the object store, never into Tune's files."""

    grid_id: int
    grid_name: str
    trials: tuple[str, ...]  # canonical experiment JSON, by trial index
    database_url: SecretStr
    lake_root: str
    runs_dir: str
    models_dir: str
    code_version: str
    resume: bool
    share_features: bool
    resources: Resources


@dataclass(frozen=True)
class GridStores:
    """The store and folders of the driver; workers reach the same ones."""

    engine: Engine
    database_url: SecretStr
    lake_root: Path
    runs_dir: Path
    models_dir: Path
    tune_dir: Path  # Tune's own experiment state (no secrets in it)
    code_version: str


@dataclass(frozen=True)
class TrialEvent:
    """One trial's end, as the driver sees it: for progress lines."""

    done: int
    total: int
    trial: int
    name: str
    run_id: int | None
    status: str  # finished, reused or failed
    passed: bool
    failed_tier: int | None
    sharpe: float | None
    seconds: float | None
    error: str | None
    node: str | None = None  # the Ray node id it ran on; None when its worker failed


@dataclass(frozen=True)
class GridReport:
    grid_id: int
    board: list[BoardRow]
    resources: Resources
    warnings: list[str]
    pbo: CheckResult | None
    timings: dict[str, float] = field(default_factory=dict)
    feature_service: dict[str, int] = field(default_factory=dict)  # hits, misses, ...


def effective_resources(asked: Resources, cluster: dict[str, float],
                        node_cpus: Sequence[float]) -> tuple[Resources, list[str]]:
    """Return what each trial will ask and the warnings to show. GPU asks are dropped when the
    cluster has no GPU; asks no node can ever grant are refused (Tune would wait forever)."""
    warnings = []
    if asked.gpu > 0 and cluster.get("GPU", 0.0) == 0:
        warnings.append(f"the cluster has no GPU: the grid's gpu: {asked.gpu} per trial is "
                        "dropped and trials train on CPU")
        asked = Resources(cpu=asked.cpu, gpu=0.0)
    if asked.gpu > cluster.get("GPU", 0.0):
        raise InputError(f"each trial asks gpu: {asked.gpu} but the cluster has "
                         f"{cluster.get('GPU', 0.0)} GPU(s): it could never start")
    if not any(cpus >= asked.cpu for cpus in node_cpus):
        raise InputError(f"each trial asks cpu: {asked.cpu} but no node has that many CPUs "
                         f"(largest: {max(node_cpus, default=0)}): it could never start")
    if asked.train_workers * asked.cpu > cluster.get("CPU", 0.0):
        raise InputError(f"train_workers: {asked.train_workers} x cpu: {asked.cpu} is more than "
                         f"the cluster's {cluster.get('CPU', 0.0)} CPUs")
    return asked, warnings


def trial_request(resources: Resources, cluster_cpus: float) -> tuple[dict[str, float], int | None]:
    """Return what one trial reserves and how many trials may run at once (None: no limit).

    A trial that trains with Ray Train must not hold CPUs while its workers wait for them
    (it would deadlock the cluster): it reserves a token of memory only, and the number of
    concurrent trials is what the cluster's CPUs allow for their workers.
    """
    if resources.train_workers == 1:
        return {"cpu": resources.cpu, "gpu": resources.gpu}, None
    per_trial = resources.train_workers * resources.cpu
    return {"cpu": 0, "memory": 2**20}, max(1, int(cluster_cpus // per_trial))


def run_grid(grid: GridConfig, trials: Sequence[ExperimentConfig], stores: GridStores, *,
             resume: bool = False, share_features: bool = True,
             on_event: Callable[[TrialEvent], None] | None = None,
             on_warning: Callable[[str], None] | None = None) -> GridReport:
    """Run the grid's trials on the connected Ray cluster; return its leaderboard.

    With `resume`, a trial whose exact config already finished on the same bars is not run
    again: its recorded run is linked to this grid instead.
    """
    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (raytrade.runtime.local.connect)")
    began = time.perf_counter()
    nodes = ray.nodes()  # type: ignore[no-untyped-call]
    node_cpus = [n["Resources"].get("CPU", 0.0) for n in nodes if n["Alive"]]
    cluster = ray.cluster_resources()  # type: ignore[no-untyped-call]
    resources, warnings = effective_resources(grid.resources, cluster, node_cpus)
    for warning in warnings:
        (on_warning or log.warning)(warning)
    family = trials[0].family
    previous = latest_grid(stores.engine, grid.name) if resume else None
    grid_id = start_grid(stores.engine, grid, trials, family=family,
                         code_version=stores.code_version, cluster=_cluster_name(),
                         resources=resources.model_dump(),
                         resumes=previous.id if previous else None)
    plan = GridPlan(grid_id, grid.name, tuple(t.canonical_json() for t in trials),
                    stores.database_url, str(stores.lake_root), str(stores.runs_dir),
                    str(stores.models_dir), stores.code_version, resume, share_features,
                    resources)
    service = feature_service(stores.code_version) if share_features else None
    stats_before: Any = service.stats.remote() if service is not None else None  # not awaited
    progress = _Progress(stores, plan, trials, on_event)
    request, concurrent = trial_request(resources, cluster.get("CPU", 0.0))
    trainable = tune.with_resources(tune.with_parameters(_trial, plan=plan), request)
    tuner = tune.Tuner(
        trainable, param_space={"trial": tune.grid_search(list(range(len(trials))))},
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=concurrent,
                                    trial_name_creator=lambda t: _label(t, trials),
                                    trial_dirname_creator=lambda t: _label(t, trials)),
        run_config=tune.RunConfig(
            name=f"grid-{grid_id}", storage_path=str(stores.tune_dir), verbose=0,
            callbacks=[progress], failure_config=tune.FailureConfig(max_failures=0)))
    try:
        tuner.fit()
    except BaseException as exc:
        finish_grid(stores.engine, grid_id, leaderboard=leaderboard(stores.engine, grid_id),
                    error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    features: dict[str, int] = {}
    if service is not None:
        features = _difference(ray.get(service.stats.remote()), ray.get(stats_before))
    pbo = _family_pbo(stores.engine, family, trials[0].gate.max_pbo)
    board = leaderboard(stores.engine, grid_id)
    finish_grid(stores.engine, grid_id, leaderboard=board)
    timings = {"wall_s": time.perf_counter() - began, **progress.timings(began)}
    return GridReport(grid_id, board, resources, warnings, pbo, timings, features)


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Return this grid's share of the service's counters (it may have served others)."""
    counted = ("hits", "misses", "evictions")
    return {k: v - before.get(k, 0) if k in counted else v for k, v in after.items()}


def _family_pbo(engine: Engine, family: str, max_pbo: float) -> CheckResult | None:
    try:
        return family_pbo(engine, family, max_pbo=max_pbo)
    except MissingDataError:
        return None  # fewer than two finished trials: nothing to compare


def _cluster_name() -> str:
    return str(ray.get_runtime_context().gcs_address)


def _label(trial: Trial, trials: Sequence[ExperimentConfig]) -> str:
    index = int(trial.config["trial"])
    return f"{index:03d}-{trials[index].name}"[:120]


def _trial(config: dict[str, Any], plan: GridPlan) -> None:
    """One Tune trial: run the experiment and report what happened. Never raises for a failed
    experiment: the failure is recorded as a failed run and the grid goes on."""
    began = time.perf_counter()
    index = int(config["trial"])
    cfg = ExperimentConfig.model_validate_json(plan.trials[index])
    granted = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]
    device: Device = "cuda" if ray.get_gpu_ids() else "cpu"
    engine = _engine(plan.database_url.get_secret_value())
    metrics = TrialMetrics(plan.grid_name)
    metrics.on_start()
    env = RunEnvironment(
        engine=engine, lake=Lake(Path(plan.lake_root)), runs_dir=Path(plan.runs_dir),
        models_dir=Path(plan.models_dir), code_version=plan.code_version, device=device,
        threads=max(1, math.floor(granted.get("CPU", 1.0))),
        features=(SharedFeatures(ray.get_actor(SERVICE_NAME, namespace=NAMESPACE),
                                 plan.code_version)
                  if plan.share_features else None),
        trainer=_trainer(plan.resources))
    report: dict[str, Any] = {"node": ray.get_runtime_context().get_node_id(),
                              "device": device}
    try:
        result = run_experiment(cfg, env, grid_trial=(plan.grid_id, index),
                                reuse_finished=plan.resume)
    except Exception as exc:  # recorded, reported, and the grid goes on
        error = f"{type(exc).__name__}: {exc}"
        run_id = record_failed_trial(engine, (plan.grid_id, index), cfg,
                                     code_version=plan.code_version, error=error)
        metrics.on_failure()
        report |= {"run_id": run_id, "status": "failed", "error": error[:2000]}
    else:
        metrics.on_finish(result.decision)
        report |= _result_fields(result)
    tune.report(report | {"seconds": time.perf_counter() - began})


@functools.lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    """One engine (and connection pool) per store per worker process: Tune reuses a trial's
    actor for the next trial, which then skips connecting to PostgreSQL again."""
    return make_engine(url)


def _trainer(resources: Resources) -> Trainer:
    if resources.train_workers == 1:
        return train_model
    from raytrade.runtime.distributed import distributed_trainer  # Ray Train: 0.5 s to import

    return distributed_trainer(resources.train_workers,
                               min_rows=max(resources.distributed_min_rows,
                                            resources.train_workers),
                               use_gpu=resources.gpu > 0, cpus_per_worker=resources.cpu)


def _result_fields(result: RunResult) -> dict[str, Any]:
    sharpe = next((m.value for m in result.metrics
                   if (m.segment, m.name) == ("test", "sharpe")), None)
    return {"run_id": result.run_id, "status": "reused" if result.reused else "finished",
            "passed": result.decision.passed, "failed_tier": result.decision.failed_tier,
            "sharpe": sharpe}


class _Progress(tune.Callback):
    """Driver-side: one event per trial end; trials that crashed are recorded as failed."""

    def __init__(self, stores: GridStores, plan: GridPlan, trials: Sequence[ExperimentConfig],
                 on_event: Callable[[TrialEvent], None] | None) -> None:
        self._stores, self._plan, self._trials, self._on_event = stores, plan, trials, on_event
        self._done = 0
        self._first_start: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its callbacks into its experiment state on disk: the store (and its
        URL) stay out of it. This callback lives in the driver only and is never restored."""
        return {"_done": self._done}

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        if self._first_start is None:
            self._first_start = time.perf_counter()

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial,
                        result: dict[str, Any], **info: Any) -> None:
        index = int(trial.config["trial"])
        self._emit(index, result.get("run_id"), str(result.get("status", "finished")),
                   bool(result.get("passed")), result.get("failed_tier"), result.get("sharpe"),
                   result.get("seconds"), result.get("error"), result.get("node"))

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        index = int(trial.config["trial"])
        error = f"the trial's worker failed: {trial.error_file or 'see the Ray logs'}"
        run_id = record_failed_trial(self._stores.engine, (self._plan.grid_id, index),
                                     self._trials[index], code_version=self._plan.code_version,
                                     error=error)
        TrialMetrics(self._plan.grid_name).on_failure()  # the worker could not count it
        self._emit(index, run_id, "failed", False, None, None, None, error, None)

    def _emit(self, index: int, run_id: int | None, status: str, passed: bool,
              failed_tier: int | None, sharpe: float | None, seconds: float | None,
              error: str | None, node: str | None) -> None:
        self._done += 1
        if self._on_event is not None:
            self._on_event(TrialEvent(self._done, len(self._trials), index,
                                      self._trials[index].name, run_id, status, passed,
                                      failed_tier, sharpe, seconds, error, node))

    def timings(self, began: float) -> dict[str, float]:
        if self._first_start is None:
            return {}
        return {"to_first_trial_s": self._first_start - began}

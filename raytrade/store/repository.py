"""Reads and writes of experiments and runs. A run is written `running` first, then finished
(metrics, gate checks and status together) in one transaction, so a crash can never leave a
half-written result: the row stays `running` with its last heartbeat, or becomes `failed`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Text, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from raytrade.config.experiment import ExperimentConfig
from raytrade.core.errors import InputError, IntegrityError
from raytrade.core.records import CheckResult, Metric
from raytrade.core.types import RunStatus, Verdict
from raytrade.store.session import transaction
from raytrade.store.tables import (
    ExperimentRow,
    FamilyCheckRow,
    GateCheckRow,
    GridRow,
    GridTrialRow,
    MetricRow,
    ModelArtifactRow,
    RunRow,
)

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class RunSummary:
    id: int
    experiment: str
    family: str
    config_hash: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime
    seed: int
    code_version: str
    error: str | None
    artifacts_path: str | None = None
    data_fingerprint: str | None = None
    versions: dict[str, Any] | None = None
    replay_of: int | None = None


def ensure_experiment(engine: Engine, cfg: ExperimentConfig) -> int:
    """Return the id of the experiment row for this config, inserting it the first time."""
    digest = cfg.config_hash()
    with transaction(engine) as session:
        session.execute(
            insert(ExperimentRow)
            .values(name=cfg.name, family=cfg.family, config_hash=digest,
                    config=cfg.model_dump(mode="json", by_alias=True))
            .on_conflict_do_nothing(index_elements=["config_hash"])
        )
        return session.scalars(
            select(ExperimentRow.id).where(ExperimentRow.config_hash == digest)).one()


def start_run(engine: Engine, cfg: ExperimentConfig, *, code_version: str,
              data_fingerprint: str | None = None, feature_fingerprint: str | None = None,
              versions: dict[str, str] | None = None, replay_of: int | None = None,
              grid_trial: tuple[int, int] | None = None) -> int:
    """Commit a `running` row for a new run of `cfg` and return its id; a grid's trial is
    linked to its run in the same transaction."""
    experiment_id = ensure_experiment(engine, cfg)
    with transaction(engine) as session:
        row = RunRow(experiment_id=experiment_id, status=RunStatus.RUNNING, seed=cfg.seed,
                     code_version=code_version[:80], host=socket.gethostname()[:255],
                     data_fingerprint=data_fingerprint, feature_fingerprint=feature_fingerprint,
                     versions=versions, replay_of=replay_of)
        session.add(row)
        session.flush()
        if grid_trial is not None:
            link_trial(session, grid_trial, row.id)
        return row.id


def link_trial(session: Session, grid_trial: tuple[int, int], run_id: int,
                reused: bool = False) -> None:
    grid_id, trial = grid_trial
    linked = session.execute(
        update(GridTrialRow).where(GridTrialRow.grid_id == grid_id, GridTrialRow.trial == trial)
        .values(run_id=run_id, reused=reused).returning(GridTrialRow.trial))
    if linked.scalar_one_or_none() is None:
        raise IntegrityError(f"grid {grid_id} has no trial {trial}")


def heartbeat(engine: Engine, run_id: int) -> None:
    with transaction(engine) as session:
        session.execute(update(RunRow).where(RunRow.id == run_id,
                                             RunRow.status == RunStatus.RUNNING)
                        .values(heartbeat_at=func.now()))


def finish_run(engine: Engine, run_id: int, metrics: Iterable[Metric],
               checks: Iterable[CheckResult] = (), *, gate_version: str = "1",
               thresholds: dict[str, Any] | None = None,
               artifacts_path: str | None = None) -> None:
    """Write every metric and gate check and mark the run `succeeded`, all or nothing."""
    with transaction(engine) as session:
        _claim(session, run_id, RunStatus.SUCCEEDED, error=None)
        if artifacts_path is not None:
            session.execute(update(RunRow).where(RunRow.id == run_id)
                            .values(artifacts_path=artifacts_path))
        for metric in metrics:
            session.add(MetricRow(run_id=run_id, segment=metric.segment, name=metric.name,
                                  value=metric.value))
            session.flush()
        session.add_all(
            GateCheckRow(run_id=run_id, tier=c.tier, check=c.check, verdict=c.verdict,
                         value=c.value, threshold=c.threshold, detail=c.detail,
                         gate_version=gate_version, thresholds=thresholds,
                         evidence=dict(c.evidence) or None)
            for c in checks)


def fail_run(engine: Engine, run_id: int, error: str) -> None:
    """Mark a running run `failed` with its error text; nothing else about it is kept."""
    with transaction(engine) as session:
        _claim(session, run_id, RunStatus.FAILED, error=(error or "failed")[:MAX_ERROR_CHARS])


def _claim(session: Session, run_id: int, status: RunStatus, error: str | None) -> None:
    result = session.execute(
        update(RunRow).where(RunRow.id == run_id, RunRow.status == RunStatus.RUNNING)
        .values(status=status, error=error, finished_at=func.now(), heartbeat_at=func.now())
        .returning(RunRow.id))
    if result.scalar_one_or_none() is None:
        raise IntegrityError(f"run {run_id} is not running; its result was already written")


@contextmanager
def recorded_run(engine: Engine, cfg: ExperimentConfig, *, code_version: str,
                 data_fingerprint: str | None = None, feature_fingerprint: str | None = None,
                 versions: dict[str, str] | None = None, replay_of: int | None = None,
                 grid_trial: tuple[int, int] | None = None) -> Iterator[int]:
    """Start a run; if the body raises, record the run as failed with the error and re-raise."""
    run_id = start_run(engine, cfg, code_version=code_version, data_fingerprint=data_fingerprint,
                       feature_fingerprint=feature_fingerprint, versions=versions,
                       replay_of=replay_of, grid_trial=grid_trial)
    try:
        yield run_id
    except BaseException as exc:
        fail_run(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise


def mark_abandoned(engine: Engine, silent_for: timedelta) -> list[int]:
    """Fail every `running` run whose heartbeat is older than `silent_for`; return their ids."""
    with transaction(engine) as session:
        cutoff = func.now() - silent_for
        rows = session.execute(
            update(RunRow).where(RunRow.status == RunStatus.RUNNING, RunRow.heartbeat_at < cutoff)
            .values(status=RunStatus.FAILED, finished_at=func.now(),
                    error=func.concat("abandoned: no heartbeat since ",
                                      cast(RunRow.heartbeat_at, Text)))
            .returning(RunRow.id))
        return sorted(rows.scalars())


def get_run(engine: Engine, run_id: int) -> RunSummary:
    runs = _summaries(engine, RunRow.id == run_id, limit=1)
    if not runs:
        raise InputError(f"no run with id {run_id}")
    return runs[0]


def list_runs(engine: Engine, limit: int = 50) -> list[RunSummary]:
    return _summaries(engine, None, limit)


def family_runs(engine: Engine, family: str, limit: int = 100_000) -> list[RunSummary]:
    """Return the family's runs, newest first (replays included; see `replay_of`)."""
    return _summaries(engine, ExperimentRow.family == family, limit)


def run_config(engine: Engine, run_id: int) -> dict[str, Any]:
    """Return the canonical config the run was started with, as stored."""
    with transaction(engine) as session:
        config = session.scalar(select(ExperimentRow.config).join(RunRow)
                                .where(RunRow.id == run_id))
    if config is None:
        raise InputError(f"no run with id {run_id}")
    return dict(config)


def run_metrics(engine: Engine, run_id: int) -> list[Metric]:
    with transaction(engine) as session:
        rows = session.scalars(select(MetricRow).where(MetricRow.run_id == run_id)
                               .order_by(MetricRow.segment, MetricRow.name))
        return [Metric(r.segment, r.name, r.value) for r in rows]


def _summaries(engine: Engine, where: ColumnElement[bool] | None,
               limit: int) -> list[RunSummary]:
    query = (select(RunRow, ExperimentRow).join(ExperimentRow)
             .order_by(RunRow.id.desc()).limit(limit))
    if where is not None:
        query = query.where(where)
    with transaction(engine) as session:
        return [
            RunSummary(id=run.id, experiment=exp.name, family=exp.family,
                       config_hash=exp.config_hash, status=run.status, started_at=run.started_at,
                       finished_at=run.finished_at, heartbeat_at=run.heartbeat_at, seed=run.seed,
                       code_version=run.code_version, error=run.error,
                       artifacts_path=run.artifacts_path, data_fingerprint=run.data_fingerprint,
                       versions=run.versions, replay_of=run.replay_of)
            for run, exp in session.execute(query)
        ]


@dataclass(frozen=True)
class ModelSummary:
    run_id: int
    experiment: str
    path: str
    sha256: str
    promoted_at: datetime
    feature_metadata: dict[str, Any]


def assert_promotable(engine: Engine, run_id: int) -> None:
    """Raise IntegrityError unless the run succeeded and none of its gate checks failed."""
    with transaction(engine) as session:
        _assert_promotable(session, run_id)


def _assert_promotable(session: Session, run_id: int) -> None:
    run = session.get(RunRow, run_id)
    if run is None or run.status is not RunStatus.SUCCEEDED:
        raise IntegrityError(f"run {run_id} has not succeeded; it cannot be promoted")
    failed = session.scalar(select(func.count()).select_from(GateCheckRow).where(
        GateCheckRow.run_id == run_id, GateCheckRow.verdict == Verdict.FAILED))
    checks = session.scalar(select(func.count()).select_from(GateCheckRow).where(
        GateCheckRow.run_id == run_id))
    if failed or not checks:
        raise IntegrityError(f"run {run_id} has no passing gate record; it cannot be promoted")
    family = session.scalar(select(ExperimentRow.family).join(RunRow).where(RunRow.id == run_id))
    pbo = _latest_family_row(session, family or "", "pbo")
    if pbo is not None and pbo.verdict is Verdict.FAILED:
        raise IntegrityError(f"family {family} failed its overfitting check ({pbo.detail}); "
                             "its models are not promoted")


def record_model(engine: Engine, *, run_id: int, path: str, sha256: str,
                 feature_metadata: dict[str, Any]) -> None:
    """Record a promotion; only a run whose every gate check passed or was skipped qualifies."""
    with transaction(engine) as session:
        _assert_promotable(session, run_id)
        session.add(ModelArtifactRow(run_id=run_id, path=path, sha256=sha256,
                                     feature_metadata=feature_metadata))


def get_model(engine: Engine, run_id: int) -> ModelSummary:
    models = _models(engine, ModelArtifactRow.run_id == run_id, limit=1)
    if not models:
        raise InputError(f"run {run_id} has no promoted model")
    return models[0]


def list_models(engine: Engine, limit: int = 100) -> list[ModelSummary]:
    return _models(engine, None, limit)


def _models(engine: Engine, where: ColumnElement[bool] | None, limit: int) -> list[ModelSummary]:
    query = (select(ModelArtifactRow, ExperimentRow.name).join(
        RunRow, RunRow.id == ModelArtifactRow.run_id).join(ExperimentRow)
        .order_by(ModelArtifactRow.id.desc()).limit(limit))
    if where is not None:
        query = query.where(where)
    with transaction(engine) as session:
        return [ModelSummary(run_id=m.run_id, experiment=name, path=m.path, sha256=m.sha256,
                             promoted_at=m.promoted_at, feature_metadata=m.feature_metadata)
                for m, name in session.execute(query)]


def gate_checks(engine: Engine, run_id: int) -> list[CheckResult]:
    with transaction(engine) as session:
        rows = session.scalars(select(GateCheckRow).where(GateCheckRow.run_id == run_id)
                               .order_by(GateCheckRow.tier, GateCheckRow.id))
        return [CheckResult(r.tier, r.check, r.verdict, r.value, r.threshold, r.detail,
                            r.evidence or {}) for r in rows]


def gate_thresholds(engine: Engine, run_id: int) -> dict[str, Any]:
    """Return the gate thresholds that were in force when the run was judged."""
    with transaction(engine) as session:
        found = session.scalar(select(GateCheckRow.thresholds)
                               .where(GateCheckRow.run_id == run_id).limit(1))
    return dict(found or {})


def record_family_check(engine: Engine, family: str, result: CheckResult) -> None:
    with transaction(engine) as session:
        session.add(FamilyCheckRow(family=family, check=result.check, verdict=result.verdict,
                                   value=result.value, threshold=result.threshold,
                                   detail=result.detail, evidence=dict(result.evidence) or None))


def family_trials(engine: Engine, family: str) -> tuple[int, list[float]]:
    """Return how many trials the family has (its runs of every status, replays excluded, plus
    the trials of running grids that have no run yet) and the per-bar test Sharpe ratios of
    the runs that finished."""
    with transaction(engine) as session:
        in_family = (select(RunRow.id).join(ExperimentRow)
                     .where(ExperimentRow.family == family, RunRow.replay_of.is_(None)))
        count = session.scalar(select(func.count()).select_from(in_family.subquery())) or 0
        count += session.scalar(
            select(func.count()).select_from(GridTrialRow).join(GridRow)
            .where(GridRow.family == family, GridRow.status == RunStatus.RUNNING,
                   GridTrialRow.run_id.is_(None))) or 0
        sharpes = session.scalars(select(MetricRow.value).where(
            MetricRow.run_id.in_(in_family), MetricRow.segment == "test",
            MetricRow.name == "sharpe_per_bar"))
        return int(count), list(sharpes)


def _latest_family_row(session: Session, family: str, check: str) -> FamilyCheckRow | None:
    return session.scalars(select(FamilyCheckRow).where(
        FamilyCheckRow.family == family, FamilyCheckRow.check == check)
        .order_by(FamilyCheckRow.id.desc()).limit(1)).first()

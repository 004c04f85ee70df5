"""Reads and writes of grids: a `grids` row per execution of a grid file, a `grid_trials` row
per point of its axes, each linked to the run that answered it (a new run, a failed one, or a
finished run reused on resume)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.grid import GridConfig
from raytrade.core.errors import InputError
from raytrade.core.types import RunStatus, Verdict
from raytrade.store.repository import MAX_ERROR_CHARS, fail_run, link_trial, start_run
from raytrade.store.session import transaction
from raytrade.store.tables import (
    ExperimentRow,
    GateCheckRow,
    GridRow,
    GridTrialRow,
    MetricRow,
    ModelArtifactRow,
    RunRow,
)

BOARD_METRICS = ("sharpe", "total_return", "max_drawdown", "win_rate", "trades")


@dataclass(frozen=True)
class GridSummary:
    id: int
    name: str
    family: str
    status: RunStatus
    trials: int
    started_at: datetime
    finished_at: datetime | None
    cluster: str
    resources: dict[str, Any]
    error: str | None
    resumes: int | None


@dataclass(frozen=True)
class BoardRow:
    """One trial on the leaderboard: its run, test metrics and gate verdict per tier."""

    trial: int
    name: str
    run_id: int | None
    status: str  # the run's status, or "pending" when the trial never got a run
    reused: bool
    metrics: dict[str, float]
    tiers: dict[int, str]  # tier -> passed / failed / skipped
    promoted: bool
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "name": self.name, "run_id": self.run_id,
                "status": self.status, "reused": self.reused, "metrics": self.metrics,
                "tiers": {str(t): v for t, v in self.tiers.items()},
                "promoted": self.promoted, "error": self.error}


def start_grid(engine: Engine, grid: GridConfig, trials: Sequence[ExperimentConfig], *,
               family: str, code_version: str, cluster: str, resources: dict[str, Any],
               resumes: int | None = None) -> int:
    """Record a running grid and one pending trial per config; return the grid's id. A grid
    that this one resumes is closed as failed, so its pending trials stop counting."""
    with transaction(engine) as session:
        if resumes is not None:
            session.execute(update(GridRow).where(GridRow.id == resumes,
                                                  GridRow.status == RunStatus.RUNNING)
                            .values(status=RunStatus.FAILED, finished_at=func.now(),
                                    error="interrupted; resumed by a later grid"))
        row = GridRow(name=grid.name, family=family, config=grid.model_dump(mode="json"),
                      config_hash=grid.config_hash(), status=RunStatus.RUNNING,
                      code_version=code_version[:80], cluster=cluster[:255],
                      resources=resources, resumes=resumes)
        session.add(row)
        session.flush()
        session.add_all(GridTrialRow(grid_id=row.id, trial=i, name=cfg.name,
                                     config_hash=cfg.config_hash())
                        for i, cfg in enumerate(trials))
        return row.id


def finished_run_for(engine: Engine, config_hash: str, data_fingerprint: str) -> int | None:
    """Return the newest succeeded run (not a replay) of this exact config on these exact
    bars, or None."""
    with transaction(engine) as session:
        return session.scalar(
            select(RunRow.id).join(ExperimentRow)
            .where(ExperimentRow.config_hash == config_hash,
                   RunRow.data_fingerprint == data_fingerprint,
                   RunRow.status == RunStatus.SUCCEEDED, RunRow.replay_of.is_(None))
            .order_by(RunRow.id.desc()).limit(1))


def link_reused(engine: Engine, grid_trial: tuple[int, int], run_id: int) -> None:
    with transaction(engine) as session:
        link_trial(session, grid_trial, run_id, reused=True)


def record_failed_trial(engine: Engine, grid_trial: tuple[int, int], cfg: ExperimentConfig,
                        *, code_version: str, error: str) -> int:
    """Record a trial that failed before (or without) recording its own run as a failed run."""
    with transaction(engine) as session:
        run_id = session.scalar(select(GridTrialRow.run_id).where(
            GridTrialRow.grid_id == grid_trial[0], GridTrialRow.trial == grid_trial[1]))
    if run_id is not None:
        status = _run_status(engine, run_id)
        if status is RunStatus.RUNNING:
            fail_run(engine, run_id, error)
        return run_id
    run_id = start_run(engine, cfg, code_version=code_version, grid_trial=grid_trial)
    fail_run(engine, run_id, error)
    return run_id


def _run_status(engine: Engine, run_id: int) -> RunStatus:
    with transaction(engine) as session:
        return session.scalars(select(RunRow.status).where(RunRow.id == run_id)).one()


def finish_grid(engine: Engine, grid_id: int, *, leaderboard: Sequence[BoardRow],
                error: str | None = None) -> None:
    with transaction(engine) as session:
        session.execute(update(GridRow).where(GridRow.id == grid_id).values(
            status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
            finished_at=func.now(), error=error[:MAX_ERROR_CHARS] if error else None,
            leaderboard={"trials": [r.as_dict() for r in leaderboard]}))


def get_grid(engine: Engine, grid_id: int) -> GridSummary:
    found = _grids(engine, GridRow.id == grid_id, 1)
    if not found:
        raise InputError(f"no grid with id {grid_id}")
    return found[0]


def latest_grid(engine: Engine, name: str) -> GridSummary | None:
    found = _grids(engine, GridRow.name == name, 1)
    return found[0] if found else None


def list_grids(engine: Engine, limit: int = 50) -> list[GridSummary]:
    return _grids(engine, None, limit)


def _grids(engine: Engine, where: Any, limit: int) -> list[GridSummary]:
    trials = (select(func.count()).where(GridTrialRow.grid_id == GridRow.id)
              .correlate(GridRow).scalar_subquery())
    query = select(GridRow, trials).order_by(GridRow.id.desc()).limit(limit)
    if where is not None:
        query = query.where(where)
    with transaction(engine) as session:
        return [GridSummary(g.id, g.name, g.family, g.status, int(n), g.started_at,
                            g.finished_at, g.cluster, dict(g.resources), g.error, g.resumes)
                for g, n in session.execute(query)]


def leaderboard(engine: Engine, grid_id: int) -> list[BoardRow]:
    """Return the grid's trials, best test Sharpe first; trials without one come last."""
    with transaction(engine) as session:
        rows = session.execute(
            select(GridTrialRow, RunRow.status, RunRow.error)
            .outerjoin(RunRow, RunRow.id == GridTrialRow.run_id)
            .where(GridTrialRow.grid_id == grid_id).order_by(GridTrialRow.trial)).all()
        run_ids = [t.run_id for t, _, _ in rows if t.run_id is not None]
        metrics: dict[int, dict[str, float]] = {}
        for run_id, name, value in session.execute(
                select(MetricRow.run_id, MetricRow.name, MetricRow.value).where(
                    MetricRow.run_id.in_(run_ids), MetricRow.segment == "test",
                    MetricRow.name.in_(BOARD_METRICS))):
            metrics.setdefault(run_id, {})[name] = value
        tiers: dict[int, dict[int, str]] = {}
        for run_id, tier, verdict in session.execute(
                select(GateCheckRow.run_id, GateCheckRow.tier, GateCheckRow.verdict)
                .where(GateCheckRow.run_id.in_(run_ids))):
            by_tier = tiers.setdefault(run_id, {})
            by_tier[tier] = _worst(by_tier.get(tier), verdict)
        promoted = set(session.scalars(select(ModelArtifactRow.run_id)
                                       .where(ModelArtifactRow.run_id.in_(run_ids))))
    board = [BoardRow(t.trial, t.name, t.run_id, status.value if status else "pending",
                      t.reused, metrics.get(t.run_id or -1, {}),
                      dict(sorted(tiers.get(t.run_id or -1, {}).items())),
                      t.run_id in promoted, error) for t, status, error in rows]
    return sorted(board, key=lambda r: (-r.metrics["sharpe"] if "sharpe" in r.metrics
                                        else float("inf"), r.trial))


def _worst(seen: str | None, verdict: Verdict) -> str:
    order = {Verdict.FAILED.value: 0, Verdict.PASSED.value: 1, Verdict.SKIPPED.value: 2}
    if seen is None:
        return verdict.value
    return min(seen, verdict.value, key=order.__getitem__)

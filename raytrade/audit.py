"""Audit of gate decisions: rescoring stored evidence under other thresholds (history is never
rewritten), and the family-wide probability of backtest overfitting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError

from raytrade.config.experiment import GateSpec
from raytrade.core.errors import ConfigError, ConfigProblem, MissingDataError
from raytrade.core.records import CheckResult
from raytrade.core.types import RunStatus, Verdict
from raytrade.gate.evidence import Evidence, FamilyTrials, Statistics
from raytrade.gate.gate import evaluate
from raytrade.research.evaluation import CANARIES
from raytrade.research.stats import probability_of_backtest_overfitting
from raytrade.store.repository import (
    RunSummary,
    family_runs,
    gate_checks,
    gate_thresholds,
    list_models,
    record_family_check,
    run_metrics,
)
from raytrade.store.session import Engine

RETURNS = "test_returns.parquet"


@dataclass(frozen=True)
class Rescored:
    run_id: int
    experiment: str
    promoted: bool
    passed_then: bool
    passed_now: bool
    changed: tuple[str, ...]  # checks whose verdict differs under the new thresholds


def rescore_family(engine: Engine, family: str,
                   overrides: Mapping[str, Any]) -> list[Rescored]:
    """Re-evaluate every judged run of the family (replays aside) with its thresholds updated by
    `overrides`."""
    promoted = {m.run_id for m in list_models(engine)}
    rows = []
    for run in family_runs(engine, family):
        checks = gate_checks(engine, run.id)
        judged = run.status is RunStatus.SUCCEEDED and checks and run.artifacts_path is not None
        if not judged or run.replay_of is not None:  # a replay re-checks a run; not a trial
            continue
        gate = _gate(gate_thresholds(engine, run.id), overrides)
        now = evaluate(_evidence(engine, run, checks), gate)
        then = {c.check: c.verdict for c in checks}
        changed = tuple(c.check for c in now.checks if then.get(c.check) != c.verdict)
        rows.append(Rescored(run.id, run.experiment, run.id in promoted,
                             all(c.verdict is not Verdict.FAILED for c in checks), now.passed,
                             changed))
    return rows


def _gate(stored: Mapping[str, Any], overrides: Mapping[str, Any]) -> GateSpec:
    try:
        return GateSpec.model_validate({**stored, **overrides})
    except ValidationError as exc:
        raise ConfigError([ConfigProblem(f"gate.{'.'.join(map(str, e['loc']))}",
                                         repr(e["input"]), e["msg"]) for e in exc.errors()]
                          ) from None


def _evidence(engine: Engine, run: RunSummary, checks: list[CheckResult]) -> Evidence:
    metrics = run_metrics(engine, run.id)
    by_segment: dict[str, dict[str, float]] = {}
    for m in metrics:
        by_segment.setdefault(m.segment, {})[m.name] = m.value
    stored = {c.check: c.evidence for c in checks}
    artifacts = {name: (pair[0], pair[1]) for name, pair in
                 stored.get("artifacts_intact", {}).get("files", {}).items()}
    dsr = stored.get("dsr", {})
    statistics = Statistics(
        returns=_returns(Path(run.artifacts_path or "")),
        family=FamilyTrials(int(dsr.get("n_trials", 1)), float(dsr.get("sr_variance", 0.0))),
        canaries={name: by_segment.get(f"canary.{name}", {}) for name in CANARIES},
        seed=run.seed)
    return Evidence(artifacts, by_segment.get("test", {}),
                    by_segment.get("data", {}).get("coverage", 0.0), statistics)


def _returns(run_dir: Path) -> np.ndarray:
    path = run_dir / RETURNS
    if not path.is_file():
        raise MissingDataError(f"{path} is missing: the run's test returns cannot be re-read")
    return pl.read_parquet(path)["return"].to_numpy()


def family_returns(engine: Engine, family: str) -> list[pl.DataFrame]:
    """Return the stored test returns (ts, one column named by run id) of the family's finished
    runs, replays excluded."""
    series = []
    for run in family_runs(engine, family):
        path = Path(run.artifacts_path or "") / RETURNS
        if run.status is RunStatus.SUCCEEDED and run.replay_of is None and path.is_file():
            series.append(pl.read_parquet(path).select("ts", pl.col("return").alias(str(run.id))))
    return series


def aligned(series: list[pl.DataFrame]) -> np.ndarray:
    """Return a bars x trials matrix of the series' returns over the bars they all share."""
    joined = series[0]
    for frame in series[1:]:
        joined = joined.join(frame, on="ts", how="inner")
    return joined.drop("ts").to_numpy()


def family_pbo(engine: Engine, family: str, *, max_pbo: float,
               n_blocks: int = 16) -> CheckResult:
    """Compute PBO over the family's stored test return series, aligned on bar time, and record
    it; a PBO above `max_pbo` blocks promotion of the family's models from now on."""
    series = family_returns(engine, family)
    if len(series) < 2:
        raise MissingDataError(f"family {family} has {len(series)} finished runs with stored "
                               "test returns; PBO needs at least 2")
    matrix = aligned(series)
    result = probability_of_backtest_overfitting(matrix, n_blocks=n_blocks)
    check = CheckResult(3, "pbo", Verdict.PASSED if result.pbo <= max_pbo else Verdict.FAILED,
                        float(result.pbo), f"<= {max_pbo}",
                        f"PBO {result.pbo:.3f} over {matrix.shape[1]} trials and "
                        f"{matrix.shape[0]} common test bars",
                        {"n_trials": int(matrix.shape[1]), "n_bars": int(matrix.shape[0]),
                         "n_blocks": n_blocks})
    record_family_check(engine, family, check)
    return check

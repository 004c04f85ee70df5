"""run_experiment: the flow of DESIGN.md section 1, from config to gate verdict. No Ray here.

The run row is written `running` first; metrics and every gate check are written together when
the run finishes; only a run whose gate passed is promoted into the models directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

import raytrade
from raytrade.audit import aligned, family_returns
from raytrade.config.experiment import ExperimentConfig
from raytrade.core.errors import InputError, MissingDataError
from raytrade.core.records import Metric
from raytrade.core.types import Verdict
from raytrade.data.lake import Lake
from raytrade.data.provider import load_bars
from raytrade.data.quality import coverage, coverage_message, quality_report
from raytrade.features.pipeline import FeaturePipeline
from raytrade.gate.evidence import Evidence, FamilyTrials, Statistics
from raytrade.gate.gate import GATE_VERSION, GateDecision, evaluate
from raytrade.registry import found_hashes, promote, write_artifacts
from raytrade.research.evaluation import CANARIES, Outcome
from raytrade.research.evaluation import evaluate as evaluate_hypothesis
from raytrade.research.stats import effective_number_of_trials
from raytrade.research.training import Device, Trainer, train_model
from raytrade.store.grids import finished_run_for, link_reused
from raytrade.store.repository import (
    family_trials,
    finish_run,
    gate_checks,
    get_model,
    get_run,
    recorded_run,
    run_config,
    run_metrics,
)
from raytrade.store.session import Engine


@dataclass(frozen=True)
class RunEnvironment:
    """Everything a run touches outside itself, handed in explicitly."""

    engine: Engine
    lake: Lake
    runs_dir: Path  # each run's artifacts: runs_dir/<run_id>/
    models_dir: Path  # promoted models: models_dir/<experiment>/<run_id>/
    code_version: str
    device: Device = "cpu"
    threads: int | None = None
    # Where features come from (the runtime's shared FeatureService) and what trains a fold
    # (Ray Train for large data); by default computed and trained in this process.
    features: FeatureSource | None = None
    trainer: Trainer = train_model


class FeatureSource(Protocol):
    """Return `pipeline.transform` of exactly these bars, collected; `fingerprint` names them."""

    def __call__(self, bars: pl.DataFrame, pipeline: FeaturePipeline,
                 fingerprint: str) -> pl.DataFrame: ...


@dataclass(frozen=True)
class RunResult:
    run_id: int
    experiment: str
    metrics: tuple[Metric, ...]
    decision: GateDecision
    model_path: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    reused: bool = False  # an identical finished run was found and not run again

    def metric(self, segment: str, name: str) -> float:
        return next(m.value for m in self.metrics if (m.segment, m.name) == (segment, name))


def run_experiment(cfg: ExperimentConfig, env: RunEnvironment, replay_of: int | None = None,
                   *, grid_trial: tuple[int, int] | None = None,
                   reuse_finished: bool = False) -> RunResult:
    """Run one experiment end to end and record it; return the metrics and the gate decision.

    `grid_trial` (grid id, trial) links the run to its grid. With `reuse_finished`, a succeeded
    run of the same config on the same bars (same fingerprint) is returned instead of a new one.
    """
    timings: dict[str, float] = {}
    with _timed(timings, "load"):
        bars = load_bars(cfg.data, env.lake)
        fingerprint = bars_fingerprint(bars)
        start, end = cfg.data.window()
        cov = coverage(bars["ts"], cfg.data.symbol, cfg.data.timeframe, start, end)
        if cov.ratio < cfg.gate.min_coverage:  # refuse before a run is recorded
            quality = quality_report(bars, cfg.data.symbol, cfg.data.timeframe, start, end)
            raise MissingDataError(f"{cfg.data.symbol} {cfg.data.timeframe} from "
                                   f"{cfg.data.source}: "
                                   f"{coverage_message(quality, cfg.gate.min_coverage)}")
        pipeline = FeaturePipeline.from_spec(cfg.features)
        if pipeline.needs_volume:  # refuse before a run is recorded: the input is at fault
            pipeline.check_volume(bars)
    if reuse_finished:
        done = finished_run_for(env.engine, cfg.config_hash(), fingerprint)
        if done is not None:
            if grid_trial is not None:
                link_reused(env.engine, grid_trial, done)
            return recorded_result(env.engine, done, cfg.name)
    with recorded_run(env.engine, cfg, code_version=env.code_version,
                      data_fingerprint=fingerprint, feature_fingerprint=pipeline.spec_hash,
                      versions=library_versions(), replay_of=replay_of,
                      grid_trial=grid_trial) as run_id:
        with _timed(timings, "features"):
            features = (env.features(bars, pipeline, fingerprint) if env.features is not None
                        else None)
        with _timed(timings, "research"):
            outcome = evaluate_hypothesis(bars, cfg, device=env.device, threads=env.threads,
                                          features=features, trainer=env.trainer)
        run_dir = env.runs_dir / str(run_id)
        with _timed(timings, "gate"):
            hashes = write_artifacts(run_dir, _artifacts(cfg, outcome))
            on_disk = found_hashes(run_dir, list(hashes))  # re-read: the gate checks the files
            metrics = (*outcome.metrics, Metric("data", "coverage", cov.ratio),
                       Metric("data", "bars", float(cov.bars)))
            evidence = Evidence(
                artifacts={name: (digest, on_disk[name]) for name, digest in hashes.items()},
                metrics=_segment(metrics, "test"), coverage=cov.ratio,
                statistics=_statistics(env, cfg, outcome))
            decision = evaluate(evidence, cfg.gate)
        with _timed(timings, "store"):
            finish_run(env.engine, run_id, metrics, decision.checks, gate_version=GATE_VERSION,
                       thresholds=cfg.gate.model_dump(mode="json"), artifacts_path=str(run_dir))
    model_path = None
    if decision.passed:
        with _timed(timings, "promote"):
            model_path = promote(env.engine, run_id=run_id, experiment=cfg.name, source=run_dir,
                                 models_dir=env.models_dir,
                                 feature_metadata=outcome.pipeline.metadata())
    return RunResult(run_id, cfg.name, metrics, decision, model_path, timings)


def recorded_result(engine: Engine, run_id: int, experiment: str) -> RunResult:
    """Return a finished run's result as recorded in the store."""
    checks = tuple(gate_checks(engine, run_id))
    failed = [c.tier for c in checks if c.verdict is Verdict.FAILED]
    decision = GateDecision(checks, min(failed) if failed else None)
    model_path = None
    if decision.passed:
        try:
            model_path = Path(get_model(engine, run_id).path)
        except InputError:  # passed but its promotion did not complete
            model_path = None
    return RunResult(run_id, experiment, tuple(run_metrics(engine, run_id)), decision,
                     model_path, reused=True)


def _segment(metrics: tuple[Metric, ...], segment: str) -> dict[str, float]:
    return {m.name: m.value for m in metrics if m.segment == segment}


def _statistics(env: RunEnvironment, cfg: ExperimentConfig, outcome: Outcome) -> Statistics:
    """Gather tier 3's evidence: the family's trials come from the store, this run included."""
    n_trials, sharpes = family_trials(env.engine, cfg.family)
    own = _segment(outcome.metrics, "test")["sharpe_per_bar"]
    values = [*sharpes, own]
    variance = float(np.var(values, ddof=1)) if len(values) > 1 else 0.0
    if cfg.gate.effective_trials:
        n_trials = _effective_trials(env, cfg, outcome, n_trials)
    canaries = {name: _segment(outcome.metrics, f"canary.{name}") for name in CANARIES}
    return Statistics(returns=np.asarray(outcome.test.returns), family=FamilyTrials(
        n_trials, variance), canaries=canaries, seed=cfg.seed)


def _returns_frame(outcome: Outcome) -> pl.DataFrame:
    """Return the test segment's per-bar returns and positions, stamped in UTC."""
    return pl.DataFrame({
        "ts": pl.Series(outcome.test_ts).dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
        "return": outcome.test.returns, "position": outcome.test.position})


def _effective_trials(env: RunEnvironment, cfg: ExperimentConfig, outcome: Outcome,
                      recorded: int) -> int:
    """Return the clusters of correlated finished trials (this one included) plus every trial
    without a return series (failed or running): those cannot be shown to be duplicates."""
    series = family_returns(env.engine, cfg.family)
    series.append(_returns_frame(outcome).select("ts", pl.col("return").alias("this")))
    clusters = effective_number_of_trials(aligned(series)) if len(series) > 1 else 1
    return clusters + max(recorded - len(series), 0)


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in ("raytrade", "xgboost", "polars", "numpy")}


def _artifacts(cfg: ExperimentConfig, outcome: Outcome) -> dict[str, bytes]:
    decision_rule = {
        "kind": cfg.model.kind, "threshold": outcome.threshold,
        "best_iteration": outcome.model.best_iteration,
        "feature_names": list(outcome.pipeline.feature_names),
        "holding_period": cfg.label.holding_period, "allow_short": cfg.strategy.allow_short,
    }
    metrics = [{"segment": m.segment, "name": m.name, "value": m.value} for m in outcome.metrics]
    returns = io.BytesIO()
    _returns_frame(outcome).write_parquet(returns)
    return {
        "test_returns.parquet": returns.getvalue(),
        "model.json": outcome.model.to_json(),
        "features.json": _json(outcome.pipeline.metadata()),
        "config.json": cfg.canonical_json().encode(),
        "decision.json": _json(decision_rule),
        "metrics.json": _json(metrics),
    }


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1).encode()


def bars_fingerprint(bars: pl.DataFrame) -> str:
    """Return a sha256 of the exact bars used: timestamps and prices, byte for byte."""
    digest = hashlib.sha256()
    digest.update(bars["ts"].dt.epoch("us").to_numpy().astype(np.int64).tobytes())
    for name in ("open", "high", "low", "close", "volume"):
        digest.update(bars[name].fill_null(float("nan")).to_numpy().astype(np.float64).tobytes())
    return digest.hexdigest()


def code_version() -> str:
    """Return raytrade's version and, in a git checkout, the commit (marked + if modified)."""
    root = Path(raytrade.__file__).parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty=+"],
                                capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return raytrade.__version__
    return f"{raytrade.__version__}@{commit.stdout.strip()}"


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = time.perf_counter() - began


@dataclass(frozen=True)
class ReplayReport:
    original: int
    replay: int
    identical: bool
    differences: tuple[str, ...]  # metric or provenance items that differ, with both values


def replay_run(run_id: int, env: RunEnvironment) -> ReplayReport:
    """Re-run a recorded run from its stored config and compare every metric, exactly."""
    original = get_run(env.engine, run_id)
    cfg = ExperimentConfig.model_validate(run_config(env.engine, run_id))
    result = run_experiment(cfg, env, replay_of=run_id)
    again = get_run(env.engine, result.run_id)
    before = {(m.segment, m.name): m.value for m in run_metrics(env.engine, run_id)}
    after = {(m.segment, m.name): m.value for m in result.metrics}
    differences = [f"{seg}.{name}: {before.get((seg, name))} -> {after.get((seg, name))}"
                   for seg, name in sorted(before.keys() | after.keys())
                   if before.get((seg, name)) != after.get((seg, name))]
    for item in ("data_fingerprint", "versions"):
        if getattr(original, item) != getattr(again, item):
            differences.append(f"{item}: {getattr(original, item)} -> {getattr(again, item)}")
    return ReplayReport(run_id, result.run_id, not differences, tuple(differences))

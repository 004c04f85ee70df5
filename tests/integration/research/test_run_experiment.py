"""run_experiment end to end on the real store: a planted effect is found, gated and promoted;
pure noise is recorded and rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.loader import load_experiment
from raytrade.core.errors import InputError, MissingDataError
from raytrade.core.types import RunStatus, Verdict
from raytrade.data.lake import Lake
from raytrade.data.provider import load_bars
from raytrade.registry import load_model
from raytrade.runner import RunEnvironment, run_experiment
from raytrade.store.repository import gate_checks, get_run, list_models, list_runs, run_metrics

QUICKSTART = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"


def _config(**sample: float) -> ExperimentConfig:
    doc = load_experiment(QUICKSTART).model_dump(mode="json", by_alias=True)
    doc["data"]["sample"] |= sample
    return ExperimentConfig.model_validate(doc)


@pytest.fixture
def env(engine: Engine, tmp_path: Path) -> RunEnvironment:
    return RunEnvironment(engine=engine, lake=Lake(tmp_path / "lake"), runs_dir=tmp_path / "runs",
                          models_dir=tmp_path / "models", code_version="test", threads=1)


def test_planted_signal_passes_the_gate_and_is_promoted(env: RunEnvironment) -> None:
    result = run_experiment(_config(signal_strength=0.15), env)
    assert result.decision.passed, result.decision.checks
    assert result.model_path is not None and (result.model_path / "model.json").is_file()
    run = get_run(env.engine, result.run_id)
    assert run.status is RunStatus.SUCCEEDED
    stored = {(m.segment, m.name): m.value for m in run_metrics(env.engine, result.run_id)}
    assert stored[("test", "sharpe")] == result.metric("test", "sharpe") > 0.5
    checks = gate_checks(env.engine, result.run_id)
    assert len(checks) == 12 and {c.verdict for c in checks} == {Verdict.PASSED}
    [model] = list_models(env.engine)
    loaded = load_model(env.engine, result.run_id)  # hashes verified, pipeline rebuilt
    assert loaded.pipeline.feature_names == tuple(model.feature_metadata["feature_names"])
    bars = load_bars(_config(signal_strength=0.15).data, env.lake)
    live_row = loaded.pipeline.transform_latest(bars.tail(loaded.pipeline.warmup))
    x = live_row.select(loaded.pipeline.feature_names).to_numpy()
    probability = float(loaded.model.predict(x)[0])
    assert 0.0 <= probability <= 1.0 and loaded.decision_rule["threshold"] is not None


def test_pure_noise_is_recorded_and_rejected(env: RunEnvironment) -> None:
    result = run_experiment(_config(signal_strength=0.0), env)
    assert not result.decision.passed and result.model_path is None
    assert get_run(env.engine, result.run_id).status is RunStatus.SUCCEEDED  # ran; gate said no
    assert any(c.verdict is Verdict.FAILED for c in gate_checks(env.engine, result.run_id))
    assert list_models(env.engine) == []


def test_missing_data_fails_before_a_run_is_recorded(env: RunEnvironment) -> None:
    doc = _config().model_dump(mode="json", by_alias=True)
    doc["data"] |= {"source": "binance", "sample": None}
    with pytest.raises(MissingDataError, match="no 5m bars for BTC-USD from source binance"):
        run_experiment(ExperimentConfig.model_validate(doc), env)


def test_volume_features_on_thin_volume_stop_with_the_measured_coverage(
    env: RunEnvironment,
) -> None:
    # The bundled BTC-USD 15-minute bars have about a quarter of zero-volume rows.
    cfg = load_experiment(QUICKSTART.parent / "btc-15m-momentum.yaml")
    doc = cfg.model_dump(mode="json", by_alias=True)
    doc["features"] = {"set": "equities"}
    with pytest.raises(InputError, match=r"volume coverage .*%") as caught:
        run_experiment(ExperimentConfig.model_validate(doc), env)
    assert "crypto" in str(caught.value)  # the message says how to fix it
    assert list_runs(env.engine) == []  # refused before anything was recorded


def test_a_window_below_the_minimum_coverage_is_refused_quoting_coverage_and_worst_gaps(
        env: RunEnvironment) -> None:
    doc = _config().model_dump(mode="json", by_alias=True)
    doc["gate"] = {**doc["gate"], "min_coverage": 0.999}  # the simulator leaves outages
    with pytest.raises(MissingDataError, match=r"BTC-USD 5m from sample: coverage \d+\.\d+% of "
                                               r"[\d,]+ expected bars is below the experiment's "
                                               r"minimum 99\.9%; worst gaps: 2024-"):
        run_experiment(ExperimentConfig.model_validate(doc), env)
    assert list_runs(env.engine) == []  # refused before anything was recorded

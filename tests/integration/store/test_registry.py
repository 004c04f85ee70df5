"""Promotion: only gate-passing runs; files copied with their hashes; loading verifies them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from raytrade.config.loader import load_experiment
from raytrade.core.errors import IntegrityError
from raytrade.core.records import CheckResult, Metric
from raytrade.core.types import Verdict
from raytrade.registry import load_promoted, promote, write_artifacts
from raytrade.store.repository import finish_run, list_models, start_run

EXPERIMENT = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"
FILES = {"model.json": b'{"trees": []}', "features.json": b'{"feature_names": ["ret_1"]}'}


def _finished_run(engine: Engine, verdict: Verdict) -> int:
    run_id = start_run(engine, load_experiment(EXPERIMENT), code_version="x")
    finish_run(engine, run_id, [Metric("test", "sharpe", 1.0)],
               [CheckResult(1, "min_trades", Verdict.PASSED, 40, ">= 30"),
                CheckResult(2, "sharpe", verdict, 1.0, "> 0.5")])
    return run_id


def test_a_passing_run_is_promoted_and_loads_verified(engine: Engine, tmp_path: Path) -> None:
    run_id = _finished_run(engine, Verdict.PASSED)
    write_artifacts(tmp_path / "run", FILES)
    target = promote(engine, run_id=run_id, experiment="quickstart", source=tmp_path / "run",
                     models_dir=tmp_path / "models", feature_metadata={"feature_names": ["ret_1"]})
    assert target == tmp_path / "models" / "quickstart" / str(run_id)
    [row] = list_models(engine)
    assert row.run_id == run_id and row.feature_metadata == {"feature_names": ["ret_1"]}
    assert load_promoted(engine, run_id).files["model.json"] == FILES["model.json"]
    (target / "model.json").write_bytes(b'{"trees": ["tampered"]}')
    with pytest.raises(IntegrityError, match=r"missing or changed: \['model.json'\]"):
        load_promoted(engine, run_id)


def test_a_run_that_failed_the_gate_is_never_promoted(engine: Engine, tmp_path: Path) -> None:
    run_id = _finished_run(engine, Verdict.FAILED)
    write_artifacts(tmp_path / "run", FILES)
    with pytest.raises(IntegrityError, match="no passing gate record"):
        promote(engine, run_id=run_id, experiment="quickstart", source=tmp_path / "run",
                models_dir=tmp_path / "models", feature_metadata={})
    assert list_models(engine) == []
    assert not (tmp_path / "models").exists()  # nothing copied for a run that may not promote

"""Audit and replay on the real store: the family's trial count, exact replays, rescoring that
never rewrites history, and PBO that blocks a family's promotions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from raytrade.audit import family_pbo, rescore_family
from raytrade.config.experiment import ExperimentConfig
from raytrade.config.loader import load_experiment
from raytrade.core.errors import IntegrityError
from raytrade.core.types import Verdict
from raytrade.data.lake import Lake
from raytrade.runner import RunEnvironment, replay_run, run_experiment
from raytrade.store.repository import (
    assert_promotable,
    fail_run,
    family_trials,
    gate_checks,
    get_run,
    start_run,
)

QUICKSTART = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"


def _config(seed: int = 1, strength: float = 0.15) -> ExperimentConfig:
    doc = load_experiment(QUICKSTART).model_dump(mode="json", by_alias=True)
    doc["data"]["sample"] |= {"seed": seed, "signal_strength": strength}
    doc["name"] = f"quickstart-{seed}-{strength}".replace(".", "p")
    return ExperimentConfig.model_validate(doc)  # family stays `quickstart`


@pytest.fixture
def env(engine: Engine, tmp_path: Path) -> RunEnvironment:
    return RunEnvironment(engine=engine, lake=Lake(tmp_path / "lake"), runs_dir=tmp_path / "runs",
                          models_dir=tmp_path / "models", code_version="test", threads=1)


def test_dsr_counts_every_recorded_trial_of_the_family_failed_ones_too(
    env: RunEnvironment,
) -> None:
    crashed = start_run(env.engine, _config(seed=9), code_version="test")
    fail_run(env.engine, crashed, "RuntimeError: out of memory")
    result = run_experiment(_config(), env)
    dsr = next(c for c in gate_checks(env.engine, result.run_id) if c.check == "dsr")
    assert dsr.evidence["n_trials"] == 2  # the crashed trial counts against the family
    assert get_run(env.engine, result.run_id).versions is not None


def test_replay_reproduces_every_metric_and_is_not_a_new_trial(env: RunEnvironment) -> None:
    first = run_experiment(_config(), env)
    report = replay_run(first.run_id, env)
    assert report.identical, report.differences
    assert get_run(env.engine, report.replay).replay_of == first.run_id
    assert family_trials(env.engine, "quickstart")[0] == 1


def test_rescore_lists_changed_promotions_without_rewriting_history(env: RunEnvironment) -> None:
    result = run_experiment(_config(), env)
    assert result.model_path is not None
    before = gate_checks(env.engine, result.run_id)
    [row] = rescore_family(env.engine, "quickstart", {"min_sharpe": 1e6})
    assert row.promoted and row.passed_then and not row.passed_now and "sharpe" in row.changed
    [same] = rescore_family(env.engine, "quickstart", {})
    assert same.passed_now and same.changed == ()
    assert gate_checks(env.engine, result.run_id) == before


def test_family_pbo_is_recorded_and_a_failed_one_blocks_promotion(env: RunEnvironment) -> None:
    runs = [run_experiment(_config(seed=s, strength=x), env)
            for s, x in ((1, 0.15), (2, 0.0), (3, 0.0))]
    check = family_pbo(env.engine, "quickstart", max_pbo=0.5, n_blocks=8)
    assert 0.0 <= (check.value or 0.0) <= 1.0 and check.evidence["n_trials"] == 3
    strict = family_pbo(env.engine, "quickstart", max_pbo=-1.0, n_blocks=8)
    assert strict.verdict is Verdict.FAILED
    with pytest.raises(IntegrityError, match="overfitting"):
        assert_promotable(env.engine, runs[0].run_id)


def test_effective_trials_cluster_duplicates_of_the_same_hypothesis(env: RunEnvironment) -> None:
    first = run_experiment(_config(), env)
    doc = _config().model_dump(mode="json", by_alias=True)
    doc["gate"]["effective_trials"] = True
    doc["model"]["params"]["max_depth"] = 5  # a near-duplicate of the first trial
    second = run_experiment(ExperimentConfig.model_validate(doc), env)
    dsr = next(c for c in gate_checks(env.engine, second.run_id) if c.check == "dsr")
    assert family_trials(env.engine, "quickstart")[0] == 2
    assert dsr.evidence["n_trials"] == 1  # two correlated trials are one cluster
    assert first.run_id != second.run_id

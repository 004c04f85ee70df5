"""Gate checks are pure functions of evidence; later tiers are skipped once one fails."""

from __future__ import annotations

import math

from raytrade.config.experiment import GateSpec
from raytrade.core.types import Verdict
from raytrade.gate.checks import REQUIRED_METRICS, TIER1, TIER2
from raytrade.gate.evidence import Evidence
from raytrade.gate.gate import evaluate as evaluate_all

TIERS = {1: TIER1, 2: TIER2}  # tier 3 has tests of its own


def evaluate(evidence: Evidence, gate: GateSpec):  # type: ignore[no-untyped-def]
    return evaluate_all(evidence, gate, TIERS)

GOOD = {name: 0.1 for name in REQUIRED_METRICS} | {
    "total_return": 0.2, "sharpe": 1.4, "win_rate": 0.55, "trades": 80.0,
    "bh_total_return": 0.05, "max_drawdown": 0.1, "bh_max_drawdown": 0.3}
ARTIFACTS = {"model.json": ("abc", "abc"), "features.json": ("def", "def")}


def _evidence(**overrides: float) -> Evidence:
    return Evidence(artifacts=ARTIFACTS, metrics=GOOD | overrides, coverage=0.99)


def _verdicts(decision) -> dict[str, Verdict]:  # type: ignore[no-untyped-def]
    return {c.check: c.verdict for c in decision.checks}


def test_a_good_run_passes_every_check_and_rows_are_named_after_checks() -> None:
    decision = evaluate(_evidence(), GateSpec())
    assert decision.passed and decision.failed_tier is None
    names = [check.__name__ for tier in TIERS.values() for check in tier]
    assert [c.check for c in decision.checks] == names
    assert set(_verdicts(decision).values()) == {Verdict.PASSED}


def test_tier1_failure_skips_tier2() -> None:
    decision = evaluate(_evidence(trades=12.0), GateSpec())
    verdicts = _verdicts(decision)
    assert decision.failed_tier == 1 and verdicts["min_trades"] is Verdict.FAILED
    assert {verdicts[n] for n in ("positive_return", "sharpe", "win_rate",
                                  "beats_buy_and_hold")} == {Verdict.SKIPPED}


def test_changed_artifact_and_non_finite_metric_fail_sanity() -> None:
    evidence = Evidence(artifacts={"model.json": ("abc", "xyz"), "config.json": ("1", None)},
                        metrics=GOOD | {"sortino": math.inf}, coverage=0.99)
    verdicts = _verdicts(evaluate(evidence, GateSpec()))
    assert verdicts["artifacts_intact"] is Verdict.FAILED
    assert verdicts["metrics_finite"] is Verdict.FAILED


def test_thresholds_come_from_the_experiment() -> None:
    assert not evaluate(_evidence(sharpe=0.9), GateSpec(min_sharpe=1.0)).passed
    assert evaluate(_evidence(sharpe=0.9), GateSpec(min_sharpe=0.5)).passed
    too_good = evaluate(_evidence(win_rate=0.95), GateSpec())
    assert _verdicts(too_good)["win_rate"] is Verdict.FAILED  # suspiciously good: a leak?
    low_coverage = evaluate(Evidence(ARTIFACTS, GOOD, coverage=0.9), GateSpec())
    assert _verdicts(low_coverage)["data_coverage"] is Verdict.FAILED


def test_capital_protection_is_judged_on_drawdown_not_return() -> None:
    lagging = _evidence(total_return=0.03, bh_total_return=0.2, max_drawdown=0.05)
    assert not evaluate(lagging, GateSpec()).passed
    assert evaluate(lagging, GateSpec(capital_protection=True)).passed

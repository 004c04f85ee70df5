"""Tier 3: PSR, DSR deflated by the family's trials, bootstrap Sharpe, and leakage canaries."""

from __future__ import annotations

import numpy as np

from raytrade.config.experiment import GateSpec
from raytrade.core.types import Verdict
from raytrade.gate.evidence import Evidence, FamilyTrials, Statistics
from raytrade.gate.statistical import bootstrap_sharpe, dsr, leakage_canaries, psr

HONEST_CANARIES = {
    "permuted": {"total_return": -0.05, "sharpe": -1.0, "win_rate": 0.45, "trades": 60.0,
                 "bh_total_return": 0.02},
    "shifted": {"sharpe": 0.8},
}
REAL = {"sharpe": 2.0, "sharpe_per_bar": 0.05, "bars": 4000.0, "periods_per_year": 2016.0}


def _evidence(returns: np.ndarray, n_trials: int = 1, variance: float = 0.0,
              canaries: dict[str, dict[str, float]] = HONEST_CANARIES) -> Evidence:
    stats = Statistics(returns, FamilyTrials(n_trials, variance), canaries, seed=3)
    return Evidence({}, REAL, 1.0, stats)


def _returns(edge: float, n: int = 4000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(edge, 0.01, n)


def test_a_real_edge_passes_psr_dsr_and_the_bootstrap() -> None:
    ev = _evidence(_returns(0.002))
    assert psr(ev, GateSpec()).verdict is Verdict.PASSED
    assert dsr(ev, GateSpec()).verdict is Verdict.PASSED
    assert bootstrap_sharpe(ev, GateSpec()).verdict is Verdict.PASSED


def test_noise_fails_the_bootstrap_and_psr() -> None:
    ev = _evidence(_returns(0.0, seed=4))
    assert bootstrap_sharpe(ev, GateSpec()).verdict is Verdict.FAILED
    assert psr(ev, GateSpec()).verdict is Verdict.FAILED


def test_many_trials_deflate_a_result_that_alone_looks_significant() -> None:
    returns = _returns(0.0006, seed=1)  # per-bar Sharpe about 0.06 over 4000 bars
    alone, crowded = _evidence(returns), _evidence(returns, n_trials=500, variance=0.002)
    assert dsr(alone, GateSpec()).verdict is Verdict.PASSED
    result = dsr(crowded, GateSpec())
    assert result.verdict is Verdict.FAILED
    assert result.evidence["n_trials"] == 500 and "N = 500" in result.detail


def test_canaries_pass_when_they_behave() -> None:
    result = leakage_canaries(_evidence(_returns(0.002)), GateSpec())
    assert result.verdict is Verdict.PASSED


def test_permuted_labels_that_still_pass_tier2_raise_a_leak_alarm() -> None:
    suspicious = {**HONEST_CANARIES, "permuted": {
        "total_return": 0.3, "sharpe": 3.0, "win_rate": 0.6, "trades": 80.0,
        "bh_total_return": 0.01}}
    result = leakage_canaries(_evidence(_returns(0.002), canaries=suspicious), GateSpec())
    assert result.verdict is Verdict.FAILED and "leakage suspected" in result.detail


def test_past_labels_beating_the_real_run_raise_a_leak_alarm() -> None:
    suspicious = {**HONEST_CANARIES, "shifted": {"sharpe": 40.0}}
    result = leakage_canaries(_evidence(_returns(0.002), canaries=suspicious), GateSpec())
    assert result.verdict is Verdict.FAILED and "into the past" in result.detail

"""The live-return CUSUM: false alarms and detection delay as the ARL tables say, one-sided.

Reference values: Siegmund's approximation of the one-sided CUSUM's average run length (ARL),
k = 0.5 and h = 5: ~938 bars with no shift, ~10.3 bars after a mean shift of -1 standard
deviation. Montgomery's table for the same k and h (after Hawkins 1993) reads 465 and 10.4,
but for the two-sided scheme, which alarms on either side and so about twice as often when
in control. Simulated with fixed seeds, so each band below is a deterministic check; the
bands are about 3 standard errors of the estimate wide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raytrade.live.drift import DEFAULT_H, DEFAULT_K, ReturnDrift

MEAN, STD = 2e-4, 0.01  # a plausible hourly return distribution, in fractions


def _siegmund_arl(shift_sd: float, k: float = DEFAULT_K, h: float = DEFAULT_H) -> float:
    """Siegmund (1985): the one-sided CUSUM's ARL for normal data, mean moved by shift_sd."""
    d, b = shift_sd - k, h + 1.166
    return b * b if d == 0 else (math.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d)


ARL_IN_CONTROL = _siegmund_arl(0.0)  # ~938: twice Montgomery's two-sided 465
ARL_SHIFT_1SD = _siegmund_arl(1.0)  # ~10.3 (Montgomery's table: 10.4)


def _run_length(rng: np.random.Generator, shift_sd: float, limit: int = 100_000) -> int:
    """Bars until the first flag, returns drawn from N(MEAN + shift_sd * STD, STD)."""
    drift = ReturnDrift(MEAN, STD)
    while drift.state.bars < limit:
        for r in rng.normal(MEAN + shift_sd * STD, STD, size=256):
            state = drift.update(r)
            if state.flagged:
                return state.bars
    raise AssertionError(f"no flag in {limit} bars")


def test_returns_from_the_backtests_distribution_false_alarm_at_the_tabled_rate() -> None:
    rng = np.random.default_rng(20240801)
    runs = np.array([_run_length(rng, 0.0) for _ in range(1000)])
    assert 930 < ARL_IN_CONTROL < 945  # about twice the two-sided 465
    # run lengths are roughly geometric: standard error ~ ARL / sqrt(runs) ~ 30 bars
    assert 0.9 * ARL_IN_CONTROL < runs.mean() < 1.1 * ARL_IN_CONTROL, runs.mean()
    assert np.median(runs) > 400  # a false alarm within three weeks of hourly bars is rare


def test_a_mean_shift_of_minus_one_sd_is_flagged_within_the_tabled_delay() -> None:
    rng = np.random.default_rng(7)
    runs = np.array([_run_length(rng, -1.0) for _ in range(2000)])
    assert 0.95 * ARL_SHIFT_1SD < runs.mean() < 1.05 * ARL_SHIFT_1SD, runs.mean()
    assert np.quantile(runs, 0.95) <= 2 * ARL_SHIFT_1SD  # 95% flagged within ~21 bars


def test_a_steady_shortfall_of_one_sd_flags_exactly_when_the_sum_passes_h() -> None:
    drift = ReturnDrift(MEAN, STD)
    states = [drift.update(MEAN - STD) for _ in range(12)]
    # each bar adds 1 - k = 0.5 sd; 5.5 > h = 5 first at bar 11
    assert [s.flagged for s in states].index(True) == 10
    assert states[10].statistic == pytest.approx(5.5) and states[10].bars == 11


def test_returns_above_the_expectation_never_flag() -> None:
    drift = ReturnDrift(MEAN, STD)
    rng = np.random.default_rng(3)
    states = [drift.update(r) for r in rng.normal(MEAN + STD, STD, size=10_000)]
    assert not any(s.flagged for s in states)
    assert max(s.statistic for s in states) < DEFAULT_H


@given(st.lists(st.floats(min_value=MEAN - DEFAULT_K * STD, max_value=1.0), max_size=200))
def test_no_return_above_the_slack_moves_the_statistic(returns: list[float]) -> None:
    drift = ReturnDrift(MEAN, STD)
    for r in returns:
        assert drift.update(r).statistic == 0.0
    assert not drift.state.flagged and drift.state.bars == len(returns)


def test_the_flag_latches_after_the_returns_recover() -> None:
    drift = ReturnDrift(MEAN, STD)
    for _ in range(11):
        drift.update(MEAN - STD)
    recovered = [drift.update(MEAN + 3 * STD) for _ in range(5)]
    assert recovered[-1].statistic == 0.0 and all(s.flagged for s in recovered)


def test_built_from_stored_returns_uses_their_mean_and_sample_spread() -> None:
    returns = np.array([0.01, -0.02, np.nan, 0.03, 0.0])
    drift = ReturnDrift.from_returns(returns, h=4.0)
    finite = returns[~np.isnan(returns)]
    assert drift.expected_mean == pytest.approx(finite.mean())
    assert drift.expected_std == pytest.approx(finite.std(ddof=1))
    assert (drift.k, drift.h) == (DEFAULT_K, 4.0)


@pytest.mark.parametrize("returns", [np.array([0.01]), np.array([0.01, 0.01, np.nan]),
                                     np.array([])])
def test_stored_returns_without_spread_are_refused(returns: np.ndarray) -> None:
    with pytest.raises(ValueError):
        ReturnDrift.from_returns(returns)


@pytest.mark.parametrize(("mean", "std", "k", "h"), [
    (0.0, 0.0, 0.5, 5.0), (0.0, -1.0, 0.5, 5.0), (math.nan, 1.0, 0.5, 5.0),
    (0.0, 1.0, -0.1, 5.0), (0.0, 1.0, 0.5, 0.0)])
def test_impossible_parameters_are_refused(mean: float, std: float, k: float,
                                           h: float) -> None:
    with pytest.raises(ValueError):
        ReturnDrift(mean, std, k=k, h=h)


def test_a_non_finite_live_return_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        ReturnDrift(MEAN, STD).update(math.nan)

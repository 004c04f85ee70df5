"""Selection-bias statistics: the papers' worked example, hand derivations, and simulations."""

from __future__ import annotations

import math
import time
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from raytrade.research.stats import (
    SharpeInterval,
    bootstrap_block_length,
    deflated_sharpe_ratio,
    effective_number_of_trials,
    expected_max_sharpe,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_bootstrap_interval,
    sharpe_ratio_stats,
)

# The DSR paper's numerical example (Bailey & López de Prado 2014, section "A numerical
# example"): N = 100 trials, variance of the trials' annualised Sharpe ratios 1/2, T = 1250
# daily returns (5 years of 250 days), skewness -3, kurtosis 10, best annualised Sharpe 2.5.
# The paper converts with 250 days a year; with 252 the figures below come out 0.1127, 0.8997.
DAYS = 250
DSR_SR = 2.5 / math.sqrt(DAYS)  # 0.1581 per day
DSR_VARIANCE = 0.5 / DAYS  # 0.002 per day²


def _noise(seed: int, rows: int, cols: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, (rows, cols))


# ── PSR, MinTRL, expected maximum Sharpe, DSR ───────────────────────────────────────────────


def test_dsr_reproduces_the_papers_numerical_example() -> None:
    # Printed in the paper: E[max SR] ≈ 0.1132 (per day, not annualised) and DSR ≈ 0.9004.
    assert expected_max_sharpe(100, DSR_VARIANCE) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(DSR_SR, 1250, -3.0, 10.0, 100, DSR_VARIANCE)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_dsr_example_derived_figures() -> None:
    # Derived here, not quoted: annualised, E[max SR] = 0.11317 * sqrt(250) = 1.7894.
    annualised = expected_max_sharpe(100, DSR_VARIANCE) * math.sqrt(DAYS)
    assert annualised == pytest.approx(1.7894, abs=5e-5)
    # With the example's other inputs, 46 trials is the most that keeps DSR above 0.95.
    dsr = [deflated_sharpe_ratio(DSR_SR, 1250, -3.0, 10.0, n, DSR_VARIANCE) for n in (46, 47)]
    assert dsr[0] == pytest.approx(0.9505, abs=5e-5) and dsr[1] < 0.95


def test_psr_and_min_trl_paper_worked_examples() -> None:
    # Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier". The paper prints
    # PSR to 3 decimals and MinTRL in years to 2, so the tolerance is half its last digit. The
    # figures are as other implementations' tests transcribe them, not read from the paper here:
    # rubenbriones/Probabilistic-Sharpe-Ratio tests/test_sharpe_ratio_stats.py,
    # DaruFinance/deflated-sharpe tests/test_paper_examples.py,
    # specsignal-labs/signalquarry tests/golden/test_stats_reference.py and
    # esvhd/pypbo pypbo/tests/pbo_tests.py.
    # Section 3: a monthly SR of 0.458 (1.59 annualised) over 24 months, SR* 0. PSR is 0.982
    # for normal returns and 0.913 with skew -2.448 and kurtosis 10.164 (Pearson, not excess).
    assert probabilistic_sharpe_ratio(0.458, 0.0, 24, 0.0, 3.0) == pytest.approx(0.982, abs=5e-4)
    psr = probabilistic_sharpe_ratio(0.458, 0.0, 24, -2.448, 10.164)
    assert psr == pytest.approx(0.913, abs=5e-4)
    # MinTRL at 95% for an annualised SR of 2 against SR* 1: 2.73 years of daily returns,
    # 2.83 of weekly, 3.24 of monthly, and 4.99 monthly with the HFR index's skew -0.72 and
    # kurtosis 5.78 (59.895 months). Daily gives 2.73 with 250 or with 252 days a year.
    for periods, skew, kurtosis, years in [
        (252, 0.0, 3.0, 2.73),
        (52, 0.0, 3.0, 2.83),
        (12, 0.0, 3.0, 3.24),
        (12, -0.72, 5.78, 4.99),
    ]:
        sr, benchmark = 2.0 / math.sqrt(periods), 1.0 / math.sqrt(periods)
        bars = minimum_track_record_length(sr, benchmark, skew, kurtosis)
        assert bars / periods == pytest.approx(years, abs=5e-3)


def test_psr_matches_a_hand_derivation() -> None:
    # SR 0.1, SR* 0, n 101 (sqrt(n - 1) = 10), normal (skew 0, kurtosis 3):
    # factor 1 - 0 + (3 - 1)/4 * 0.01 = 1.005; z = 0.1 * 10 / sqrt(1.005) = 0.99751;
    # Φ(0.99751) = 0.8407.
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(0.8407, abs=5e-5)
    # SR 0.1, SR* 0.05, n 101, skew -1, kurtosis 6: factor 1 + 0.1 + 5/4 * 0.01 = 1.1125;
    # z = 0.05 * 10 / sqrt(1.1125) = 0.47405; Φ(0.47405) = 0.6823.
    psr = probabilistic_sharpe_ratio(0.1, 0.05, 101, -1.0, 6.0)
    assert psr == pytest.approx(0.6823, abs=5e-5)


def test_min_trl_matches_a_hand_derivation() -> None:
    # SR 0.2, SR* 0.1, skew -1, kurtosis 6, alpha 0.05: factor 1 + 0.2 + 5/4 * 0.04 = 1.25;
    # z_0.95 = 1.644854; 1 + 1.25 * (1.644854 / 0.1)² = 1 + 1.25 * 270.5544 = 339.1929 bars.
    assert minimum_track_record_length(0.2, 0.1, -1.0, 6.0) == pytest.approx(339.1929, abs=5e-5)


def test_negative_skew_and_fat_tails_lengthen_the_track_record_needed() -> None:
    normal = minimum_track_record_length(0.1, 0.0, 0.0, 3.0)
    assert minimum_track_record_length(0.1, 0.0, -2.0, 9.0) > normal


def test_min_trl_is_infinite_when_the_sharpe_does_not_beat_the_benchmark() -> None:
    assert minimum_track_record_length(0.1, 0.1, 0.0, 3.0) == math.inf
    assert minimum_track_record_length(-0.1, 0.0, 0.0, 3.0) == math.inf


@settings(max_examples=60, deadline=None)
@given(
    sr=st.floats(0.02, 0.5),
    gap=st.floats(0.01, 0.3),
    skew=st.floats(-3.0, 3.0),
    excess=st.floats(0.0, 20.0),
    alpha=st.floats(0.01, 0.2),
)
def test_psr_crosses_one_minus_alpha_at_the_min_trl(
    sr: float, gap: float, skew: float, excess: float, alpha: float
) -> None:
    kurtosis = 1.0 + skew * skew + excess  # every possible (skew, kurtosis) pair
    length = minimum_track_record_length(sr, sr - gap, skew, kurtosis, alpha)
    longer = probabilistic_sharpe_ratio(sr, sr - gap, math.ceil(length) + 1, skew, kurtosis)
    assert longer > 1.0 - alpha
    if math.floor(length) - 1 >= 2:
        shorter = probabilistic_sharpe_ratio(sr, sr - gap, math.floor(length) - 1, skew, kurtosis)
        assert shorter < 1.0 - alpha


def test_psr_is_one_half_at_the_benchmark_and_grows_with_the_record() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 500, -1.0, 5.0) == pytest.approx(0.5)
    short, long = (probabilistic_sharpe_ratio(0.05, 0.0, n, 0.0, 3.0) for n in (100, 1000))
    assert 0.5 < short < long < 1.0


@pytest.mark.parametrize(
    ("n_obs", "skew", "kurtosis"), [(1, 0.0, 3.0), (100, 2.0, 4.0), (100, 0.0, math.nan)]
)
def test_psr_refuses_impossible_inputs(n_obs: int, skew: float, kurtosis: float) -> None:
    # kurtosis 4 < 1 + 2² = 5: no distribution has these moments.
    with pytest.raises(ValueError):
        probabilistic_sharpe_ratio(0.1, 0.0, n_obs, skew, kurtosis)


def test_expected_max_sharpe_grows_with_trials_and_variance() -> None:
    by_trials = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    by_variance = [expected_max_sharpe(50, v) for v in (0.0, 0.01, 0.04)]
    assert by_trials == sorted(by_trials) and len(set(by_trials)) == 4
    assert by_variance[0] == 0.0 and by_variance[1] < by_variance[2]


@pytest.mark.parametrize(("n_trials", "variance"), [(1, 0.01), (0, 0.01), (10, -0.01)])
def test_expected_max_sharpe_refuses_too_few_trials_or_negative_variance(
    n_trials: int, variance: float
) -> None:
    with pytest.raises(ValueError):
        expected_max_sharpe(n_trials, variance)


def test_expected_max_sharpe_matches_the_best_of_simulated_unskilled_trials() -> None:
    # 300 experiments, each the best of 100 trials of 250 normal returns with true Sharpe 0.
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.01, (300, 250, 100))
    sharpes = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    predicted = expected_max_sharpe(100, float(sharpes.var()))
    assert float(sharpes.max(axis=1).mean()) == pytest.approx(predicted, rel=0.05)


def test_dsr_is_the_psr_against_the_expected_maximum() -> None:
    benchmark = expected_max_sharpe(20, 0.003)
    dsr = deflated_sharpe_ratio(0.15, 800, -0.5, 4.0, 20, 0.003)
    assert dsr == probabilistic_sharpe_ratio(0.15, benchmark, 800, -0.5, 4.0)


# ── sharpe_ratio_stats ──────────────────────────────────────────────────────────────────────


def test_sharpe_ratio_stats_are_per_bar_with_pearson_kurtosis() -> None:
    r = np.random.default_rng(3).standard_t(5, 5000) * 0.01 + 0.001
    sr, skew, kurt, n = sharpe_ratio_stats(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1))
    assert skew == pytest.approx(sps.skew(r))
    assert kurt == pytest.approx(sps.kurtosis(r) + 3.0)
    assert n == 5000 and kurt > 3.5  # Student t(5) is fat-tailed
    normal = sharpe_ratio_stats(np.random.default_rng(4).normal(size=20000))
    assert normal[2] == pytest.approx(3.0, abs=0.1)


def test_sharpe_ratio_stats_of_a_flat_series_show_no_skill() -> None:
    assert sharpe_ratio_stats(np.zeros(50)) == (0.0, 0.0, 3.0, 50)


@pytest.mark.parametrize("bad", [np.zeros(1), np.array([0.1, np.nan, 0.2]), np.zeros((3, 2))])
def test_sharpe_ratio_stats_refuse_unusable_returns(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        sharpe_ratio_stats(bad)


# ── probability of backtest overfitting ─────────────────────────────────────────────────────


def _reference_cscv(matrix: np.ndarray, n_blocks: int) -> np.ndarray:
    """Loop over combinations as the paper describes; the slow, obvious implementation."""
    blocks = np.array_split(np.arange(matrix.shape[0]), n_blocks)
    logits = []
    for chosen in combinations(range(n_blocks), n_blocks // 2):
        rows_in = np.concatenate([blocks[b] for b in chosen])
        rows_out = np.setdiff1d(np.arange(matrix.shape[0]), rows_in)
        is_sr = matrix[rows_in].mean(0) / matrix[rows_in].std(0, ddof=1)
        oos_sr = matrix[rows_out].mean(0) / matrix[rows_out].std(0, ddof=1)
        rank = sps.rankdata(oos_sr)[np.argmax(is_sr)]  # 1 = worst out of sample
        omega = rank / (matrix.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    return np.array(logits)


def test_pbo_matches_a_loop_over_every_combination() -> None:
    matrix = _noise(11, 101, 7)  # 101 rows: blocks of unequal length
    result = probability_of_backtest_overfitting(matrix, n_blocks=8)
    expected = _reference_cscv(matrix, 8)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-9)
    assert result.pbo == pytest.approx(np.mean(expected <= 0))


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    pbos = [probability_of_backtest_overfitting(_noise(seed, 1000, 20)).pbo for seed in range(12)]
    assert 0.4 < float(np.mean(pbos)) < 0.65  # one matrix alone is noisy: 0.24 to 0.91 here
    assert max(pbos) - min(pbos) > 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pbo_is_near_zero_when_one_trial_has_a_real_edge(seed: int) -> None:
    matrix = _noise(seed, 1000, 20)
    matrix[:, 5] += 0.004  # per-bar Sharpe 0.4: ahead of the noise in every block
    result = probability_of_backtest_overfitting(matrix)
    assert result.pbo < 0.05 and result.prob_oos_loss < 0.05


def test_pbo_has_one_logit_per_combination() -> None:
    result = probability_of_backtest_overfitting(_noise(0, 400, 5), n_blocks=16)
    assert result.logits.shape == (math.comb(16, 8),) == (12870,)
    assert result.n_combinations == 12870 and result.n_trials == 5 and result.n_blocks == 16
    assert probability_of_backtest_overfitting(_noise(0, 400, 5), n_blocks=8).logits.size == 70
    assert not result.logits.flags.writeable


def test_pbo_degradation_slope_is_the_ols_fit_of_oos_on_is() -> None:
    result = probability_of_backtest_overfitting(_noise(5, 600, 30), metric="mean")
    slope, intercept = np.polyfit(result.is_performance, result.oos_performance, 1)
    assert result.degradation_slope == pytest.approx(slope)
    assert result.degradation_intercept == pytest.approx(intercept)
    assert result.degradation_slope < 0  # noise: in-sample luck is paid back out of sample


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scales=st.lists(st.floats(0.1, 10.0), min_size=6, max_size=6),
    order=st.permutations(range(6)),
)
def test_pbo_ignores_trial_order_and_leverage(
    seed: int, scales: list[float], order: list[int]
) -> None:
    matrix = _noise(seed, 120, 6)
    base = probability_of_backtest_overfitting(matrix, n_blocks=6)
    moved = probability_of_backtest_overfitting(matrix[:, order] * np.array(scales), n_blocks=6)
    np.testing.assert_allclose(moved.logits, base.logits)


def test_pbo_runs_well_under_a_second_on_5000_bars_of_50_trials() -> None:
    matrix = _noise(1, 5000, 50)
    probability_of_backtest_overfitting(matrix[:100])  # starts BLAS's threads outside the timing
    started = time.perf_counter()
    probability_of_backtest_overfitting(matrix)
    assert time.perf_counter() - started < 1.0  # about 0.04 s when written


@pytest.mark.parametrize(
    ("shape", "n_blocks", "metric"),
    [((100, 1), 16, "sharpe"), ((10, 4), 16, "sharpe"), ((100, 4), 15, "sharpe"),
     ((100, 4), 0, "sharpe"), ((100, 4), 16, "sortino"), ((100, 4), 22, "sharpe")],
)
def test_pbo_refuses_invalid_arguments(shape: tuple[int, int], n_blocks: int, metric: str) -> None:
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros(shape), n_blocks=n_blocks, metric=metric)


def test_pbo_treats_a_flat_trial_as_sharpe_zero() -> None:
    matrix = _noise(2, 200, 4)
    matrix[:, 0] = 0.0  # a strategy that never trades
    result = probability_of_backtest_overfitting(matrix, n_blocks=4)
    assert np.isfinite(result.logits).all() and np.isfinite(result.degradation_slope)


# ── stationary bootstrap ────────────────────────────────────────────────────────────────────


def test_bootstrap_interval_contains_the_sample_sharpe() -> None:
    r = np.random.default_rng(8).normal(0.0005, 0.01, 3000)
    lower, upper = sharpe_bootstrap_interval(r, n_resamples=500)
    assert lower < sharpe_ratio_stats(r)[0] < upper


def test_bootstrap_interval_narrows_with_more_data() -> None:
    rng = np.random.default_rng(9)
    short = sharpe_bootstrap_interval(rng.normal(0.0005, 0.01, 1000), n_resamples=500)
    long = sharpe_bootstrap_interval(rng.normal(0.0005, 0.01, 9000), n_resamples=500)
    assert long.upper - long.lower < 0.5 * (short.upper - short.lower)  # about 1/sqrt(9)


def test_bootstrap_interval_is_deterministic_for_a_seed() -> None:
    r = np.random.default_rng(10).normal(0.0, 0.01, 800)
    first = sharpe_bootstrap_interval(r, n_resamples=300, seed=3)
    assert first == sharpe_bootstrap_interval(r, n_resamples=300, seed=3)
    assert first != sharpe_bootstrap_interval(r, n_resamples=300, seed=4)
    assert isinstance(first, SharpeInterval)


def test_bootstrap_lower_bound_separates_an_edge_from_noise() -> None:
    rng = np.random.default_rng(12)
    assert sharpe_bootstrap_interval(rng.normal(0.003, 0.01, 1000), n_resamples=500).lower > 0
    noise = sharpe_bootstrap_interval(rng.normal(0.0, 0.01, 1000), n_resamples=500)
    assert noise.lower < 0 < noise.upper


def test_bootstrap_blocks_widen_the_interval_of_autocorrelated_returns() -> None:
    # AR(1) returns with phi 0.6 against the same values shuffled: same Sharpe, but the
    # Sharpe of the autocorrelated series is far less certain, and the blocks must see it.
    rng = np.random.default_rng(13)
    shocks = rng.normal(0.0002, 0.01, 4000)
    ar = np.empty_like(shocks)
    ar[0] = shocks[0]
    for t in range(1, ar.size):
        ar[t] = 0.6 * ar[t - 1] + shocks[t]
    shuffled = rng.permutation(ar)
    assert bootstrap_block_length(ar) > 3 * bootstrap_block_length(shuffled)
    wide, narrow = (sharpe_bootstrap_interval(x, n_resamples=500) for x in (ar, shuffled))
    assert wide.upper - wide.lower > 1.5 * (narrow.upper - narrow.lower)


def test_bootstrap_of_a_flat_series_is_zero() -> None:
    assert sharpe_bootstrap_interval(np.zeros(100)) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("returns", "confidence", "n_resamples"),
    [(np.zeros(5), 0.95, 100), (np.ones(50), 1.0, 100), (np.ones(50), 0.95, 0)],
)
def test_bootstrap_refuses_invalid_arguments(
    returns: np.ndarray, confidence: float, n_resamples: int
) -> None:
    with pytest.raises(ValueError):
        sharpe_bootstrap_interval(returns, confidence=confidence, n_resamples=n_resamples)


# ── effective number of trials ──────────────────────────────────────────────────────────────


def test_independent_trials_each_count_once() -> None:
    assert effective_number_of_trials(_noise(14, 1000, 12)) == 12


def test_near_copies_of_a_trial_count_as_one() -> None:
    rng = np.random.default_rng(15)
    bases = rng.normal(0.0, 0.01, (1000, 3))
    copies = np.repeat(bases, 4, axis=1) + rng.normal(0.0, 0.001, (1000, 12))  # rho ≈ 0.99
    assert effective_number_of_trials(copies) == 3


def test_threshold_sets_the_correlation_that_merges_two_trials() -> None:
    rng = np.random.default_rng(16)
    a = rng.normal(size=5000)
    b = 0.7 * a + math.sqrt(1 - 0.49) * rng.normal(size=5000)  # rho ≈ 0.7, distance ≈ 0.3
    pair = np.column_stack([a, b])
    assert effective_number_of_trials(pair, threshold=0.5) == 1
    assert effective_number_of_trials(pair, threshold=0.2) == 2


def test_flat_trials_count_as_uncorrelated() -> None:
    matrix = np.column_stack([_noise(17, 300, 2), np.zeros((300, 2))])
    with np.errstate(all="raise"):
        assert effective_number_of_trials(matrix) == 4


@pytest.mark.parametrize(
    ("matrix", "threshold"), [(np.zeros((1, 3)), 0.5), (np.zeros(10), 0.5), (np.zeros((9, 3)), 3.0)]
)
def test_effective_trials_refuse_invalid_arguments(matrix: np.ndarray, threshold: float) -> None:
    with pytest.raises(ValueError):
        effective_number_of_trials(matrix, threshold=threshold)

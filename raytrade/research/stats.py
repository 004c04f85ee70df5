"""Statistics of selection bias and overfitting: PSR, MinTRL, DSR, PBO, a Sharpe bootstrap.

Units: every Sharpe ratio here is per period (per bar) and not annualised; divide an annualised
one by ``sqrt(periods_per_year)`` first. Skewness is the third standardised moment and kurtosis
is Pearson's (3 for a normal distribution), both population moments as in the papers.

- Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2).
- Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
  Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5).
- Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting"
  (Journal of Computational Finance 20(4), 2017).
- Politis & Romano (1994), "The Stationary Bootstrap", JASA 89; block length by Politis & White
  (2004) as corrected by Patton, Politis & White (2009), through ``arch``.
- López de Prado & Lewis (2019), "Detection of False Investment Strategies Using Unsupervised
  Learning Methods", Quantitative Finance 19(9): trials clustered by correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri  # the normal CDF and its inverse

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EULER_GAMMA = float(np.euler_gamma)
PBO_METRICS = ("sharpe", "mean")
MAX_PBO_BLOCKS = 20  # C(20, 10) = 184,756 combinations; memory grows as C(S, S/2) * N
MIN_BOOTSTRAP_OBS = 10  # arch's optimal_block_length fails on shorter series
_STD_FLOOR = 1e-14  # as in metrics: a per-bar deviation below this is rounding, not risk


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Return P[true SR > sr_benchmark] for a Sharpe ratio ``sr`` estimated from ``n_obs`` returns.

    Bailey & López de Prado (2012):
    PSR = Φ((SR − SR*)·√(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)); per-period Sharpe ratios,
    Pearson kurtosis. Raise ValueError for n_obs < 2 or moments no distribution has.
    """
    _check_moments(sr, sr_benchmark, skew, kurtosis)
    if n_obs < 2:
        raise ValueError(f"n_obs must be at least 2, got {n_obs}")
    return _psr(sr - sr_benchmark, float(n_obs), _sr_variance_factor(sr, skew, kurtosis))


def minimum_track_record_length(
    sr: float, sr_benchmark: float, skew: float, kurtosis: float, alpha: float = 0.05
) -> float:
    """Return the observations a record needs for PSR(sr_benchmark) to reach 1 − alpha.

    Bailey & López de Prado (2012):
    MinTRL = 1 + (1 − γ3·SR + (γ4 − 1)/4·SR²)·(z_{1−α} / (SR − SR*))², in observations (bars),
    not years. Return ``math.inf`` when sr <= sr_benchmark: no length of such a record rejects
    SR <= SR*, and ``n_obs >= inf`` is then false without a special case.
    """
    _check_moments(sr, sr_benchmark, skew, kurtosis)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if sr <= sr_benchmark:
        return math.inf
    z = float(ndtri(1.0 - alpha))
    return 1.0 + _sr_variance_factor(sr, skew, kurtosis) * (z / (sr - sr_benchmark)) ** 2


def expected_max_sharpe(n_trials: int, trials_sr_variance: float) -> float:
    """Return the expected maximum per-period Sharpe of n_trials independent unskilled trials.

    Bailey & López de Prado (2014), after the False Strategy theorem:
    √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), γ the Euler–Mascheroni constant and V the
    variance of the trials' per-period Sharpe ratios. Raise ValueError for n_trials < 2.
    """
    if n_trials < 2:
        raise ValueError(f"n_trials must be at least 2, got {n_trials}")
    if not (math.isfinite(trials_sr_variance) and trials_sr_variance >= 0.0):
        raise ValueError(f"trials_sr_variance must be finite and >= 0, got {trials_sr_variance}")
    quantiles = ndtri(np.array([1.0 - 1.0 / n_trials, 1.0 - 1.0 / (n_trials * math.e)]))
    z_max = (1.0 - EULER_GAMMA) * float(quantiles[0]) + EULER_GAMMA * float(quantiles[1])
    return math.sqrt(trials_sr_variance) * z_max


def deflated_sharpe_ratio(
    sr: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    n_trials: int,
    trials_sr_variance: float,
) -> float:
    """Return the PSR of ``sr`` against the Sharpe the best of n_trials unskilled trials expects.

    Bailey & López de Prado (2014): DSR = PSR(SR*) with
    SR* = expected_max_sharpe(n_trials, trials_sr_variance); per-period Sharpe ratios.
    """
    benchmark = expected_max_sharpe(n_trials, trials_sr_variance)
    return probabilistic_sharpe_ratio(sr, benchmark, n_obs, skew, kurtosis)


def sharpe_ratio_stats(returns: FloatArray) -> tuple[float, float, float, int]:
    """Return (per-period Sharpe, skewness, Pearson kurtosis, n) of per-bar returns for PSR/DSR.

    The Sharpe ratio is the mean over the sample deviation (ddof 1, risk-free rate 0), as
    ``metrics.sharpe`` before annualising. Skewness and kurtosis are population moments
    (scipy ``bias=True``), which always satisfy kurtosis >= 1 + skew². A series that never
    deviates gives (0, 0, 3, n): it took no risk and shows no skill.
    """
    r = _as_returns(returns, min_obs=2)
    std = float(r.std(ddof=1))
    if std <= _STD_FLOOR:
        return 0.0, 0.0, 3.0, r.size
    sr = float(r.mean()) / std
    m2, m3, m4 = (float(np.mean((r - r.mean()) ** k)) for k in (2, 3, 4))  # biased, as scipy
    return sr, m3 / m2**1.5, m4 / m2**2, r.size


@dataclass(frozen=True, eq=False)
class PBOResult:
    """The outcome of CSCV over a T×N matrix of per-bar trial returns (Bailey et al. 2015).

    ``logits`` holds λ = ln(ω̄/(1 − ω̄)) per combination, ω̄ the out-of-sample rank of the
    in-sample best trial over N + 1 (rank 1 the worst); ``pbo`` is the share of λ <= 0.
    ``is_performance``/``oos_performance`` are that trial's metric in and out of sample; the
    degradation line is their OLS fit; ``prob_oos_loss`` the share with an out-of-sample
    metric below 0. Arrays are read-only.
    """

    pbo: float
    logits: FloatArray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    is_performance: FloatArray
    oos_performance: FloatArray
    n_combinations: int
    n_trials: int
    n_blocks: int
    metric: str


def probability_of_backtest_overfitting(
    returns: FloatArray, n_blocks: int = 16, metric: str = "sharpe"
) -> PBOResult:
    """Return the probability of backtest overfitting of N trials by CSCV.

    Bailey, Borwein, López de Prado & Zhu (2015): split the T rows into ``n_blocks`` (even)
    contiguous blocks; for each of the C(S, S/2) choices of S/2 blocks as in-sample, pick the
    trial with the best in-sample ``metric`` ("sharpe": per-bar mean over deviation, 0 without
    deviation; "mean": per-bar mean return) and rank it out of sample. Vectorised: each subset's
    moments are sums of per-block moments, so all combinations are a few matrix products.
    """
    matrix = _check_pbo_inputs(returns, n_blocks, metric)
    in_sample = _in_sample_masks(n_blocks)
    counts, sums, squares, offset = _block_moments(matrix, n_blocks)
    is_perf = _subset_metric(in_sample, counts, sums, squares, offset, metric)
    oos_perf = _subset_metric(~in_sample, counts, sums, squares, offset, metric)
    rows = np.arange(in_sample.shape[0])
    best = np.argmax(is_perf, axis=1)
    best_is, best_oos = is_perf[rows, best], oos_perf[rows, best]
    logits = _rank_logits(oos_perf, best_oos)
    slope, intercept = _ols(best_is, best_oos)
    for array in (logits, best_is, best_oos):
        array.setflags(write=False)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(best_oos < 0.0)),
        is_performance=best_is,
        oos_performance=best_oos,
        n_combinations=int(rows.size),
        n_trials=int(matrix.shape[1]),
        n_blocks=n_blocks,
        metric=metric,
    )


class SharpeInterval(NamedTuple):
    """A confidence interval of the per-period Sharpe ratio; unpacks as ``lower, upper``."""

    lower: float
    upper: float


def sharpe_bootstrap_interval(
    returns: FloatArray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> SharpeInterval:
    """Return a stationary-bootstrap percentile interval of the per-period Sharpe ratio.

    Politis & Romano (1994), resampled by ``arch``'s StationaryBootstrap (numba-compiled; under
    a second for 20,000 returns and 2,000 resamples) with the mean block length of
    ``bootstrap_block_length``. Deterministic for a seed; needs ``MIN_BOOTSTRAP_OBS`` returns.
    A series that never deviates has Sharpe 0 in every resample: the interval is (0, 0).
    """
    r = _as_returns(returns, min_obs=MIN_BOOTSTRAP_OBS)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if float(r.std(ddof=1)) <= _STD_FLOOR:
        return SharpeInterval(0.0, 0.0)
    from arch.bootstrap import StationaryBootstrap  # 1-2 s to import: only when bootstrapping

    # arch types block_size as int but only uses 1/block_size: a mean length may be fractional.
    bootstrap = StationaryBootstrap(
        bootstrap_block_length(r), r, seed=np.random.default_rng(seed)  # type: ignore[arg-type]
    )
    draws = np.asarray(bootstrap.apply(_sharpe_row, n_resamples), dtype=np.float64)[:, 0]
    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(draws, [tail, 1.0 - tail])
    return SharpeInterval(float(lower), float(upper))


def bootstrap_block_length(returns: FloatArray) -> float:
    """Return the stationary bootstrap's mean block length for ``returns``, in observations.

    The larger of ``arch.bootstrap.optimal_block_length``'s stationary values (Politis & White
    2004; Patton, Politis & White 2009) for the returns and for their squared deviations, since
    the Sharpe ratio depends on the mean and on the variance; clipped to [1, n].
    """
    from arch.bootstrap import optimal_block_length

    r = _as_returns(returns, min_obs=MIN_BOOTSTRAP_OBS)
    series = np.column_stack([r, (r - r.mean()) ** 2])
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column gives NaN
        lengths = optimal_block_length(series)["stationary"].to_numpy(dtype=np.float64)
    finite = lengths[np.isfinite(lengths)]
    return float(min(max(finite.max(initial=1.0), 1.0), r.size))


def effective_number_of_trials(returns_matrix: FloatArray, threshold: float = 0.5) -> int:
    """Return how many clusters of correlated trials the N columns form: an N for DSR.

    Complete-linkage hierarchical clustering on the distance 1 − ρ (Pearson correlation of the
    per-bar returns), cut at ``threshold``: every pair inside a cluster has ρ >= 1 − threshold.
    Complete linkage never chains loosely related trials into one cluster, so it errs towards
    more trials, the conservative side for DSR; López de Prado & Lewis (2019) cluster trials by
    correlation likewise. Eigenvalue-based counts are non-integer and unstable unless T >> N.
    Trials with constant returns count as uncorrelated with every other.
    """
    matrix = _as_matrix(returns_matrix, min_rows=2, min_cols=1)
    if not 0.0 <= threshold <= 2.0:
        raise ValueError(f"threshold must lie in [0, 2], got {threshold}")
    if matrix.shape[1] == 1:
        return 1
    distance = np.clip(1.0 - _correlation(matrix), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    from scipy.cluster.hierarchy import fcluster, linkage  # ~0.3 s to import: only here
    from scipy.spatial.distance import squareform

    tree = linkage(squareform(distance, checks=False), method="complete")
    return int(np.unique(fcluster(tree, t=threshold, criterion="distance")).size)


def _sr_variance_factor(sr: float, skew: float, kurtosis: float) -> float:
    """Return 1 − γ3·SR + (γ4 − 1)/4·SR²: (n − 1) times the variance of the SR estimate."""
    return 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr


def _psr(excess: float, n_obs: float, factor: float) -> float:
    """Return Φ(excess·√(n − 1)/√factor); factor is 0 only at the edge of possible moments."""
    if factor <= 0.0:
        return 1.0 if excess > 0.0 else 0.0 if excess < 0.0 else 0.5
    return float(ndtr(excess * math.sqrt(n_obs - 1.0) / math.sqrt(factor)))


def _check_moments(sr: float, sr_benchmark: float, skew: float, kurtosis: float) -> None:
    """Refuse non-finite inputs and kurtosis < 1 + skew² (Pearson's bound on every distribution)."""
    values = {"sr": sr, "sr_benchmark": sr_benchmark, "skew": skew, "kurtosis": kurtosis}
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        raise ValueError(f"inputs must be finite, got {bad}")
    if kurtosis < 1.0 + skew * skew - 1e-9:
        raise ValueError(f"kurtosis {kurtosis} < 1 + skew² = {1.0 + skew * skew}: impossible")


def _as_returns(returns: FloatArray, min_obs: int) -> FloatArray:
    """Return ``returns`` as a finite 1-D float array of at least ``min_obs`` values."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < min_obs:
        raise ValueError(f"returns must be 1-D with at least {min_obs} values, got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("returns must be finite")
    return r


def _as_matrix(returns: FloatArray, min_rows: int, min_cols: int) -> FloatArray:
    """Return ``returns`` as a finite T×N float matrix with T >= min_rows and N >= min_cols."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < min_rows or m.shape[1] < min_cols:
        raise ValueError(
            f"returns must be T×N with T >= {min_rows} and N >= {min_cols}, got {m.shape}"
        )
    if not np.isfinite(m).all():
        raise ValueError("returns must be finite")
    return m


def _check_pbo_inputs(returns: FloatArray, n_blocks: int, metric: str) -> FloatArray:
    """Validate the CSCV arguments and return the T×N matrix."""
    if metric not in PBO_METRICS:
        raise ValueError(f"metric must be one of {PBO_METRICS}, got {metric!r}")
    if n_blocks < 2 or n_blocks % 2 or n_blocks > MAX_PBO_BLOCKS:
        raise ValueError(f"n_blocks must be even, in [2, {MAX_PBO_BLOCKS}], got {n_blocks}")
    return _as_matrix(returns, min_rows=n_blocks, min_cols=2)


def _in_sample_masks(n_blocks: int) -> BoolArray:
    """Return a C(S, S/2)×S mask: row c marks the blocks in-sample in combination c."""
    chosen = np.array(list(combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    masks = np.zeros((chosen.shape[0], n_blocks), dtype=np.bool_)
    masks[np.arange(chosen.shape[0])[:, None], chosen] = True
    return masks


def _block_moments(
    matrix: FloatArray, n_blocks: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return per-block row counts, sums and sums of squares of the column-centred matrix.

    Centring each trial on its full-sample mean keeps sum-of-squares variances accurate; the
    means (``offset``) are added back to subset means.
    """
    offset = matrix.mean(axis=0)
    centred = matrix - offset
    size, extra = divmod(matrix.shape[0], n_blocks)  # np.array_split's blocks: longer ones first
    counts = np.array([size + 1] * extra + [size] * (n_blocks - extra), dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.intp)
    sums = np.add.reduceat(centred, starts, axis=0)
    squares = np.add.reduceat(centred * centred, starts, axis=0)
    return counts, sums, squares, offset


def _subset_metric(
    masks: BoolArray,
    counts: FloatArray,
    sums: FloatArray,
    squares: FloatArray,
    offset: FloatArray,
    metric: str,
) -> FloatArray:
    """Return the C×N metric of every trial over the union of the blocks each mask selects."""
    weights = masks.astype(np.float64)
    n = (weights @ counts)[:, None]
    centred_sum = weights @ sums
    mean = centred_sum / n + offset
    if metric == "mean":
        return mean
    variance = (weights @ squares - centred_sum * centred_sum / n) / np.maximum(n - 1.0, 1.0)
    std = np.sqrt(np.maximum(variance, 0.0))
    out = np.zeros_like(mean)
    np.divide(mean, std, out=out, where=std > _STD_FLOOR)
    return out


def _rank_logits(oos_perf: FloatArray, best_oos: FloatArray) -> FloatArray:
    """Return λ = ln(ω̄/(1 − ω̄)), ω̄ = (average rank of best_oos in its row)/(N + 1)."""
    below = np.count_nonzero(oos_perf < best_oos[:, None], axis=1)
    ties = np.count_nonzero(oos_perf == best_oos[:, None], axis=1)  # counts the trial itself
    omega = (below + (ties + 1) / 2.0) / (oos_perf.shape[1] + 1.0)
    return np.asarray(np.log(omega / (1.0 - omega)), dtype=np.float64)


def _ols(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Return (slope, intercept) of y on x; slope 0 when x does not vary."""
    dx = x - x.mean()
    spread = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / spread if spread > 0.0 else 0.0
    return slope, float(y.mean()) - slope * float(x.mean())


def _sharpe(r: FloatArray) -> float:
    """Return mean over sample deviation (ddof 1), 0 without deviation."""
    std = float(r.std(ddof=1))
    return float(r.mean()) / std if std > _STD_FLOOR else 0.0


def _sharpe_row(r: FloatArray) -> FloatArray:
    """Return the Sharpe ratio of one resample as arch's ``apply`` expects it."""
    return np.array([_sharpe(r)])


def _correlation(matrix: FloatArray) -> FloatArray:
    """Return the Pearson correlation of the columns; 0 off the diagonal for constant columns."""
    centred = matrix - matrix.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    live = norms > _STD_FLOOR * math.sqrt(matrix.shape[0])
    scaled = np.where(live, centred / np.where(live, norms, 1.0), 0.0)
    corr = np.clip(scaled.T @ scaled, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return np.asarray(corr, dtype=np.float64)

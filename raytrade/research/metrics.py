"""Performance metrics of a backtest: finite numbers only, whatever the sample.

The gate's sanity tier rejects non-finite metrics, so every ratio here has a stated value where
its denominator vanishes (zero trades, constant prices, one bar):

- ``sharpe`` and ``sortino`` are 0 when the standard deviation (downside deviation) of per-bar
  returns is 0 or there are fewer than 2 bars; both are annualised by ``sqrt(periods_per_year)``.
  Per-bar returns include the bars spent flat (return 0), as a fund's daily returns would.
- ``cagr`` annualises over ``len(returns) / periods_per_year`` years and is clipped to
  ``[-1, CAGR_CAP]``: a few bars of gains extrapolated to a year would overflow.
- ``profit_factor`` is gross wins over gross losses of net trade returns, capped at
  ``PROFIT_FACTOR_CAP`` (also when there are wins and no losses); 0 when there are no wins.
- ``turnover`` is position units traded per bar: ``sum(|position[t] - position[t-1]|) / bars``
  with a flat start, so an entry or an exit counts 1 and a reversal counts 2.
- ``max_drawdown`` is a positive fraction of the running peak of equity (1.0 before bar 0).
- ``exposure`` is the share of bars whose next-bar return is earned in a position.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from raytrade.research.backtest import BacktestResult

FloatArray = npt.NDArray[np.float64]

PROFIT_FACTOR_CAP = 1_000.0
CAGR_CAP = 1e6  # 100,000,000 % a year: anything above is an extrapolation artefact
_STD_FLOOR = 1e-14  # a per-bar standard deviation below this is rounding noise, not risk
_REORDER = {"reassoc", "contract"}  # let sums vectorise; keeps NaN and inf semantics


@dataclass(frozen=True)
class Metrics:
    """The backtest metrics of one run; every field is finite (checked on construction)."""

    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    win_rate: float
    trades: float
    exposure: float
    turnover: float
    profit_factor: float
    bh_total_return: float
    bh_sharpe: float
    bh_max_drawdown: float

    def __post_init__(self) -> None:
        bad = {name: value for name, value in asdict(self).items() if not math.isfinite(value)}
        if bad:
            raise ValueError(f"metrics must be finite, got {bad}")

    def as_dict(self) -> dict[str, float]:
        """Return the metrics by name, in declaration order."""
        return asdict(self)


def compute_metrics(result: BacktestResult, periods_per_year: float) -> Metrics:
    """Measure ``result``; ``periods_per_year`` comes from ``raytrade.core.types``."""
    if not (math.isfinite(periods_per_year) and periods_per_year > 0.0):
        raise ValueError(f"periods_per_year must be positive and finite, got {periods_per_year}")
    net = result.trades["net_return"].to_numpy()
    wins, losses = float(net[net > 0.0].sum()), float(-net[net < 0.0].sum())
    in_position, moves = _position_counts(result.position)
    ratios = _ratios(result.returns, periods_per_year)
    return Metrics(
        total_return=float(result.equity[-1]) - 1.0,
        cagr=cagr(result.equity, periods_per_year),
        sharpe=ratios[0],
        sortino=ratios[1],
        max_drawdown=max_drawdown(result.equity),
        win_rate=float(np.count_nonzero(net > 0.0)) / net.size if net.size else 0.0,
        trades=float(net.size),
        exposure=in_position / result.position.size,
        turnover=moves / result.position.size,
        profit_factor=profit_factor(wins, losses),
        bh_total_return=float(result.bh_equity[-1]) - 1.0,
        bh_sharpe=_ratios(result.bh_returns, periods_per_year)[0],
        bh_max_drawdown=max_drawdown(result.bh_equity),
    )


def sharpe(returns: FloatArray, periods_per_year: float) -> float:
    """Return the annualised Sharpe ratio of per-bar simple returns (risk-free rate 0)."""
    return _ratios(returns, periods_per_year)[0]


def sortino(returns: FloatArray, periods_per_year: float) -> float:
    """Return the annualised Sortino ratio: mean over the root mean square of losses (target 0)."""
    return _ratios(returns, periods_per_year)[1]


def _ratios(returns: FloatArray, periods_per_year: float) -> tuple[float, float]:
    """Return (Sharpe, Sortino), each 0 where its deviation is 0 or there are under 2 bars."""
    if returns.size < 2:
        return 0.0, 0.0
    mean, std, downside = _moments(returns)
    scale = math.sqrt(periods_per_year)
    return (float(mean / std * scale) if std > _STD_FLOOR else 0.0,
            float(mean / downside * scale) if downside > _STD_FLOOR else 0.0)


def max_drawdown(equity: FloatArray) -> float:
    """Return the largest fall from a running peak as a positive fraction (0 to 1)."""
    return float(_max_drawdown(equity))


def cagr(equity: FloatArray, periods_per_year: float) -> float:
    """Return the compound annual growth rate, clipped to ``[-1, CAGR_CAP]``."""
    final = float(equity[-1])
    if final <= 0.0:
        return -1.0
    years = equity.size / periods_per_year
    log_growth = math.log(final) / years
    return CAGR_CAP if log_growth >= math.log1p(CAGR_CAP) else math.expm1(log_growth)


def profit_factor(wins: float, losses: float) -> float:
    """Return gross wins over gross losses, capped at ``PROFIT_FACTOR_CAP``; 0 without wins."""
    if wins <= 0.0:
        return 0.0
    if losses <= 0.0 or wins >= PROFIT_FACTOR_CAP * losses:
        return PROFIT_FACTOR_CAP
    return wins / losses


@njit(cache=True, nogil=True, fastmath=_REORDER)
def _moments(returns):  # type: ignore[no-untyped-def]
    """Return mean, sample standard deviation and downside root mean square (two passes)."""
    n = returns.shape[0]
    total = 0.0
    for i in range(n):  # indexed loops let LLVM vectorise the sums
        total += returns[i]
    mean, squares, downside = total / n, 0.0, 0.0
    for i in range(n):
        deviation, loss = returns[i] - mean, min(returns[i], 0.0)
        squares += deviation * deviation
        downside += loss * loss
    return mean, np.sqrt(squares / (n - 1)), np.sqrt(downside / n)


@njit(cache=True, nogil=True)
def _max_drawdown(equity):  # type: ignore[no-untyped-def]
    """Scan equity once; the starting equity 1.0 is the first peak."""
    peak, trough = 1.0, 1.0  # trough: the lowest equity / peak seen so far
    for i in range(equity.shape[0]):
        peak = max(peak, equity[i])
        if equity[i] < peak * trough:  # rare: divide only when the drawdown deepens
            trough = equity[i] / peak
    return 1.0 - trough


def _position_counts(position: npt.NDArray[np.int8]) -> tuple[float, float]:
    """Return (bars in a position, position units traded) with a flat start."""
    in_position, moves = _scan_positions(position)
    return float(in_position), float(moves)


@njit(cache=True, nogil=True)
def _scan_positions(position):  # type: ignore[no-untyped-def]
    in_position, moves, previous = 0, 0, 0
    for side in position:
        in_position += side != 0
        moves += abs(side - previous)
        previous = side
    return in_position, moves

"""Metrics: hand-computed values on small stub results, and finite numbers in degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from raytrade.core.types import AssetClass, Timeframe, periods_per_year
from raytrade.research.backtest import BacktestResult, backtest
from raytrade.research.metrics import (
    CAGR_CAP,
    PROFIT_FACTOR_CAP,
    Metrics,
    compute_metrics,
    max_drawdown,
    profit_factor,
    sharpe,
    sortino,
)

DAILY_EQUITY = periods_per_year(Timeframe.D1, AssetClass.EQUITY)  # 252


def stub(returns: list[float], position: list[int], net: list[float]) -> BacktestResult:
    """Build a result by hand: equity compounds ``returns``; buy-and-hold is flat."""
    r = np.array(returns, dtype=np.float64)
    trades = pl.DataFrame({"net_return": net}, schema={"net_return": pl.Float64})
    return BacktestResult(returns=r, equity=np.cumprod(1.0 + r),
                          position=np.array(position, dtype=np.int8), trades=trades,
                          bh_returns=np.zeros(r.size), bh_equity=np.ones(r.size))


def test_hand_computed_metrics_of_a_small_result() -> None:
    result = stub([0.0, 0.1, -0.05, 0.02], [1, 1, -1, 0], [0.1, -0.05, 0.02])
    m = compute_metrics(result, DAILY_EQUITY)
    r = np.array([0.0, 0.1, -0.05, 0.02])
    final = 1.1 * 0.95 * 1.02
    assert m.total_return == pytest.approx(final - 1.0)
    assert m.cagr == pytest.approx(final ** (252 / 4) - 1.0)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert m.sortino == pytest.approx(r.mean() / math.sqrt(0.05**2 / 4) * math.sqrt(252))
    assert m.max_drawdown == pytest.approx(0.05)
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.trades == 3.0
    assert m.exposure == pytest.approx(3 / 4)
    assert m.turnover == pytest.approx((1 + 0 + 2 + 1) / 4)  # entry, reversal (2), exit
    assert m.profit_factor == pytest.approx(0.12 / 0.05)


def test_buy_and_hold_metrics_come_from_the_buy_and_hold_series() -> None:
    close = np.array([100.0, 90.0, 120.0, 108.0])
    result = backtest(close, np.zeros(4, dtype=np.int8), holding_period=1, fee_bps=0,
                      slippage_bps=0)
    m = compute_metrics(result, DAILY_EQUITY)
    assert m.bh_total_return == pytest.approx(0.08)
    assert m.bh_max_drawdown == pytest.approx(0.1)
    bh = np.array([0.0, -0.1, 1 / 3, -0.1])
    assert m.bh_sharpe == pytest.approx(bh.mean() / bh.std(ddof=1) * math.sqrt(252))


def test_zero_trades_on_constant_prices_give_finite_zero_metrics() -> None:
    result = backtest(np.full(50, 10.0), np.zeros(50, dtype=np.int8), holding_period=5,
                      fee_bps=10, slippage_bps=2)
    values = compute_metrics(result, DAILY_EQUITY).as_dict()
    assert all(math.isfinite(v) for v in values.values())
    zero = ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades",
            "exposure", "turnover", "profit_factor"]
    assert {k: values[k] for k in zero} == dict.fromkeys(zero, 0.0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_samples_with_a_winning_trade_stay_finite(n: int) -> None:
    close = np.geomspace(1.0, 1000.0, n)
    result = backtest(close, np.ones(n, dtype=np.int8), holding_period=1, fee_bps=0,
                      slippage_bps=0)
    crypto_1m = periods_per_year(Timeframe.M1, AssetClass.CRYPTO)
    m = compute_metrics(result, crypto_1m)
    assert all(math.isfinite(v) for v in m.as_dict().values())
    assert m.cagr == (CAGR_CAP if n > 1 else 0.0)  # x1000 in minutes, annualised


def test_winning_trades_without_losses_report_the_profit_factor_cap() -> None:
    assert profit_factor(0.3, 0.0) == PROFIT_FACTOR_CAP
    assert profit_factor(0.0, 0.0) == 0.0
    assert profit_factor(0.0, 0.2) == 0.0
    assert profit_factor(0.3, 0.1) == pytest.approx(3.0)


def test_ratios_are_zero_when_their_deviation_is_zero() -> None:
    assert sharpe(np.full(10, 0.01), 252.0) == 0.0
    assert sortino(np.full(10, 0.01), 252.0) == 0.0
    assert sharpe(np.array([0.5]), 252.0) == 0.0


def test_drawdown_counts_a_fall_below_the_starting_equity_and_total_ruin() -> None:
    assert max_drawdown(np.array([0.9, 1.2, 0.6, 1.5])) == pytest.approx(0.5)
    assert max_drawdown(np.array([0.99, 0.98])) == pytest.approx(0.02)
    assert max_drawdown(np.array([1.0, 0.0, 0.0])) == 1.0


def test_a_ruined_short_still_gives_finite_metrics() -> None:
    result = backtest(np.array([100.0, 150.0, 250.0, 100.0]), np.array([-1, 0, 0, 0], np.int8),
                      holding_period=3, fee_bps=10, slippage_bps=2, allow_short=True)
    m = compute_metrics(result, DAILY_EQUITY)
    assert (m.total_return, m.cagr, m.max_drawdown, m.win_rate) == (-1.0, -1.0, 1.0, 0.0)
    assert all(math.isfinite(v) for v in m.as_dict().values())


def test_metrics_refuse_non_finite_values_and_bad_periods_per_year() -> None:
    values = dict.fromkeys(Metrics.__dataclass_fields__, 0.0)
    with pytest.raises(ValueError, match="finite"):
        Metrics(**{**values, "sharpe": math.inf})
    result = stub([0.0], [0], [])
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(result, 0.0)

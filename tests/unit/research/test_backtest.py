"""Backtest: hand-computed trades with costs, the timing rules that keep it free of look-ahead,
and properties that hold for any prices and signals."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from raytrade.research.backtest import backtest

FEE, SLIP = 0.001, 0.0005  # 10 and 5 bps as fractions
KEEP_ON_BUY = 1.0 / ((1.0 + SLIP) * (1.0 + FEE))  # equity left after a long entry, marked at close
KEEP_ON_SELL = (1.0 - SLIP) * (1.0 - FEE)  # share of a long position's value left after its exit


def signal(*values: int) -> npt.NDArray[np.int8]:
    return np.array(values, dtype=np.int8)


def prices(*values: float) -> npt.NDArray[np.float64]:
    return np.array(values, dtype=np.float64)


def test_one_long_trade_pays_fee_and_slippage_on_entry_and_exit() -> None:
    result = backtest(prices(100, 100, 110, 121, 121, 121), signal(0, 1, 0, 0, 0, 0),
                      holding_period=2, fee_bps=10, slippage_bps=5)
    final = 1.21 * KEEP_ON_BUY * KEEP_ON_SELL
    expected = [1.0, KEEP_ON_BUY, 1.1 * KEEP_ON_BUY, final, final, final]
    assert result.equity == pytest.approx(expected, rel=1e-12)
    assert result.position.tolist() == [0, 1, 1, 0, 0, 0]
    assert result.returns[1] == pytest.approx(KEEP_ON_BUY - 1.0, rel=1e-12)  # cost only
    assert result.returns[2] == pytest.approx(0.1, rel=1e-12)
    assert result.trades.rows(named=True) == [{
        "entry_index": 1, "exit_index": 3, "side": 1, "gross_return": pytest.approx(0.21),
        "net_return": pytest.approx(final - 1.0, rel=1e-12), "bars_held": 2}]


def test_short_trade_gains_when_price_falls_and_pays_fee_both_ways() -> None:
    result = backtest(prices(100, 100, 90, 80, 80), signal(0, -1, 0, 0, 0),
                      holding_period=2, fee_bps=10, slippage_bps=0, allow_short=True)
    # Short q = 1 / (100 * 1.001) shares; proceeds 100 q less fee; buy back 80 q plus fee.
    cash = 1.0 + 0.999 / 1.001
    assert result.equity[1] == pytest.approx(1.0 / 1.001, rel=1e-12)
    assert result.equity[2] == pytest.approx(cash - 0.9 / 1.001, rel=1e-12)
    assert result.equity[3] == pytest.approx(cash - 0.8, rel=1e-12)
    assert result.position.tolist() == [0, -1, -1, 0, 0]
    (trade,) = result.trades.rows(named=True)
    assert (trade["side"], trade["gross_return"]) == (-1, pytest.approx(0.2))
    assert trade["net_return"] == pytest.approx(cash - 0.8 - 1.0, rel=1e-12)


def test_short_signals_are_ignored_when_long_only() -> None:
    close, sig = prices(100, 90, 80, 85, 95, 100), signal(-1, -1, 0, 1, 0, 0)
    long_only = backtest(close, sig, holding_period=1, fee_bps=0, slippage_bps=0)
    assert long_only.position.tolist() == [0, 0, 0, 1, 0, 0]
    assert long_only.trades["side"].to_list() == [1]
    both = backtest(close, sig, holding_period=1, fee_bps=0, slippage_bps=0, allow_short=True)
    assert both.trades["side"].to_list() == [-1, -1, 1]


def test_a_signal_never_earns_the_return_of_its_own_bar() -> None:
    # The jump into close[1] is known with signal[1]; only the move after it can be earned.
    result = backtest(prices(100, 200, 200, 220), signal(0, 1, 0, 0),
                      holding_period=1, fee_bps=0, slippage_bps=0)
    assert result.returns.tolist() == [0.0, 0.0, 0.0, 0.0]
    later = backtest(prices(100, 200, 200, 220), signal(0, 0, 1, 0),
                     holding_period=1, fee_bps=0, slippage_bps=0)
    assert later.returns[3] == pytest.approx(0.1)
    assert later.returns[:3].tolist() == [0.0, 0.0, 0.0]


def test_trades_hold_exactly_the_holding_period_and_ignore_signals_inside() -> None:
    result = backtest(prices(*range(100, 108)), signal(1, 1, 0, 1, 1, 0, 0, 0),
                      holding_period=2, fee_bps=0, slippage_bps=0)
    assert result.trades.select("entry_index", "exit_index").rows() == [(0, 2), (3, 5)]
    assert result.trades["bars_held"].to_list() == [2, 2]
    assert result.position.tolist() == [1, 1, 0, 1, 1, 0, 0, 0]


def test_same_side_signal_at_the_exit_bar_continues_without_paying_costs() -> None:
    close = prices(100, 110, 121, 133.1, 146.41, 146.41)
    result = backtest(close, signal(1, 0, 1, 0, 0, 0), holding_period=2, fee_bps=10,
                      slippage_bps=5)
    assert result.trades.select("entry_index", "exit_index").rows() == [(0, 2), (2, 4)]
    assert result.position.tolist() == [1, 1, 1, 1, 0, 0]
    # One entry and one exit cost for the whole stretch: no exit at bar 2, no re-entry.
    assert result.equity[-1] == pytest.approx(1.4641 * KEEP_ON_BUY * KEEP_ON_SELL, rel=1e-12)
    first, second = result.trades["net_return"].to_list()
    assert first == pytest.approx(1.21 * KEEP_ON_BUY - 1.0, rel=1e-12)  # entry cost only
    assert second == pytest.approx(1.21 * KEEP_ON_SELL - 1.0, rel=1e-12)  # exit cost only


def test_opposite_signal_at_the_exit_bar_reverses_and_pays_both_costs() -> None:
    result = backtest(prices(100, 110, 121, 121), signal(1, 0, -1, 0), holding_period=2,
                      fee_bps=10, slippage_bps=0, allow_short=True)
    after_exit = 1.21 / 1.001 * 0.999
    assert result.trades["side"].to_list() == [1, -1]
    assert result.position.tolist() == [1, 1, -1, 0]
    assert result.equity[2] == pytest.approx(after_exit / 1.001, rel=1e-12)
    # Flat price: a short round trip keeps 0.999 / 1.001 (fee on the sale and on the buy-back).
    assert result.equity[3] == pytest.approx(after_exit * 0.999 / 1.001, rel=1e-12)


def test_trade_open_at_the_last_bar_is_closed_there_with_costs() -> None:
    result = backtest(prices(100, 100, 100, 100, 120), signal(0, 0, 0, 1, 1),
                      holding_period=10, fee_bps=10, slippage_bps=5)
    assert result.trades.rows() == [(3, 4, 1, pytest.approx(0.2),
                                     pytest.approx(1.2 * KEEP_ON_BUY * KEEP_ON_SELL - 1.0), 1)]
    assert result.position[-1] == 0  # the signal on the last bar opens nothing


def test_buy_and_hold_pays_the_same_entry_cost_and_is_marked_at_each_close() -> None:
    close = prices(100, 90, 120, 150)
    result = backtest(close, signal(0, 0, 0, 0), holding_period=1, fee_bps=10, slippage_bps=5)
    assert result.bh_equity == pytest.approx(close / 100 * KEEP_ON_BUY, rel=1e-12)
    assert result.bh_returns == pytest.approx([KEEP_ON_BUY - 1.0, -0.1, 1 / 3, 0.25], rel=1e-12)
    assert result.equity.tolist() == [1.0] * 4 and result.trades.height == 0


def test_short_that_loses_everything_is_liquidated_and_trading_stops() -> None:
    result = backtest(prices(100, 150, 210, 100, 100), signal(-1, 0, 0, 1, 0),
                      holding_period=3, fee_bps=0, slippage_bps=0, allow_short=True)
    assert result.equity.tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert result.trades.rows() == [(0, 2, -1, pytest.approx(-1.1), -1.0, 2)]
    assert result.position.tolist() == [-1, -1, 0, 0, 0]
    assert np.isfinite(result.returns).all()


def test_results_are_read_only() -> None:
    result = backtest(prices(1, 2), signal(1, 0), holding_period=1, fee_bps=0, slippage_bps=0)
    with pytest.raises(ValueError, match="read-only"):
        result.equity[0] = 2.0


@pytest.mark.parametrize(("close", "sig", "holding", "fee", "message"), [
    ([1.0, 2.0], [1], 1, 0.0, "shape"),
    ([], [], 1, 0.0, "non-empty"),
    ([1.0, 0.0], [0, 0], 1, 0.0, r"close\[1\] = 0.0"),
    ([1.0, math.nan], [0, 0], 1, 0.0, "positive and finite"),
    ([1.0, math.inf], [0, 0], 1, 0.0, "positive and finite"),
    ([1.0, 2.0], [0, 2], 1, 0.0, "-1, 0 and \\+1"),
    ([1.0, 2.0], [0.0, 1.0], 1, 0.0, "integer array"),
    ([1.0, 2.0], [0, 1], 0, 0.0, "at least 1 bar"),
    ([1.0, 2.0], [0, 1], 1, -1.0, "fee_bps"),
    ([1.0, 2.0], [0, 1], 1, math.nan, "fee_bps"),
])
def test_invalid_inputs_are_refused_with_a_clear_message(
    close: list[float], sig: list[float], holding: int, fee: float, message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        backtest(np.array(close), np.array(sig), holding_period=holding, fee_bps=fee,
                 slippage_bps=0)


# Property tests: up to 60 bars with log-price steps of at most 5 %.
steps = arrays(np.float64, st.integers(2, 60), elements=st.floats(-0.05, 0.05))
signs = st.lists(st.sampled_from([-1, 0, 1]), min_size=60, max_size=60)
costs = st.tuples(st.floats(0, 50), st.floats(0, 50))


def _close(log_steps: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(100.0 * np.exp(np.cumsum(log_steps)), dtype=np.float64)


@settings(max_examples=200, deadline=None)
@given(steps, signs, st.integers(1, 8), costs, st.booleans())
def test_equity_compounds_returns_and_trades_chain_to_final_equity(
    log_steps: npt.NDArray[np.float64], sig: list[int], holding: int,
    fee_slip: tuple[float, float], allow_short: bool,
) -> None:
    close = _close(log_steps)
    result = backtest(close, np.array(sig[: close.size], dtype=np.int8), holding_period=holding,
                      fee_bps=fee_slip[0], slippage_bps=fee_slip[1], allow_short=allow_short)
    np.testing.assert_allclose(np.cumprod(1.0 + result.returns), result.equity, rtol=1e-10)
    net = result.trades["net_return"].to_numpy()
    if result.equity[-1] > 0.0:
        assert np.log1p(net).sum() == pytest.approx(math.log(result.equity[-1]), abs=1e-10)
    else:  # a continued short kept its shares through a doubling: liquidated, nothing after
        assert net[-1] == -1.0 and result.trades["exit_index"][-1] == np.argmin(result.equity)
    held = result.trades["bars_held"].to_numpy()
    assert (held >= 1).all() and (held <= holding).all()
    assert int(np.count_nonzero(result.position)) == int(held.sum())


@settings(max_examples=200, deadline=None)
@given(steps, signs, st.integers(1, 8), st.data())
def test_changing_prices_or_signals_after_bar_t_never_changes_results_up_to_t(
    log_steps: npt.NDArray[np.float64], sig: list[int], holding: int, data: st.DataObject,
) -> None:
    close = _close(log_steps)
    n = close.size
    t = data.draw(st.integers(0, n - 2), label="t")
    sides = np.array(sig[:n], dtype=np.int8)
    future_close, future_sides = close.copy(), sides.copy()
    future_close[t + 1:] *= data.draw(st.floats(0.5, 2.0), label="price shock")
    future_sides[t + 1:] = data.draw(st.sampled_from([-1, 0, 1]), label="later signal")
    kwargs = {"holding_period": holding, "fee_bps": 10.0, "slippage_bps": 2.0,
              "allow_short": True}
    base = backtest(close, sides, **kwargs)  # type: ignore[arg-type]
    moved = backtest(future_close, future_sides, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(base.returns[: t + 1], moved.returns[: t + 1])
    np.testing.assert_array_equal(base.position[: t + 1], moved.position[: t + 1])

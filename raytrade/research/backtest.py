"""Backtest one signal on one test segment: fixed holding period, costs on every order.

Semantics (the contract the labels, the metrics and the vectorbt cross-check rely on):

- Time and leakage. Bar t is known at its close. A signal of bar t is filled at ``close[t]``
  (adjusted for slippage), so the position decided at t is held over (t, t+1]: ``returns[t]``
  holds only the costs of orders placed at close t, never the price move into close t (no
  same-bar fills). Nothing at bar t reads a price after ``close[t]``.
- Trades. When flat at bar t and ``signal[t] != 0``, enter at close t and exit at close
  ``t + holding_period``: non-overlapping trades of exactly ``holding_period`` bars, as the
  labels assume. Signals inside a trade are ignored. With ``allow_short=False`` a -1 signal
  counts as 0 (long or flat only).
- Exit bar. At the exit bar the signal of that bar may start the next trade. An opposite
  signal reverses (exit order plus entry order, both pay costs). A signal on the same side
  is *not* a change of position: no order is sent, no cost is paid, the shares are kept and
  the trades table shows a new row that starts at that bar (the first row pays the entry cost,
  the row that finally exits pays the exit cost). This is what a trader does and what
  vectorbt's ``from_signals`` does when an exit and an entry on the same side meet.
- End. A trade still open at the last bar is closed at the last close, paying the exit cost.
  A signal on the last bar opens nothing: no later bar could earn its return.
- Sizing. Every entry invests the whole equity E: ``q = E / (fill * (1 + fee))`` shares, so that
  notional plus fee equals E. A long gains ``q * (close[t] - close[entry])``; a short keeps its
  ``q`` shares (no rebalancing inside a trade), so its return over a trade is linear in price,
  not compounded bar by bar. A short whose equity falls to zero is liquidated at that bar and
  the account stops trading (net trade return -1; equity stays 0).
- Costs. ``fee_bps`` and ``slippage_bps`` are basis points (1 bp = 1e-4) charged on every order:
  slippage moves the fill price against the order (buy at ``close * (1 + slip)``, sell at
  ``close * (1 - slip)``), the fee is ``fee`` times the filled notional. Entering costs about
  ``fee + slip`` of equity and exiting about ``fee + slip`` of the position, exactly as
  vectorbt models ``fees`` and ``slippage``.
- Outputs. ``equity[t]`` is the account value at close t after that bar's orders, starting from
  1.0 before bar 0; ``returns[t] = equity[t] / equity[t-1] - 1`` (simple returns, costs
  included, 0 once equity is 0); ``position[t]`` is the side held over (t, t+1].
  Buy-and-hold enters long at close 0 with the same entry cost and is marked at each close
  (no exit cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

FloatArray = npt.NDArray[np.float64]
SideArray = npt.NDArray[np.int8]

_Array = TypeVar("_Array", FloatArray, SideArray)

BPS = 1e-4  # one basis point as a fraction


@dataclass(frozen=True)
class BacktestResult:
    """Per-bar series (one entry per input bar, arrays read-only) and the trades table.

    ``trades`` has one row per trade (see the module docstring for continued positions):
    ``entry_index``, ``exit_index`` (bar indices into the segment), ``side`` (+1 / -1),
    ``gross_return`` (``side * (close[exit] / close[entry] - 1)``, before costs),
    ``net_return`` (growth of equity over the row, costs included) and ``bars_held``.
    """

    returns: FloatArray
    equity: FloatArray
    position: SideArray
    trades: pl.DataFrame
    bh_returns: FloatArray
    bh_equity: FloatArray


def backtest(
    close: npt.ArrayLike,
    signal: npt.ArrayLike,
    *,
    holding_period: int,
    fee_bps: float,
    slippage_bps: float,
    allow_short: bool = False,
) -> BacktestResult:
    """Simulate fixed-holding trades on ``signal`` over ``close``; see the module docstring."""
    prices, sides = _validated(close, signal, holding_period, fee_bps, slippage_bps)
    fee, slip = fee_bps * BPS, slippage_bps * BPS
    # The kernels allocate their outputs: numba's allocator skips numpy's huge-page advice,
    # which makes first-touch page faults several times slower on our VMs.
    holding = min(holding_period, prices.shape[0])  # longer holds all end at the last bar
    (equity, returns, position), rows, k = _simulate(prices, sides, holding, fee, slip,
                                                     allow_short)
    entry, exit_, side, gross, net = (column[:k] for column in rows)
    trades = pl.DataFrame({
        "entry_index": entry, "exit_index": exit_, "side": side, "gross_return": gross,
        "net_return": net, "bars_held": exit_ - entry,
    })
    bh_returns, bh_equity = _buy_and_hold(prices, 1.0 / ((1.0 + slip) * (1.0 + fee)))
    return BacktestResult(
        returns=_frozen(returns), equity=_frozen(equity), position=_frozen(position),
        trades=trades, bh_returns=_frozen(bh_returns), bh_equity=_frozen(bh_equity))


def _validated(
    close: npt.ArrayLike, signal: npt.ArrayLike, holding_period: int,
    fee_bps: float, slippage_bps: float,
) -> tuple[FloatArray, SideArray]:
    """Return contiguous float64 prices and int8 sides, or raise ValueError naming the input."""
    prices = np.ascontiguousarray(close, dtype=np.float64)
    raw = np.asarray(signal)
    if prices.ndim != 1 or prices.shape[0] == 0:
        raise ValueError(f"close must be a non-empty 1-D array, got shape {prices.shape}")
    if raw.shape != prices.shape:
        raise ValueError(f"signal has shape {raw.shape} but close has shape {prices.shape}")
    if not (prices.min() > 0.0 and np.isfinite(prices.max())):  # min() is NaN if any NaN
        bad = int(np.flatnonzero(~(np.isfinite(prices) & (prices > 0.0)))[0])
        raise ValueError(f"close must be positive and finite: close[{bad}] = {prices[bad]}")
    if raw.dtype != np.bool_ and not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"signal must be an integer array of -1, 0, +1, got dtype {raw.dtype}")
    if raw.dtype != np.bool_ and (raw.min() < -1 or raw.max() > 1):
        raise ValueError("signal must hold only -1, 0 and +1")
    if isinstance(holding_period, bool) or not isinstance(holding_period, int | np.integer):
        raise ValueError(f"holding_period must be an integer, got {holding_period!r}")
    if holding_period < 1:
        raise ValueError(f"holding_period must be at least 1 bar, got {holding_period}")
    for name, bps in (("fee_bps", fee_bps), ("slippage_bps", slippage_bps)):
        if not (np.isfinite(bps) and 0.0 <= bps < 10_000.0):
            raise ValueError(f"{name} must be finite and in [0, 10000) basis points, got {bps}")
    return prices, np.ascontiguousarray(raw, dtype=np.int8)


def _frozen(array: _Array) -> _Array:
    array.setflags(write=False)
    return array


@njit(cache=True, nogil=True)
def _simulate(close, signal, holding, fee, slip, allow_short):  # type: ignore[no-untyped-def]
    """Run the one sequential loop over bars; return per-bar arrays, trade rows, row count.

    Equity and cash are in units of the starting equity (1.0); shares are signed (short < 0).
    Held bars run in ``_hold``'s tight loop, so signals are only read where they can act.
    """
    n, last = close.shape[0], close.shape[0] - 1
    bars = (np.empty(n), np.empty(n), np.empty(n, dtype=np.int8))  # equity, returns, position
    size = n // holding + 2  # every row but a truncated or liquidated last one spans `holding`
    rows = (np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64),
            np.empty(size, dtype=np.int8), np.empty(size), np.empty(size))
    equity = bars[0]
    value, k, t = 1.0, 0, 0
    while t <= last:
        wanted = signal[t]  # known at close t: acting on it at close t is not look-ahead
        if wanted < 0 and not allow_short:
            wanted = 0
        previous = equity[t - 1] if t > 0 else 1.0
        if wanted == 0 or t == last or value <= 0.0:  # flat over (t, t+1]
            _mark(bars, t, value, previous, 0)
            t += 1
            continue
        fill = close[t] * (1.0 + wanted * slip)  # buys fill higher, sells lower
        quantity = value / (fill * (1.0 + fee))  # notional plus fee = equity
        cash = value - wanted * quantity * fill - quantity * fill * fee
        rows[0][k] = t
        _mark(bars, t, cash + wanted * quantity * close[t], previous, wanted)
        t, value, k = _hold(close, signal, holding, fee, slip, bars, rows, k, t, wanted, cash,
                            wanted * quantity, value)
    return bars, rows, k


@njit(cache=True, nogil=True, inline="always")
def _hold(close, signal, holding, fee, slip, bars, rows, k,  # type: ignore[no-untyped-def]
          start, side, cash, shares, row_equity):
    """Hold from the entry bar ``start`` (already marked) through exits and continuations.

    Return the bar where the position ended (its close still to be marked, flat or reversed
    by the caller), the equity after the exit order and the next row number.
    """
    equity, returns, position = bars
    last, row_price = close.shape[0] - 1, close[start]
    while True:
        end = min(start + holding, last)
        previous = equity[start]
        for t in range(start + 1, end + 1):
            value = cash + shares * close[t]
            if value <= 0.0:  # a short lost everything: liquidated here, trading stops
                _record(rows, k, t, side, close[t], row_price, 0.0, row_equity)
                return t, 0.0, k + 1
            equity[t], returns[t], position[t] = value, value / previous - 1.0, side
            previous = value
        _record(rows, k, end, side, close[end], row_price, value, row_equity)
        k += 1
        if signal[end] == side and end < last:  # same side again: keep the shares, no order
            rows[0][k], row_equity, row_price, start = end, value, close[end], end
            continue
        cash = max(_exit_cash(cash, shares, close[end], side, fee, slip), 0.0)
        rows[4][k - 1] = cash / row_equity - 1.0  # net return pays the exit order
        return end, cash, k


@njit(cache=True, nogil=True, inline="always")
def _mark(bars, t, value, previous, side):  # type: ignore[no-untyped-def]
    """Write bar ``t``: equity after its orders, its simple return, the side held after it."""
    equity, returns, position = bars
    equity[t] = value
    returns[t] = value / previous - 1.0 if previous > 0.0 else 0.0
    position[t] = side


@njit(cache=True, nogil=True)
def _buy_and_hold(close, entry_factor):  # type: ignore[no-untyped-def]
    """Return buy-and-hold returns and equity: long from close 0, keeping ``entry_factor``."""
    returns, equity = np.empty(close.shape[0]), np.empty(close.shape[0])
    scale = entry_factor / close[0]
    equity[0] = entry_factor
    returns[0] = entry_factor - 1.0
    for t in range(1, close.shape[0]):
        equity[t] = close[t] * scale
        returns[t] = close[t] / close[t - 1] - 1.0
    return returns, equity


@njit(cache=True, nogil=True, inline="always")
def _exit_cash(cash, shares, price, side, fee, slip):  # type: ignore[no-untyped-def]
    """Return cash after closing ``shares`` at ``price``: sells fill lower, buys back higher."""
    fill = price * (1.0 - side * slip)
    return cash + shares * fill - abs(shares) * fill * fee


@njit(cache=True, nogil=True, inline="always")
def _record(rows, k, t, side, price, row_price, value, row_equity):  # type: ignore[no-untyped-def]
    """Write trade row ``k`` (its entry index is already set) closing at bar ``t``."""
    _, exit_, side_of, gross, net = rows
    exit_[k] = t
    side_of[k] = side
    gross[k] = side * (price / row_price - 1.0)
    net[k] = value / row_equity - 1.0

"""A broker with no venue, for sessions without keys: orders fill at the next bar's open.

Fill rule: an order submitted while bar t is the newest bar of its symbol fills when the broker
is shown a later bar of that symbol (`on_bar`), at that bar's open moved against the order by
the slippage: `open * (1 + slip)` for a buy, `open * (1 - slip)` for a sell. The fee is `fee`
times the filled notional, paid from cash. Costs are charged as the backtest charges them
(`raytrade.research.backtest`: basis points, slippage on the price, fee on the notional); the
backtest fills a signal at close t, this broker at open t+1, which is what a live session can
do. An order by amount buys or sells `notional / fill` units. No buying-power or short check:
the account may go below zero cash or short, as a backtest may. State lives in memory; `submit`
is idempotent by client order id within the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from raytrade.core.types import Side
from raytrade.live.brokers.base import (
    Account,
    BrokerRefusedError,
    OrderRequest,
    OrderState,
    OrderStatus,
    Position,
)

BPS = 1e-4


@dataclass(frozen=True)
class Bar:
    """The prices of one closed bar that the simulated broker needs."""

    symbol: str
    ts: datetime  # open time, UTC
    open: float
    close: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Bar:
        """Build from a canonical bar row (`DataFrame.iter_rows(named=True)`)."""
        return cls(str(row["symbol"]), row["ts"], float(row["open"]), float(row["close"]))


@dataclass
class _Pending:
    request: OrderRequest
    state: OrderState
    after: datetime | None  # newest bar of the symbol when submitted: fill on a later one


class SimulatedBroker:
    """Paper trading against the bars themselves: next open, slippage, fee."""

    name: ClassVar[str] = "simulated"

    def __init__(self, *, cash: float, fee_bps: float = 0.0, slippage_bps: float = 0.0,
                 currency: str = "USD") -> None:
        if cash < 0 or fee_bps < 0 or slippage_bps < 0:
            raise ValueError("cash, fee_bps and slippage_bps must not be negative")
        self.currency = currency
        self.fee = fee_bps * BPS
        self.slip = slippage_bps * BPS
        self._cash = cash
        self._orders: dict[str, _Pending] = {}
        self._holdings: dict[str, tuple[float, float]] = {}  # symbol -> (qty, avg price)
        self._last: dict[str, Bar] = {}

    def __repr__(self) -> str:
        return (f"SimulatedBroker(fee_bps={self.fee / BPS:g}, slippage_bps={self.slip / BPS:g},"
                f" currency={self.currency!r})")

    def on_bar(self, bar: Bar) -> list[OrderState]:
        """Fill the orders of `bar.symbol` that were waiting for a bar after their own, at
        this bar's open; then mark positions at its close. Return the orders filled."""
        if bar.ts.tzinfo is None:
            raise ValueError(f"bar of {bar.symbol} at {bar.ts} is naive; bars are UTC")
        filled = []
        for pending in self._orders.values():
            order = pending.request
            if (order.symbol == bar.symbol and pending.state.is_open
                    and (pending.after is None or bar.ts > pending.after)):
                pending.state = self._fill(order, pending.state, bar)
                filled.append(pending.state)
        self._last[bar.symbol] = bar
        return filled

    def _fill(self, order: OrderRequest, state: OrderState, bar: Bar) -> OrderState:
        buy = order.side is Side.BUY
        price = bar.open * (1.0 + self.slip if buy else 1.0 - self.slip)
        qty = order.qty if order.qty is not None else (order.notional or 0.0) / price
        fee = qty * price * self.fee
        self._cash += (-qty * price if buy else qty * price) - fee
        self._move(order.symbol, qty if buy else -qty, price)
        return state.model_copy(update={"status": OrderStatus.FILLED, "filled_qty": qty,
                                        "avg_price": price, "fee": fee, "updated_at": bar.ts})

    def _move(self, symbol: str, delta: float, price: float) -> None:
        held, avg = self._holdings.get(symbol, (0.0, price))
        new = held + delta
        if abs(new) < 1e-12:
            self._holdings.pop(symbol, None)
            return
        if held == 0 or (held > 0) != (new > 0):  # opened, or crossed zero
            avg = price
        elif (held > 0) == (delta > 0):  # added to the same side
            avg = (abs(held) * avg + abs(delta) * price) / abs(new)
        self._holdings[symbol] = (new, avg)

    def restore(self, order: OrderRequest, state: OrderState, after: datetime) -> None:
        """Take back an order an earlier process placed (the broker's memory died with it):
        what had filled moves cash and holdings as it did; an open order fills on a bar after
        `after`, its decision bar."""
        if order.client_order_id in self._orders:
            raise BrokerRefusedError(self.name, f"order {order.client_order_id} is known "
                                     "already", "restore each order once, before trading")
        if state.filled_qty > 0 and state.avg_price is not None:
            buy = order.side is Side.BUY
            notional = state.filled_qty * state.avg_price
            self._cash += (-notional if buy else notional) - (state.fee or 0.0)
            self._move(order.symbol, state.filled_qty if buy else -state.filled_qty,
                       state.avg_price)
        self._orders[order.client_order_id] = _Pending(order, state, after)

    # -- Broker ------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> OrderState:
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return known.state
        state = OrderState(client_order_id=order.client_order_id, symbol=order.symbol,
                           side=order.side, status=OrderStatus.NEW,
                           broker_order_id=f"sim-{len(self._orders) + 1}", qty=order.qty,
                           notional=order.notional)
        last = self._last.get(order.symbol)
        self._orders[order.client_order_id] = _Pending(order, state,
                                                       None if last is None else last.ts)
        return state

    async def cancel(self, client_order_id: str) -> OrderState:
        pending = self._orders.get(client_order_id)
        if pending is None:
            raise BrokerRefusedError(self.name, f"no order {client_order_id} to cancel",
                                     "check the client order id")
        if pending.state.is_open:
            pending.state = pending.state.model_copy(update={"status": OrderStatus.CANCELED})
        return pending.state

    async def order(self, client_order_id: str) -> OrderState | None:
        pending = self._orders.get(client_order_id)
        return None if pending is None else pending.state

    async def open_orders(self) -> list[OrderState]:
        return [p.state for p in self._orders.values() if p.state.is_open]

    async def positions(self) -> list[Position]:
        return [Position(symbol=symbol, qty=qty, avg_price=avg,
                         market_value=qty * self._mark(symbol, avg))
                for symbol, (qty, avg) in self._holdings.items()]

    async def account(self) -> Account:
        equity = self._cash + sum(qty * self._mark(symbol, avg)
                                  for symbol, (qty, avg) in self._holdings.items())
        return Account(currency=self.currency, cash=self._cash,
                       buying_power=max(self._cash, 0.0), equity=equity)

    async def close(self) -> None:
        return None

    def _mark(self, symbol: str, fallback: float) -> float:
        last = self._last.get(symbol)
        return fallback if last is None else last.close


__all__ = ["Bar", "SimulatedBroker"]

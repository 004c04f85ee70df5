"""The account behind a fake trading venue: balances, market orders, and fills at told prices.

Venue-agnostic. Cash is the balance of a quote asset (USD, USDT); a holding is the balance of
its base asset (AAPL, BTC), signed when shorting is allowed. An order is a market order by
quantity or by quote amount (`notional`). It fills at the instrument's current price, which
the test or session sets with `set_price`; an order for an instrument with no price yet, or one
that a fault delays, stays open and fills at the next price. Commission (`fee_rate`) is taken
from the asset received, as Binance does. Client order ids are unique among all orders
(Alpaca) or among open orders only (Binance spot), as the venue says. Each vendor fake prints
this state in its wire format; tests count orders per client order id with `placed`.
Thread-safe: the server thread and the test thread share one lock (`lock`).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from raytrade.core.clock import Clock
from raytrade.core.types import Side


class Status(StrEnum):
    """An order's state at the venue (each fake spells it its own way)."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Instrument:
    """One tradable book: the vendor's symbol, its base and quote assets, our symbol."""

    symbol: str  # the vendor's id: AAPL, BTCUSDT
    base: str  # the asset bought: AAPL, BTC
    quote: str  # the asset paid: USD, USDT
    canonical: str  # raytrade's symbol: AAPL, BTC-USDT


@dataclass(frozen=True)
class Fill:
    """One execution of an order."""

    trade_id: int
    qty: float
    price: float
    commission: float
    commission_asset: str
    at: datetime


@dataclass
class Order:
    """One order the venue accepted, with its fills so far."""

    seq: int  # 1, 2, ... in order of acceptance
    id: str  # the venue's id (a UUID)
    client_order_id: str
    instrument: Instrument
    side: Side
    qty: float | None  # quantity asked, or None for an order by quote amount
    notional: float | None  # quote amount asked, or None for an order by quantity
    created_at: datetime
    updated_at: datetime
    time_in_force: str = "day"
    status: Status = Status.NEW
    fills: list[Fill] = field(default_factory=list)
    canceled_at: datetime | None = None

    @property
    def filled_qty(self) -> float:
        return sum(f.qty for f in self.fills)

    @property
    def filled_notional(self) -> float:
        """Return the quote amount exchanged so far (before commission)."""
        return sum(f.qty * f.price for f in self.fills)

    @property
    def avg_price(self) -> float | None:
        qty = self.filled_qty
        return self.filled_notional / qty if qty > 0 else None

    @property
    def is_open(self) -> bool:
        return self.status in (Status.NEW, Status.PARTIALLY_FILLED)

    @property
    def filled_at(self) -> datetime | None:
        return self.fills[-1].at if self.status is Status.FILLED and self.fills else None

    def remaining_qty(self, price: float | None) -> float:
        """Return the quantity still to fill (for an order by amount, at `price`; 0 if None)."""
        if self.qty is not None:
            return max(self.qty - self.filled_qty, 0.0)
        if price is None or self.notional is None:
            return 0.0
        return max(self.notional - self.filled_notional, 0.0) / price


class OrderRefusedError(Exception):
    """The venue refuses an order: `duplicate` client order id, no `funds`, or no `qty` held."""

    def __init__(self, kind: Literal["duplicate", "funds", "qty"], asset: str = "",
                 needed: float = 0.0, available: float = 0.0) -> None:
        super().__init__(kind)
        self.kind, self.asset, self.needed, self.available = kind, asset, needed, available


class Ledger:
    """Balances, orders and fills of one account at a fake venue."""

    def __init__(self, balances: Mapping[str, float], *, clock: Clock, fee_rate: float = 0.0,
                 allow_short: bool = False, unique_ids: Literal["all", "open"] = "all",
                 qty_decimals: int = 9, id_seed: int = 0) -> None:
        if not 0.0 <= fee_rate < 0.1:
            raise ValueError("fee_rate is a fraction of the amount received, within [0, 0.1)")
        self.clock = clock
        self.fee_rate = fee_rate
        self.allow_short = allow_short
        self.unique_ids = unique_ids
        self.step = 10.0 ** -qty_decimals  # smallest quantity; less than this is nothing
        self.lock = threading.RLock()
        self._decimals = qty_decimals
        self._balances: dict[str, float] = dict(balances)
        self._avg: dict[str, float] = {}  # average entry price of each held asset
        self._prices: dict[str, float] = {}
        self._orders: list[Order] = []
        self._rng = random.Random(f"ledger/{id_seed}")
        self._trades = 0

    # -- prices and fills ----------------------------------------------------------------

    def set_price(self, symbol: str, price: float) -> list[Fill]:
        """Set the instrument's price and fill its open orders there; return the fills."""
        if not price > 0:
            raise ValueError(f"a price must be positive; got {price} for {symbol}")
        with self.lock:
            self._prices[symbol] = price
            return self.fill_open(symbol)

    def price(self, symbol: str) -> float | None:
        with self.lock:
            return self._prices.get(symbol)

    def fill_open(self, symbol: str | None = None) -> list[Fill]:
        """Fill every open order (of `symbol`, or all) at its instrument's current price."""
        with self.lock:
            fills = []
            for order in self._orders:
                if order.is_open and (symbol is None or order.instrument.symbol == symbol):
                    fills.extend(self.execute(order))
            return fills

    def execute(self, order: Order, share: float = 1.0) -> list[Fill]:
        """Fill `share` of what remains of `order` at the current price (nothing without one)."""
        with self.lock:
            price = self._prices.get(order.instrument.symbol)
            if price is None or not order.is_open:
                return []
            remaining = order.remaining_qty(price)
            qty = self._round_down(remaining * share)
            if qty < self.step:
                if remaining < self.step:  # dust of an order by amount: done
                    order.status = Status.FILLED
                return []
            fill = self._fill(order, qty, price)
            left = order.remaining_qty(price)
            order.status = Status.FILLED if left < self.step else Status.PARTIALLY_FILLED
            return [fill]

    def _fill(self, order: Order, qty: float, price: float) -> Fill:
        inst, now = order.instrument, self.clock.now()
        self._trades += 1
        if order.side is Side.BUY:
            commission, asset = qty * self.fee_rate, inst.base
            self._move(inst.base, qty - commission, price)
            self._balances[inst.quote] = self.balance(inst.quote) - qty * price
        else:
            commission, asset = qty * price * self.fee_rate, inst.quote
            self._move(inst.base, -qty, price)
            self._balances[inst.quote] = self.balance(inst.quote) + qty * price - commission
        fill = Fill(self._trades, qty, price, commission, asset, now)
        order.fills.append(fill)
        order.updated_at = now
        return fill

    def _move(self, asset: str, delta: float, price: float) -> None:
        """Change a holding by `delta` at `price`, keeping its average entry price."""
        held, avg = self.balance(asset), self._avg.get(asset, price)
        new = held + delta
        if abs(new) < self.step:
            self._avg.pop(asset, None)
        elif held == 0 or (held > 0) != (new > 0):  # opened, or crossed zero
            self._avg[asset] = price
        elif (held > 0) == (delta > 0):  # added to the same side
            self._avg[asset] = (abs(held) * avg + abs(delta) * price) / abs(new)
        self._balances[asset] = 0.0 if abs(new) < self.step else new

    def _round_down(self, qty: float) -> float:
        scale = 10.0**self._decimals
        return int(qty * scale + 1e-6) / scale

    # -- orders --------------------------------------------------------------------------

    def place(self, instrument: Instrument, side: Side, *, client_order_id: str,
              qty: float | None = None, notional: float | None = None,
              time_in_force: str = "day") -> Order:
        """Accept a market order (not yet filled: call `execute`) or raise `OrderRefusedError`."""
        if (qty is None) == (notional is None):
            raise ValueError("an order has a quantity or a quote amount, not both or neither")
        with self.lock:
            if any(o.client_order_id == client_order_id
                   and (self.unique_ids == "all" or o.is_open) for o in self._orders):
                raise OrderRefusedError("duplicate")
            self._check_funds(instrument, side, qty, notional)
            now = self.clock.now()
            order = Order(len(self._orders) + 1,
                          str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                          client_order_id, instrument, side, qty, notional, now, now,
                          time_in_force)
            self._orders.append(order)
            return order

    def _check_funds(self, inst: Instrument, side: Side, qty: float | None,
                     notional: float | None) -> None:
        price = self._prices.get(inst.symbol)
        if side is Side.BUY:
            cost = notional if notional is not None else (qty or 0.0) * (price or 0.0)
            free = self.balance(inst.quote) - self.held(inst.quote)
            if cost > free + 1e-9:
                raise OrderRefusedError("funds", inst.quote, cost, free)
            return
        amount = qty if qty is not None else ((notional or 0.0) / price if price else 0.0)
        free = self.balance(inst.base) - self.held(inst.base)
        if not self.allow_short and amount > free + self.step / 2:
            raise OrderRefusedError("qty", inst.base, amount, max(free, 0.0))

    def cancel(self, order: Order) -> bool:
        """Cancel an open order; return False when it had already finished."""
        with self.lock:
            if not order.is_open:
                return False
            order.status = Status.CANCELED
            order.canceled_at = order.updated_at = self.clock.now()
            return True

    def find(self, client_order_id: str) -> Order | None:
        """Return the newest order with this client order id."""
        with self.lock:
            return next((o for o in reversed(self._orders)
                         if o.client_order_id == client_order_id), None)

    def get(self, order_id: str) -> Order | None:
        with self.lock:
            return next((o for o in self._orders if o.id == order_id), None)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Return the orders in order of acceptance (the objects: read them under `lock`)."""
        with self.lock:
            return [o for o in self._orders if o.is_open or not open_only]

    def placed(self, client_order_id: str) -> int:
        """Return how many orders the venue created with this client order id."""
        with self.lock:
            return sum(o.client_order_id == client_order_id for o in self._orders)

    # -- balances ------------------------------------------------------------------------

    def balance(self, asset: str) -> float:
        with self.lock:
            return self._balances.get(asset, 0.0)

    def balances(self) -> dict[str, float]:
        with self.lock:
            return dict(self._balances)

    def avg_price(self, asset: str) -> float | None:
        with self.lock:
            return self._avg.get(asset)

    def held(self, asset: str) -> float:
        """Return the amount of `asset` reserved by open orders (quote for buys, base for
        sells; an order whose amount depends on an unknown price reserves nothing)."""
        with self.lock:
            total = 0.0
            for o in self._orders:
                if not o.is_open:
                    continue
                price = self._prices.get(o.instrument.symbol)
                if o.side is Side.BUY and o.instrument.quote == asset:
                    if o.notional is not None:
                        total += max(o.notional - o.filled_notional, 0.0)
                    else:
                        total += o.remaining_qty(price) * (price or 0.0)
                elif o.side is Side.SELL and o.instrument.base == asset:
                    total += o.remaining_qty(price)
            return total


__all__ = ["Fill", "Instrument", "Ledger", "Order", "OrderRefusedError", "Status"]

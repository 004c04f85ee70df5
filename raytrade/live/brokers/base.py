"""The contract every broker keeps, the values it speaks, and the errors it raises.

A `Broker` places market orders and reports orders, positions and the account, all async.
Symbols are canonical (`AAPL`, `BTC-USDT`); quantities are in units of the base asset, amounts
(`notional`) and prices in the quote currency. `submit` is idempotent by `client_order_id`:
submitting the same request again, after a retry, a timeout or a restart, returns the order
that already exists and never places a second one. A refusal the market explains (not enough
buying power or shares) is an order state, `REJECTED` with a `reason`, not an exception.

Errors follow `raytrade.core.errors`: `BrokerUnavailableError` (transient: the venue did not
answer usefully; `OrderStateUnknownError` when it could not even be told whether an order
exists), `BrokerCredentialsError` and `BrokerRefusedError` (permanent: someone must change a
key, a symbol or a request). No message, repr or exception chain carries a key or a secret.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raytrade.core.errors import PermanentError, TransientError
from raytrade.core.types import Side, is_canonical_symbol

# Valid at every broker: Binance allows ^[.A-Z:/a-z0-9_-]{1,36}$ and Alpaca up to 128
# characters; ':' and '/' are left out because python-binance signs the raw value but sends it
# form-encoded (%3A, %2F), so Binance would see a different string and refuse the signature.
CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
CLIENT_ORDER_ID_PREFIX = "rt-"


class OrderType(StrEnum):
    MARKET = "market"


class OrderStatus(StrEnum):
    """Where an order stands; each broker maps its venue's statuses onto these."""

    NEW = "new"  # accepted, nothing filled yet
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused (funds, shares): it never existed at the venue
    EXPIRED = "expired"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


def client_order_id(session: str, bar_time: datetime, intent: str) -> str:
    """Return the client order id of one intent (e.g. `enter-long`) of one session at one bar.

    Deterministic: the same session, bar instant and intent give the same id in every process
    and after every restart, so a re-sent order is recognised. `rt-` and 32 hex digits of a
    BLAKE2b hash (128 bits): 35 characters from [a-z0-9-], valid at Alpaca and Binance.
    """
    if not session or not intent:
        raise ValueError("client_order_id needs a session name and an intent")
    if bar_time.tzinfo is None or bar_time.utcoffset() is None:
        raise ValueError(f"bar_time {bar_time} is naive; pass a timezone-aware datetime")
    instant = bar_time.astimezone(UTC).isoformat()
    key = "\x1f".join((session, instant, intent)).encode()
    return CLIENT_ORDER_ID_PREFIX + hashlib.blake2b(key, digest_size=16).hexdigest()


class OrderRequest(BaseModel):
    """One market order to place, by quantity or by quote amount."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    client_order_id: str
    """The idempotency key: see `client_order_id()`."""
    symbol: str
    """Canonical symbol: AAPL, BTC-USDT."""
    side: Side
    qty: float | None = Field(default=None, gt=0)
    """Units of the base asset to trade; give this or `notional`."""
    notional: float | None = Field(default=None, gt=0)
    """Quote currency to spend (buy) or receive (sell), before fees; give this or `qty`."""
    type: OrderType = OrderType.MARKET

    @field_validator("client_order_id")
    @classmethod
    def _portable_id(cls, value: str) -> str:
        if not CLIENT_ORDER_ID.match(value):
            raise ValueError(f"client_order_id {value!r} must match {CLIENT_ORDER_ID.pattern} "
                             "(1-36 letters, digits, '.', '_' or '-')")
        return value

    @field_validator("symbol")
    @classmethod
    def _canonical(cls, value: str) -> str:
        if not is_canonical_symbol(value):
            raise ValueError(f"{value!r} is not a canonical symbol (AAPL, BTC-USDT)")
        return value

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        if (self.qty is None) == (self.notional is None):
            raise ValueError("give exactly one of qty and notional")
        amount = self.qty if self.qty is not None else self.notional
        if amount is not None and not math.isfinite(amount):
            raise ValueError("the order amount must be finite")
        return self


class OrderState(BaseModel):
    """What the broker knows of one order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    broker_order_id: str | None = None  # the venue's id; None for a rejection
    qty: float | None = None  # as requested (None for an order by amount)
    notional: float | None = None
    filled_qty: float = 0.0
    avg_price: float | None = None  # volume-weighted fill price; None before any fill
    fee: float | None = None  # in the quote currency; None when the venue did not say
    reason: str | None = None  # why it was rejected
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Return whether more fills may come."""
        return self.status in OPEN_STATUSES

    @property
    def filled_notional(self) -> float:
        return self.filled_qty * (self.avg_price or 0.0)

    @classmethod
    def rejected(cls, order: OrderRequest, reason: str) -> OrderState:
        """Return the state of an order the venue refused to create."""
        return cls(client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
                   status=OrderStatus.REJECTED, qty=order.qty, notional=order.notional,
                   reason=reason)


class Position(BaseModel):
    """A holding: signed quantity (negative when short) of one symbol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    qty: float
    avg_price: float | None = None  # average entry price, where the venue reports it
    market_value: float | None = None  # in the quote currency, where the venue reports it


class Account(BaseModel):
    """Cash and what it can buy, in the account currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str
    cash: float
    buying_power: float
    equity: float | None = None  # cash plus positions at market, where the venue reports it


@runtime_checkable
class Broker(Protocol):
    """A venue that executes orders for one account."""

    name: ClassVar[str]

    async def submit(self, order: OrderRequest) -> OrderState:
        """Place `order` exactly once (idempotent by its client order id); return its state."""
        ...

    async def cancel(self, client_order_id: str) -> OrderState:
        """Cancel an open order; return its state (a finished order is returned unchanged)."""
        ...

    async def order(self, client_order_id: str) -> OrderState | None:
        """Return the order's current state, or None when the venue has no such order."""
        ...

    async def open_orders(self) -> list[OrderState]:
        """Return the orders that may still fill."""
        ...

    async def positions(self) -> list[Position]:
        """Return the non-zero holdings."""
        ...

    async def account(self) -> Account:
        """Return cash, buying power and (where known) equity."""
        ...

    async def close(self) -> None:
        """Release connections; the broker is not used afterwards."""
        ...


class BrokerUnavailableError(TransientError):
    """The venue did not answer usefully (5xx, 429, timeout, unreadable body); try later."""

    def __init__(self, broker: str, detail: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        self.broker, self.detail = broker, detail
        self.status, self.retry_after = status, retry_after
        super().__init__(f"{broker}: {detail}")


class OrderStateUnknownError(BrokerUnavailableError):
    """Whether an order exists could not be found out; submit it again later with the same
    client order id (the broker looks it up before placing it)."""

    def __init__(self, broker: str, client_order_id: str, detail: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(broker, f"cannot tell whether order {client_order_id} was placed "
                         f"({detail}); submit it again later with the same client order id")


class BrokerCredentialsError(PermanentError):
    """The venue refused the key or the signature."""

    def __init__(self, broker: str, detail: str, fix: str) -> None:
        self.broker = broker
        super().__init__(f"{broker} rejected the credentials ({detail}); {fix}")


class BrokerRefusedError(PermanentError):
    """The venue refused a request that repeating will not change (bad symbol, bad order)."""

    def __init__(self, broker: str, detail: str, fix: str) -> None:
        self.broker = broker
        super().__init__(f"{broker} refused the request ({detail}); {fix}")


__all__ = ["CLIENT_ORDER_ID", "OPEN_STATUSES", "Account", "Broker", "BrokerCredentialsError",
           "BrokerRefusedError", "BrokerUnavailableError", "OrderRequest", "OrderState",
           "OrderStateUnknownError", "OrderStatus", "OrderType", "Position", "client_order_id"]

"""Alpaca paper trading through alpaca-py's `TradingClient`.

Pointing the SDK: `TradingClient(key_id, secret_key, paper=True, url_override=base_url)`; with
no `base_url` the SDK's own paper host. Quirks of alpaca-py 0.4x handled here:
- Its `requests.Session` sends every request without a timeout, so a venue that never answers
  blocks for ever; the session is replaced by one with a default timeout (`retry.timeout`).
- It retries 429 and 504 itself, three times with a fixed 3 s sleep, POSTs included, outside
  our control; that is switched off (`_retry = 0`) so every retry goes through the lookup-first
  loop of `idempotent`.
- `APIError.code` and `.message` raise on bodies without those keys (a 429's
  `{"message": ...}`, a load balancer's HTML 502); the body is parsed here instead.
- The SDK is synchronous: each call runs in a worker thread, one at a time (a
  `requests.Session` is not safe to share between threads).
- The answer to a submission says `accepted` with nothing filled; fills show in `order()`.
Idempotency: Alpaca refuses a reused `client_order_id` for ever (422 "client_order_id must be
unique"), so `submit` sends first and looks the order up by client order id after a duplicate
or an uncertain failure. US equities only (crypto symbols are refused).
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import requests
from pydantic import SecretStr

from raytrade.config.settings import Settings
from raytrade.core.types import AssetClass, Side, asset_class_of
from raytrade.live.brokers.base import (
    Account,
    BrokerCredentialsError,
    BrokerRefusedError,
    OrderRequest,
    OrderState,
    OrderStatus,
    Position,
)
from raytrade.live.brokers.idempotent import (
    FailureKind,
    VenueFailure,
    lookup,
    submit_exactly_once,
    with_retries,
)
from raytrade.sources.http import retry_after_seconds
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RetryPolicy

with warnings.catch_warnings():  # alpaca.trading imports websockets.legacy (its stream)
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.models import Order, TradeAccount
    from alpaca.trading.models import Position as AlpacaPosition
    from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest

T = TypeVar("T")
CREDENTIALS = "RAYTRADE_ALPACA_KEY_ID and RAYTRADE_ALPACA_SECRET_KEY"
STATUSES: dict[str, OrderStatus] = {
    "new": OrderStatus.NEW, "accepted": OrderStatus.NEW, "pending_new": OrderStatus.NEW,
    "accepted_for_bidding": OrderStatus.NEW, "held": OrderStatus.NEW,
    "calculated": OrderStatus.NEW, "pending_review": OrderStatus.NEW,
    "pending_cancel": OrderStatus.NEW, "pending_replace": OrderStatus.NEW,
    "stopped": OrderStatus.NEW, "suspended": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED, "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED, "replaced": OrderStatus.CANCELED,
    "done_for_day": OrderStatus.EXPIRED, "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED}
DUPLICATE_MESSAGE = "client_order_id must be unique"
BODY_EXCERPT = 200


class _TimeoutSession(requests.Session):
    """A requests session whose requests time out unless told otherwise."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


class AlpacaBroker:
    """Orders, positions and account of one Alpaca (paper) account."""

    name: ClassVar[str] = "alpaca"

    def __init__(self, key_id: SecretStr, secret_key: SecretStr, *,
                 base_url: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.base_url = base_url
        self.retry = retry or RetryPolicy(timeout=10.0)
        self._redact = Redactor([key_id, secret_key])
        client = TradingClient(key_id.get_secret_value(), secret_key.get_secret_value(),
                               paper=True, url_override=base_url)
        client._retry = 0  # see the module docstring
        client._session = _TimeoutSession(self.retry.timeout)
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, base_url: str | None = None,
                      retry: RetryPolicy | None = None) -> AlpacaBroker:
        """Build the broker from RAYTRADE_ALPACA_KEY_ID and RAYTRADE_ALPACA_SECRET_KEY."""
        if settings.alpaca_key_id is None or settings.alpaca_secret_key is None:
            raise BrokerCredentialsError("alpaca", "no key configured",
                                         f"set {CREDENTIALS} (paper keys), or trade with the "
                                         "simulated broker")
        return cls(settings.alpaca_key_id, settings.alpaca_secret_key, base_url=base_url,
                   retry=retry)

    def __repr__(self) -> str:
        return f"AlpacaBroker(base_url={self.base_url!r})"

    # -- Broker ------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> OrderState:
        if asset_class_of(order.symbol) is not AssetClass.EQUITY:
            raise BrokerRefusedError(self.name, f"{order.symbol} is not a US equity",
                                     "trade crypto through the binance broker")
        request = MarketOrderRequest(
            symbol=order.symbol, qty=order.qty, notional=order.notional,
            side=OrderSide.BUY if order.side is Side.BUY else OrderSide.SELL,
            time_in_force=TimeInForce.DAY, client_order_id=order.client_order_id)

        async def place(_: OrderRequest) -> OrderState:
            placed = await self._call(lambda: self._client.submit_order(request), submit=True)
            return _state(_order(placed))

        return await submit_exactly_once(order, place=place, find=self._find,
                                         policy=self.retry, broker=self.name,
                                         credentials=CREDENTIALS, look_first=False)

    async def order(self, client_order_id: str) -> OrderState | None:
        return await lookup(self._find, client_order_id, policy=self.retry, broker=self.name,
                            credentials=CREDENTIALS)

    async def cancel(self, client_order_id: str) -> OrderState:
        state = await self.order(client_order_id)
        if state is None:
            raise BrokerRefusedError(self.name, f"no order {client_order_id} to cancel",
                                     "check the client order id")
        if not state.is_open or state.broker_order_id is None:
            return state
        order_id = state.broker_order_id

        async def cancel() -> None:
            try:
                await self._call(lambda: self._client.cancel_order_by_id(order_id))
            except VenueFailure as exc:  # 422: it finished meanwhile; report what it is
                if exc.kind is not FailureKind.REFUSED or exc.status != 422:
                    raise

        await self._retrying(cancel, f"cancelling order {client_order_id}")
        return await self.order(client_order_id) or state

    async def open_orders(self) -> list[OrderState]:
        filters = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        found = await self._retrying(
            lambda: self._call(lambda: self._client.get_orders(filters)), "listing open orders")
        return [_state(_order(o)) for o in found]

    async def positions(self) -> list[Position]:
        found = await self._retrying(
            lambda: self._call(self._client.get_all_positions), "reading positions")
        return [_position(p) for p in found if isinstance(p, AlpacaPosition)]

    async def account(self) -> Account:
        found = await self._retrying(
            lambda: self._call(self._client.get_account), "reading the account")
        if not isinstance(found, TradeAccount):
            raise BrokerRefusedError(self.name, "the account answer is raw data",
                                     "construct the client without raw_data")
        return Account(currency=found.currency or "USD", cash=float(found.cash or 0),
                       buying_power=float(found.buying_power or 0),
                       equity=None if found.equity is None else float(found.equity))

    async def close(self) -> None:
        await asyncio.to_thread(self._client._session.close)

    # -- plumbing ----------------------------------------------------------------------------

    async def _find(self, client_order_id: str) -> OrderState | None:
        try:
            found = await self._call(lambda: self._client.get_order_by_client_id(client_order_id))
        except VenueFailure as exc:
            if exc.kind is FailureKind.NOT_FOUND:
                return None
            raise
        return _state(_order(found))

    async def _retrying(self, call: Callable[[], Any], what: str) -> Any:
        return await with_retries(call, policy=self.retry, broker=self.name, what=what,
                                  credentials=CREDENTIALS)

    async def _call(self, call: Callable[[], T], *, submit: bool = False) -> T:
        """Run one SDK call in a worker thread; raise a classified `VenueFailure` (outside
        any except block, so no SDK object with request headers is chained to it)."""
        def run() -> T:
            with self._lock:
                return call()
        try:
            return await asyncio.to_thread(run)
        except APIError as exc:
            failure = self._classify(exc, submit=submit)
        except requests.Timeout:
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"no answer within {self.retry.timeout:g} s")
        except requests.RequestException as exc:
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"connection failed ({type(exc).__name__})")
        except ValueError as exc:  # an unreadable body (pydantic errors are ValueErrors too)
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"unreadable answer ({type(exc).__name__})")
        raise failure

    def _classify(self, exc: APIError, *, submit: bool) -> VenueFailure:
        status = int(exc.status_code or 0)
        code, message = _error_body(str(exc))
        detail = self._redact(f"HTTP {status}" + (f", code {code}" if code else "")
                              + f": {message[:BODY_EXCERPT]}")
        response = exc.response
        headers = response.headers if response is not None else {}
        if status == 429 or status >= 500:
            return VenueFailure(FailureKind.UNAVAILABLE, detail, status=status,
                                retry_after=retry_after_seconds(headers.get("Retry-After")))
        kind = {401: FailureKind.CREDENTIALS, 404: FailureKind.NOT_FOUND}.get(
            status, FailureKind.REFUSED)
        if status == 403 and submit:
            kind, detail = FailureKind.REJECTED, message[:BODY_EXCERPT]
        elif status == 422 and DUPLICATE_MESSAGE in message:
            kind = FailureKind.DUPLICATE
        return VenueFailure(kind, detail, status=status)


def _error_body(text: str) -> tuple[int | None, str]:
    """Return (code, message) of an Alpaca error body, whatever shape it has."""
    try:
        body = json.loads(text)
    except ValueError:
        if text.lstrip().startswith("<"):
            return None, "an HTML page instead of JSON"
        return None, " ".join(text.split()) or "(empty body)"
    if not isinstance(body, dict):
        return None, str(body)
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message", body))


def _order(found: object) -> Order:
    if not isinstance(found, Order):
        raise VenueFailure(FailureKind.UNAVAILABLE, "the order answer is not an order")
    return found


def _state(order: Order) -> OrderState:
    filled = float(order.filled_qty or 0)
    status = STATUSES.get(str(order.status.value), OrderStatus.NEW)
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    avg = float(order.filled_avg_price) if order.filled_avg_price and filled > 0 else None
    return OrderState(
        client_order_id=order.client_order_id, symbol=str(order.symbol),
        side=Side.SELL if order.side is OrderSide.SELL else Side.BUY, status=status,
        broker_order_id=str(order.id), qty=None if order.qty is None else float(order.qty),
        notional=None if order.notional is None else float(order.notional),
        filled_qty=filled, avg_price=avg, updated_at=order.updated_at)


def _position(found: AlpacaPosition) -> Position:
    qty = abs(float(found.qty))
    short = str(found.side.value) == "short"
    return Position(symbol=found.symbol, qty=-qty if short else qty,
                    avg_price=float(found.avg_entry_price),
                    market_value=None if found.market_value is None
                    else float(found.market_value))


__all__ = ["AlpacaBroker"]

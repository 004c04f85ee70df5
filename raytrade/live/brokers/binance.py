"""Binance spot (testnet by default) through python-binance's `AsyncClient`, signed requests.

Pointing the SDK: the client is built inside the running event loop on first use, directly
(never `AsyncClient.create`, which pings the default host first), and its `API_URL` is set to
`{base_url}/api` before any request. Quirks of python-binance 1.0.x handled here:
- It signs `symbol` URL-quoted and every other value raw, then sends POST and DELETE
  parameters form-encoded: a value with ':' or '/' would reach Binance as %3A or %2F and fail
  the signature (-1022). Client order ids are limited to [A-Za-z0-9._-] for that reason.
- It sends `str(value)` for numbers, so 0.00001 would go as `1e-05`, which Binance refuses
  (-1100); quantities are sent as decimal strings rounded down to 8 places.
- Its timestamps are the local clock plus `timestamp_offset`; the offset is synced from
  `GET /api/v3/time` before the first signed request and again after a -1021 (the request is
  then sent once more: a -1021 order was never placed).
- It never retries; 5xx (-1007 "execution status unknown") and timeouts go through the
  lookup-first loop of `idempotent`.
Idempotency: Binance spot refuses a reused `newClientOrderId` only while the first order is
open (-2010 "Duplicate order sent."); a filled one can be reused. So `submit` always looks the
order up (`GET /api/v3/order?origClientOrderId=`) before sending it. A lookup needs the symbol:
orders this broker placed are remembered; otherwise every symbol in `symbols` is asked. The
key and the secret never appear in a message, a log line or a repr.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from raytrade.config.settings import Settings
from raytrade.core.types import Side
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

with warnings.catch_warnings():  # python-binance imports websockets.legacy at import time
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance import AsyncClient  # type: ignore[import-untyped]
    from binance.exceptions import (  # type: ignore[import-untyped]
        BinanceAPIException,
        BinanceRequestException,
    )

TESTNET_URL = "https://testnet.binance.vision"
CREDENTIALS = "RAYTRADE_BINANCE_API_KEY and RAYTRADE_BINANCE_API_SECRET"
STEP = Decimal("0.00000001")
STATUSES = {"NEW": OrderStatus.NEW, "PENDING_NEW": OrderStatus.NEW,
            "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED, "FILLED": OrderStatus.FILLED,
            "CANCELED": OrderStatus.CANCELED, "PENDING_CANCEL": OrderStatus.NEW,
            "REJECTED": OrderStatus.REJECTED, "EXPIRED": OrderStatus.EXPIRED,
            "EXPIRED_IN_MATCH": OrderStatus.EXPIRED}
BAD_CREDENTIALS = frozenset({-1022, -2014, -2015})
NOT_FOUND = frozenset({-2011, -2013})  # cancel: unknown order; query: order does not exist


class BinanceBroker:
    """Spot orders, balances and account of one Binance (testnet) account."""

    name: ClassVar[str] = "binance"

    def __init__(self, api_key: SecretStr, api_secret: SecretStr, *,
                 base_url: str = TESTNET_URL, quote: str = "USDT",
                 symbols: Sequence[str] = (), retry: RetryPolicy | None = None,
                 recv_window: int = 5000) -> None:
        """`quote` is the account currency; `symbols` (canonical, BTC-USDT) are where
        `order()` looks for an order this broker did not place in this process."""
        self.base_url = base_url.rstrip("/")
        self.quote = quote
        self.symbols = tuple(symbols)
        self.retry = retry or RetryPolicy(timeout=10.0)
        self.recv_window = recv_window
        self._key, self._secret = api_key, api_secret
        self._redact = Redactor([api_key, api_secret])
        self._sdk: AsyncClient | None = None
        self._synced = False
        self._symbol_of: dict[str, str] = {}  # client order id -> canonical symbol

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> BinanceBroker:
        """Build the broker from RAYTRADE_BINANCE_API_KEY and RAYTRADE_BINANCE_API_SECRET."""
        if settings.binance_api_key is None or settings.binance_api_secret is None:
            raise BrokerCredentialsError("binance", "no key configured",
                                         f"set {CREDENTIALS}, or trade with the simulated "
                                         "broker")
        return cls(settings.binance_api_key, settings.binance_api_secret, **kwargs)

    def __repr__(self) -> str:
        return f"BinanceBroker(base_url={self.base_url!r}, quote={self.quote!r})"

    # -- Broker ------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> OrderState:
        self._symbol_of[order.client_order_id] = order.symbol
        params = {"symbol": _market(order.symbol), "side": order.side.value.upper(),
                  "type": "MARKET", "newClientOrderId": order.client_order_id,
                  "newOrderRespType": "FULL"}
        if order.qty is not None:
            params["quantity"] = self._decimal(order.qty, "quantity")
        else:
            params["quoteOrderQty"] = self._decimal(order.notional or 0.0, "amount")

        async def place(_: OrderRequest) -> OrderState:
            return _state(await self._signed(lambda c: c.create_order(**params)), order.symbol)

        return await submit_exactly_once(order, place=place, find=self._find,
                                         policy=self.retry, broker=self.name,
                                         credentials=CREDENTIALS, look_first=True)

    async def order(self, client_order_id: str) -> OrderState | None:
        return await lookup(self._find, client_order_id, policy=self.retry, broker=self.name,
                            credentials=CREDENTIALS)

    async def cancel(self, client_order_id: str) -> OrderState:
        state = await self.order(client_order_id)
        if state is None:
            raise BrokerRefusedError(self.name, f"no order {client_order_id} to cancel",
                                     "check the client order id")
        if not state.is_open:
            return state

        async def cancel() -> None:
            try:
                await self._signed(lambda c: c.cancel_order(
                    symbol=_market(state.symbol), origClientOrderId=client_order_id))
            except VenueFailure as exc:  # -2011: it finished meanwhile; report what it is
                if exc.kind is not FailureKind.NOT_FOUND:
                    raise

        await self._retrying(cancel, f"cancelling order {client_order_id}")
        return await self.order(client_order_id) or state

    async def open_orders(self) -> list[OrderState]:
        found = await self._retrying(lambda: self._signed(lambda c: c.get_open_orders()),
                                     "listing open orders")
        return [_state(o, _canonical(str(o["symbol"]), self.quote)) for o in found]

    async def positions(self) -> list[Position]:
        return [Position(symbol=f"{asset}-{self.quote}", qty=total)
                for asset, (total, _) in (await self._balances()).items()
                if asset != self.quote and total != 0]

    async def account(self) -> Account:
        total, free = (await self._balances()).get(self.quote, (0.0, 0.0))
        return Account(currency=self.quote, cash=total, buying_power=free)

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close_connection()
            self._sdk = None

    # -- plumbing ----------------------------------------------------------------------------

    async def _balances(self) -> dict[str, tuple[float, float]]:
        """Return asset -> (free + locked, free)."""
        found = await self._retrying(
            lambda: self._signed(lambda c: c.get_account(omitZeroBalances="true")),
            "reading the account")
        return {str(b["asset"]): (float(b["free"]) + float(b["locked"]), float(b["free"]))
                for b in found.get("balances", [])}

    async def _find(self, client_order_id: str) -> OrderState | None:
        known = self._symbol_of.get(client_order_id)
        candidates = [known] if known else list(self.symbols)
        if not candidates:
            raise VenueFailure(FailureKind.REFUSED, f"order {client_order_id} was not placed "
                               "by this broker and no `symbols` were given to search")
        for symbol in candidates:
            try:
                found = await self._signed(_order_query(symbol, client_order_id))
            except VenueFailure as exc:
                if exc.kind is FailureKind.NOT_FOUND:
                    continue
                raise
            return _state(found, symbol)
        return None

    async def _retrying(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        return await with_retries(call, policy=self.retry, broker=self.name, what=what,
                                  credentials=CREDENTIALS)

    def _client(self) -> AsyncClient:
        if self._sdk is None:  # here, inside the event loop that will use its session
            timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
            client = AsyncClient(self._key.get_secret_value(), self._secret.get_secret_value(),
                                 requests_params={"timeout": timeout})
            client.API_URL = f"{self.base_url}/api"  # before any request: see the docstring
            client.REQUEST_RECVWINDOW = self.recv_window
            self._sdk = client
        return self._sdk

    async def _signed(self, make: Callable[[AsyncClient], Awaitable[Any]]) -> Any:
        """Send one signed request, syncing the clock offset first and after a -1021."""
        client = self._client()
        if not self._synced:
            await self._sync_clock(client)
        try:
            return await self._once(make(client))
        except VenueFailure as exc:
            if exc.kind is not FailureKind.CLOCK:
                raise
        await self._sync_clock(client)
        return await self._once(make(client))

    async def _sync_clock(self, client: AsyncClient) -> None:
        # python-binance stamps requests with the local clock plus this offset, so it is
        # measured against that same clock (not an injected one).
        server = await self._retrying(lambda: self._once(client.get_server_time()),
                                      "reading the server time")
        client.timestamp_offset = int(server["serverTime"]) - int(time.time() * 1000)
        self._synced = True

    async def _once(self, pending: Awaitable[Any]) -> Any:
        """Await one SDK request; raise a classified `VenueFailure` outside any except block,
        so nothing the SDK holds (request, headers) is chained to it."""
        try:
            return await pending
        except BinanceAPIException as exc:
            failure = self._classify(int(exc.status_code), int(exc.code or 0), str(exc.message),
                                     getattr(exc.response, "headers", None) or {})
        except BinanceRequestException:
            failure = VenueFailure(FailureKind.UNAVAILABLE, "unreadable answer")
        except (TimeoutError, aiohttp.ServerTimeoutError):
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"no answer within {self.retry.timeout:g} s")
        except aiohttp.ClientError as exc:
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"connection failed ({type(exc).__name__})")
        except ValueError as exc:
            failure = VenueFailure(FailureKind.UNAVAILABLE,
                                   f"unreadable answer ({type(exc).__name__})")
        raise failure

    def _classify(self, status: int, code: int, message: str, headers: Any) -> VenueFailure:
        said = f"code {code}: {message}" if code else "no JSON error body"
        detail = self._redact(f"HTTP {status}, {said}")[:240]
        if status in (418, 429) or status >= 500:
            return VenueFailure(FailureKind.UNAVAILABLE, detail, status=status,
                                retry_after=retry_after_seconds(headers.get("Retry-After")))
        if code == -1021:
            return VenueFailure(FailureKind.CLOCK, detail, status=status)
        if status == 401 or code in BAD_CREDENTIALS:
            return VenueFailure(FailureKind.CREDENTIALS, detail, status=status)
        if code in NOT_FOUND:
            return VenueFailure(FailureKind.NOT_FOUND, detail, status=status)
        if code == -2010:
            kind = FailureKind.DUPLICATE if "Duplicate order" in message else FailureKind.REJECTED
            return VenueFailure(kind, message if kind is FailureKind.REJECTED else detail,
                                status=status)
        return VenueFailure(FailureKind.REFUSED, detail, status=status)

    def _decimal(self, value: float, what: str) -> str:
        text = Decimal(repr(value)).quantize(STEP, rounding=ROUND_DOWN)
        if text <= 0:
            raise BrokerRefusedError(self.name, f"{what} {value!r} rounds to 0 at 8 decimals",
                                     "order at least 0.00000001")
        return format(text, "f")


def _order_query(symbol: str, client_order_id: str
                 ) -> Callable[[AsyncClient], Awaitable[Any]]:
    return lambda c: c.get_order(symbol=_market(symbol), origClientOrderId=client_order_id)


def _market(symbol: str) -> str:
    return symbol.replace("-", "")


def _canonical(market: str, quote: str) -> str:
    """Return BTC-USDT for BTCUSDT when the account's quote asset ends it."""
    if market.endswith(quote) and len(market) > len(quote):
        return f"{market[: -len(quote)]}-{quote}"
    return market


def _state(raw: dict[str, Any], symbol: str) -> OrderState:
    executed = float(raw.get("executedQty", 0))
    spent = float(raw.get("cummulativeQuoteQty", 0))
    quote_qty = float(raw.get("origQuoteOrderQty", 0))
    base, quote = symbol.split("-")
    fee: float | None = None
    if "fills" in raw:
        costs = [float(f["commission"]) * (float(f["price"]) if f["commissionAsset"] == base
                                           else 1.0)
                 for f in raw["fills"] if f["commissionAsset"] in (base, quote)]
        fee = sum(costs) if len(costs) == len(raw["fills"]) else None
    stamp = raw.get("updateTime") or raw.get("transactTime")
    return OrderState(
        client_order_id=str(raw.get("origClientOrderId") or raw["clientOrderId"]),
        symbol=symbol, side=Side.SELL if raw.get("side") == "SELL" else Side.BUY,
        status=STATUSES.get(str(raw.get("status")), OrderStatus.NEW),
        broker_order_id=str(raw["orderId"]),
        qty=None if quote_qty > 0 else float(raw.get("origQty", 0)),
        notional=quote_qty if quote_qty > 0 else None, filled_qty=executed,
        avg_price=spent / executed if executed > 0 else None, fee=fee,
        updated_at=None if stamp is None else datetime.fromtimestamp(int(stamp) / 1000, UTC))


__all__ = ["TESTNET_URL", "BinanceBroker"]

"""Fake Binance spot (testnet-style) signed trading endpoints, as python-binance calls them.

Point the SDK at it as the market-data fake: `AsyncClient(key, secret)` constructed directly
(not `create`, which pings), then `client.API_URL = venue.api_url`. Served: `GET /api/v3/ping`,
`GET /api/v3/time`, and signed (see `binance_signed`): `POST|GET|DELETE /api/v3/order`,
`GET /api/v3/openOrders`, `GET /api/v3/account` (api_contracts.md 4.4-4.5).

Orders: MARKET only, by `quantity` or `quoteOrderQty` (decimal strings: `1e-05` is refused with
-1100, as Binance does), filled at the price the test set (`set_price`) and answered FULL by
default (`newOrderRespType` ACK/RESULT/FULL), fills included; without a price, or under a
delayed-fill fault, the order stays NEW and fills at the next price. `newClientOrderId` must
match `^[\\.A-Z\\:/a-z0-9_-]{1,36}$` and is unique **among open orders only**: a repeat of an
open one is 400 -2010 `Duplicate order sent.`, but a repeat of a filled one is a new order, as
on Binance spot. That is why a client must look an order up before sending it again. A buy
beyond the free quote balance, or a sell beyond the free base balance, is 400 -2010 `Account
has insufficient balance for requested action.` `GET /api/v3/order` by `origClientOrderId`
returns the newest order with that id, or 400 -2013 `Order does not exist.`; cancelling a
finished order is 400 -2011 `Unknown order sent.` Commission (`fee_bps`) is taken from the
asset received. 5xx replies: 503 -1007 (execution status unknown), 500 -1000, 502 HTML.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Side, Timeframe, asset_class_of
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.binance_signed import check_key, error, illegal, mandatory, verified_params
from raytrade.venues.faults import FaultKind, FaultPlan
from raytrade.venues.ledger import Instrument, Ledger, Order, OrderRefusedError, Status
from raytrade.venues.markets import to_ms
from raytrade.venues.order_faults import OrderFaultPlan, OrderFaultRecord
from raytrade.venues.order_intake import OrderIntake
from raytrade.venues.server import Call, Endpoint, Reply, VendorError, Venue, bad_gateway

CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
STATUS = {Status.NEW: "NEW", Status.PARTIALLY_FILLED: "PARTIALLY_FILLED",
          Status.FILLED: "FILLED", Status.CANCELED: "CANCELED"}
ORDER_ID_BASE = 1_000_000
WEIGHTS = {"ping": 1, "time": 1, "new_order": 1, "order": 4, "cancel_order": 1,
           "open_orders": 6, "account": 20}


class BinanceTradingVenue(Venue):
    """Fake Binance spot account with signed order endpoints; tests set prices."""

    name: ClassVar[str] = "binance"
    kinds: ClassVar[frozenset[FaultKind]] = frozenset({
        FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.SLOW, FaultKind.TIMEOUT})

    def __init__(self, *, api_key: str = "fakeBinanceKey", api_secret: str = "fakeBinanceSecret",
                 balances: Mapping[str, float] | None = None,
                 symbols: Sequence[str] = ("BTC-USDT", "ETH-USDT"), fee_bps: float = 0.0,
                 order_faults: OrderFaultPlan | None = None, faults: FaultPlan | None = None,
                 clock: Clock | None = None, id_seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(faults=faults, clock=clock, spec=SimulatorSpec(), host=host, port=port)
        self.api_key = api_key
        self._secret = api_secret
        self.instruments = {i.symbol: i for i in map(_instrument, symbols)}
        self.ledger = Ledger(dict(balances or {"USDT": 100_000.0}), clock=self.clock,
                             fee_rate=fee_bps / 10_000, unique_ids="open", qty_decimals=8,
                             id_seed=id_seed)
        self.intake = OrderIntake(order_faults or OrderFaultPlan(), self.ledger, self.clock,
                                  record=self.record, hold=self._pause, fill_first=True)
        self._weights: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"BinanceTradingVenue(api_key={self.api_key!r}, base_url={self._base_url!r})"

    @property
    def api_url(self) -> str:
        """Return python-binance's API_URL for this server (requests go to API_URL/v3/...)."""
        return f"{self.base_url}/api"

    # -- what tests and sessions drive and read ----------------------------------------------

    def set_price(self, symbol: str, price: float) -> None:
        """Set the last price of `symbol` (BTC-USDT or BTCUSDT); its open orders fill there."""
        self.ledger.set_price(self._served(symbol.replace("-", "")).symbol, price)

    def placed(self, client_order_id: str) -> int:
        """Return how many orders the venue created with `client_order_id`."""
        return self.ledger.placed(client_order_id)

    def order_faults(self) -> list[OrderFaultRecord]:
        return self.intake.records()

    # -- Venue -------------------------------------------------------------------------------

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("ping", "GET", "/api/v3/ping", self._ping),
                Endpoint("time", "GET", "/api/v3/time", self._time),
                Endpoint("new_order", "POST", "/api/v3/order", self._new_order),
                Endpoint("order", "GET", "/api/v3/order", self._order),
                Endpoint("cancel_order", "DELETE", "/api/v3/order", self._cancel),
                Endpoint("open_orders", "GET", "/api/v3/openOrders", self._open_orders),
                Endpoint("account", "GET", "/api/v3/account", self._account)]

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 502:
            return bad_gateway()
        if status == 429:
            return error(429, -1003, "Too much request weight used; current limit is 6000 "
                         "request weight per 1 MINUTE. Please use WebSocket Streams for live "
                         "updates to avoid polling the API.")
        if status == 503:
            return error(503, -1007, "Timeout waiting for response from backend server. Send "
                         "status unknown; execution status unknown.")
        return error(status, -1000, "An unknown error occurred while processing the request.")

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        raise InputError("the Binance trading fake serves no bars; use BinanceVenue")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        minute = int(time.monotonic() // 60)
        self._weights = {minute: self._weights.get(minute, 0) + WEIGHTS[call.endpoint]}
        return None

    def decorate(self, call: Call, headers: dict[str, str]) -> None:
        headers["X-MBX-USED-WEIGHT-1M"] = str(sum(self._weights.values()))

    # -- handlers ----------------------------------------------------------------------------

    async def _ping(self, request: web.Request, call: Call) -> Reply:
        return Reply({})

    async def _time(self, request: web.Request, call: Call) -> Reply:
        return Reply({"serverTime": to_ms(self.clock.now())})

    async def _signed(self, request: web.Request) -> dict[str, str]:
        check_key(request.headers.get("X-MBX-APIKEY"), self.api_key)
        body = (await request.read()).decode("utf-8", errors="replace")
        return verified_params(request.rel_url.raw_query_string, body, self._secret,
                               to_ms(self.clock.now()))

    async def _new_order(self, request: web.Request, call: Call) -> Reply:
        p = await self._signed(request)
        inst = self._served(_required(p, "symbol"))
        call.symbol = inst.canonical
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(_required(p, "side"))
        if side is None:
            raise VendorError(error(400, -1117, "Invalid side."))
        if _required(p, "type") != "MARKET":
            raise VendorError(error(400, -1116, "Invalid orderType."))
        qty, quote = _decimal(p, "quantity"), _decimal(p, "quoteOrderQty")
        if qty is None and quote is None:
            raise mandatory("quantity")
        if qty is not None and quote is not None:
            raise VendorError(error(400, -1106, "Parameter 'quoteOrderQty' sent when not "
                                    "required."))
        cid = p.get("newClientOrderId") or f"web_{uuid.uuid4().hex[:20]}"
        if not CLIENT_ORDER_ID.match(cid):
            raise illegal("newClientOrderId", CLIENT_ORDER_ID.pattern)
        shape = p.get("newOrderRespType", "FULL")
        if shape not in ("ACK", "RESULT", "FULL"):
            raise VendorError(error(400, -1100, "Illegal characters found in parameter "
                                    "'newOrderRespType'."))
        return await self.intake.submit(
            call, cid, error=lambda status: self.fault_reply(FaultKind.SERVER_ERROR, status),
            place=lambda: self.ledger.place(inst, side, client_order_id=cid, qty=qty,
                                            notional=quote, time_in_force="GTC"),
            answer=lambda order: Reply(self._order_answer(order, shape)), refuse=_refusal)

    async def _order(self, request: web.Request, call: Call) -> Reply:
        p = await self._signed(request)
        with self.ledger.lock:
            order = self._find(p)
            if order is None:
                raise VendorError(error(400, -2013, "Order does not exist."))
            return Reply(_order_json(order))

    async def _cancel(self, request: web.Request, call: Call) -> Reply:
        p = await self._signed(request)
        with self.ledger.lock:
            order = self._find(p)
            if order is None or not self.ledger.cancel(order):
                raise VendorError(error(400, -2011, "Unknown order sent."))
            body = _order_json(order, ("symbol", "orderId", "orderListId", "price", "origQty",
                                       "executedQty", "cummulativeQuoteQty", "status",
                                       "timeInForce", "type", "side",
                                       "selfTradePreventionMode"))
            return Reply({**body, "origClientOrderId": order.client_order_id,
                          "clientOrderId": p.get("newClientOrderId")
                          or f"cancel_{uuid.uuid4().hex[:16]}",
                          "transactTime": to_ms(self.clock.now())})

    async def _open_orders(self, request: web.Request, call: Call) -> Reply:
        p = await self._signed(request)
        symbol = self._served(p["symbol"]).symbol if "symbol" in p else None
        with self.ledger.lock:
            return Reply([_order_json(o) for o in self.ledger.orders(open_only=True)
                          if symbol in (None, o.instrument.symbol)])

    async def _account(self, request: web.Request, call: Call) -> Reply:
        p = await self._signed(request)
        omit = p.get("omitZeroBalances", "false").lower() == "true"
        with self.ledger.lock:
            balances = []
            for asset, total in sorted(self.ledger.balances().items()):
                locked = self.ledger.held(asset)
                if not (omit and total == 0):
                    balances.append({"asset": asset, "free": _fmt(total - locked),
                                     "locked": _fmt(locked)})
        rate = _fmt(self.ledger.fee_rate)
        return Reply({
            "makerCommission": int(self.ledger.fee_rate * 10_000),
            "takerCommission": int(self.ledger.fee_rate * 10_000), "buyerCommission": 0,
            "sellerCommission": 0, "commissionRates": {"maker": rate, "taker": rate,
                                                       "buyer": _fmt(0), "seller": _fmt(0)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": to_ms(self.clock.now()), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": 354937868})

    # -- helpers -----------------------------------------------------------------------------

    def _served(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise VendorError(error(400, -1121, "Invalid symbol."))
        return inst

    def _find(self, p: dict[str, str]) -> Order | None:
        inst = self._served(_required(p, "symbol"))
        if "orderId" in p:
            found = [o for o in self.ledger.orders() if str(_order_id(o)) == p["orderId"]]
        elif "origClientOrderId" in p:
            found = [o for o in self.ledger.orders()
                     if o.client_order_id == p["origClientOrderId"]]
        else:
            raise VendorError(error(400, -1102, "Param 'origClientOrderId' or 'orderId' must "
                                    "be sent, but both were empty/null!"))
        found = [o for o in found if o.instrument == inst]
        return found[-1] if found else None

    def _order_answer(self, order: Order, shape: str) -> dict[str, Any]:
        ack = {"symbol": order.instrument.symbol, "orderId": _order_id(order),
               "orderListId": -1, "clientOrderId": order.client_order_id,
               "transactTime": to_ms(order.created_at)}
        if shape == "ACK":
            return ack
        result = {**ack, **_order_json(order, ("price", "origQty", "executedQty",
                                               "origQuoteOrderQty", "cummulativeQuoteQty",
                                               "status", "timeInForce", "type", "side",
                                               "workingTime", "selfTradePreventionMode"))}
        if shape == "RESULT":
            return result
        return {**result, "fills": [
            {"price": _fmt(f.price), "qty": _fmt(f.qty), "commission": _fmt(f.commission),
             "commissionAsset": f.commission_asset, "tradeId": f.trade_id}
            for f in order.fills]}


def _instrument(symbol: str) -> Instrument:
    if asset_class_of(symbol) is not AssetClass.CRYPTO:
        raise InputError(f"Binance lists crypto pairs only; got {symbol!r}")
    base, quote = symbol.split("-")
    return Instrument(base + quote, base, quote, symbol)


def _order_id(order: Order) -> int:
    return ORDER_ID_BASE + order.seq


def _order_json(order: Order, keys: Sequence[str] | None = None) -> dict[str, Any]:
    executed = order.filled_qty
    orig = order.qty if order.qty is not None else executed
    body = {
        "symbol": order.instrument.symbol, "orderId": _order_id(order), "orderListId": -1,
        "clientOrderId": order.client_order_id, "price": _fmt(0), "origQty": _fmt(orig),
        "executedQty": _fmt(executed), "cummulativeQuoteQty": _fmt(order.filled_notional),
        "status": STATUS[order.status], "timeInForce": order.time_in_force, "type": "MARKET",
        "side": order.side.value.upper(), "stopPrice": _fmt(0), "icebergQty": _fmt(0),
        "time": to_ms(order.created_at), "updateTime": to_ms(order.updated_at),
        "isWorking": True, "workingTime": to_ms(order.created_at),
        "origQuoteOrderQty": _fmt(order.notional or 0.0),
        "selfTradePreventionMode": "EXPIRE_MAKER"}
    return body if keys is None else {k: body[k] for k in keys}


def _refusal(refusal: OrderRefusedError) -> Reply:
    if refusal.kind == "duplicate":
        return error(400, -2010, "Duplicate order sent.")
    return error(400, -2010, "Account has insufficient balance for requested action.")


def _required(p: dict[str, str], name: str) -> str:
    if not p.get(name):
        raise mandatory(name)
    return p[name]


def _decimal(p: dict[str, str], name: str) -> float | None:
    text = p.get(name)
    if text is None:
        return None
    if not DECIMAL.match(text):
        raise illegal(name, DECIMAL.pattern)
    if len(text.partition(".")[2]) > 8:
        raise VendorError(error(400, -1111, f"Parameter '{name}' has too much precision."))
    value = float(text)
    if value <= 0:
        raise VendorError(error(400, -1013, f"Invalid {name}."))
    return value


def _fmt(value: float) -> str:
    return f"{value:.8f}"


__all__ = ["BinanceTradingVenue"]

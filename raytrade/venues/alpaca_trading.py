"""Fake Alpaca paper trading API, as alpaca-py's `TradingClient` calls it.

Point the SDK at it with `TradingClient(key_id, secret_key, paper=True,
url_override=venue.base_url)` (api_contracts.md section 5). Served: `POST|GET|DELETE
/v2/orders`, `GET|DELETE /v2/orders/{id}`, `GET /v2/orders:by_client_order_id`, `GET|DELETE
/v2/positions`, `GET /v2/positions/{symbol}`, `GET /v2/account`, `GET /v2/clock`. Every request
must carry the `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers of this account, or it gets
401 `{"code":40110000,"message":"request is not authorized"}`.

Orders: market orders by `qty` or `notional` (numbers or numeric strings). The answer to a
submission says `accepted` with nothing filled, as Alpaca's does; the fill follows at once at the
price the test set (`set_price`), so the next GET shows it; without a price the order stays
`new` until one is set. A `client_order_id` is unique among *all* the account's orders: a
repeat is 422 `{"code":40010001,"message":"client_order_id must be unique"}` [obs: alpaca-py
issue 260]. A buy beyond the buying power (cash less open buys; a cash account, multiplier 1)
is 403 `insufficient buying power`; a sell beyond the shares held, without `allow_short`, is 403
`insufficient qty available for order ...`. Cancelling is 204; a finished order is 422 `order
is not cancelable` [?]. Bulk cancel and close-all answer 207 with one entry per order.
Numbers are strings, times RFC-3339 UTC. Faults: `order_faults` per submission (see
`order_faults`), and `faults` per request on any endpoint (429, 5xx, slow, timeout).
Differences: equities only, no limit or stop orders, no market hours (the clock says open).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import ClassVar

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import Side, Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues import alpaca_wire as wire
from raytrade.venues.faults import FaultKind, FaultPlan
from raytrade.venues.ledger import Instrument, Ledger, Order, OrderRefusedError
from raytrade.venues.order_faults import OrderFaultPlan, OrderFaultRecord
from raytrade.venues.order_intake import OrderIntake
from raytrade.venues.server import Call, Endpoint, Reply, VendorError, Venue, bad_gateway

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "SPY")
MAX_CLIENT_ORDER_ID = 128
MAX_LIST_LIMIT = 500
UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}


class AlpacaTradingVenue(Venue):
    """Fake Alpaca paper trading for one account; tests set prices and read `placed`."""

    name: ClassVar[str] = "alpaca"
    kinds: ClassVar[frozenset[FaultKind]] = frozenset({
        FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.SLOW, FaultKind.TIMEOUT})

    def __init__(self, *, key_id: str = "PKFAKEKEY0000000", secret_key: str = "fake-secret",
                 cash: float = 100_000.0, symbols: Sequence[str] = DEFAULT_SYMBOLS,
                 allow_short: bool = False, order_faults: OrderFaultPlan | None = None,
                 faults: FaultPlan | None = None, clock: Clock | None = None, id_seed: int = 0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(faults=faults, clock=clock, spec=SimulatorSpec(), host=host, port=port)
        self.key_id = key_id
        self._secret = secret_key
        self.instruments = {s: Instrument(s, s, wire.CASH, s) for s in symbols}
        self.ledger = Ledger({wire.CASH: cash}, clock=self.clock, allow_short=allow_short,
                             unique_ids="all", qty_decimals=9, id_seed=id_seed)
        self.intake = OrderIntake(order_faults or OrderFaultPlan(), self.ledger, self.clock,
                                  record=self.record, hold=self._pause, fill_first=False)
        self.account_id = str(uuid.uuid5(wire.ASSET_NAMESPACE, f"account/{key_id}"))
        self.created_at = self.clock.now()

    def __repr__(self) -> str:
        return f"AlpacaTradingVenue(key_id={self.key_id!r}, base_url={self._base_url!r})"

    # -- what tests and sessions drive and read ----------------------------------------------

    def set_price(self, symbol: str, price: float) -> None:
        """Set the last trade price of `symbol`; open orders of it fill there."""
        self.ledger.set_price(self._instrument(symbol).symbol, price)

    def placed(self, client_order_id: str) -> int:
        """Return how many orders this account holds with `client_order_id`."""
        return self.ledger.placed(client_order_id)

    def order_faults(self) -> list[OrderFaultRecord]:
        """Return the order faults injected so far."""
        return self.intake.records()

    # -- Venue -------------------------------------------------------------------------------

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("new_order", "POST", "/v2/orders", self._new_order),
                Endpoint("orders", "GET", "/v2/orders", self._orders),
                Endpoint("cancel_orders", "DELETE", "/v2/orders", self._cancel_all),
                Endpoint("order_by_client_id", "GET", "/v2/orders:by_client_order_id",
                         self._by_client_id),
                Endpoint("order", "GET", "/v2/orders/{order_id}", self._order),
                Endpoint("cancel_order", "DELETE", "/v2/orders/{order_id}", self._cancel),
                Endpoint("positions", "GET", "/v2/positions", self._positions),
                Endpoint("close_positions", "DELETE", "/v2/positions", self._close_all),
                Endpoint("position", "GET", "/v2/positions/{symbol}", self._position),
                Endpoint("account", "GET", "/v2/account", self._account),
                Endpoint("clock", "GET", "/v2/clock", self._clock)]

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 429:
            return Reply({"message": "too many requests"}, status=429)
        if status == 502:
            return bad_gateway()
        return wire.error(status, 50010000, "internal server error occurred")

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        raise InputError("the Alpaca trading fake serves no bars; use a market-data venue")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        """Refuse a request without this account's key id and secret key (401)."""
        key = request.headers.get("APCA-API-KEY-ID", "")
        secret = request.headers.get("APCA-API-SECRET-KEY", "")
        if hmac.compare_digest(key, self.key_id) and hmac.compare_digest(secret, self._secret):
            return None
        return Reply(dict(UNAUTHORIZED), status=401)

    # -- orders ------------------------------------------------------------------------------

    async def _new_order(self, request: web.Request, call: Call) -> Reply:
        body = await wire.json_object(request)
        inst = self._instrument(str(body.get("symbol", "")), http=True)
        call.symbol = inst.canonical
        side = wire.side(body.get("side"))
        qty, notional = wire.amount(body, "qty"), wire.amount(body, "notional")
        if (qty is None) == (notional is None):
            raise wire.unprocessable("qty or notional is required (not both)")
        if str(body.get("type", "market")) != "market":
            raise wire.unprocessable("only market orders are served by this fake")
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if len(cid) > MAX_CLIENT_ORDER_ID:
            raise wire.unprocessable("client_order_id must be no more than 128 characters")
        tif = str(body.get("time_in_force", "day"))
        return await self.intake.submit(
            call, cid, error=lambda status: self.fault_reply(FaultKind.SERVER_ERROR, status),
            place=lambda: self.ledger.place(inst, side, client_order_id=cid, qty=qty,
                                            notional=notional, time_in_force=tif),
            answer=lambda order: Reply(wire.order_json(order, accepted=True)),
            refuse=lambda refusal: wire.refusal_reply(self.ledger, refusal, inst))

    async def _orders(self, request: web.Request, call: Call) -> Reply:
        q = request.query
        status = q.get("status", "open")
        if status not in ("open", "closed", "all"):
            raise wire.unprocessable(f"invalid status {status!r}")
        text = q.get("limit", "50")
        limit = int(text) if text.isdigit() else -1
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise wire.unprocessable("limit must be between 1 and 500")
        symbols = set(filter(None, q.get("symbols", "").split(",")))
        with self.ledger.lock:
            chosen = [o for o in self.ledger.orders()
                      if (status == "all" or o.is_open == (status == "open"))
                      and (not symbols or o.instrument.symbol in symbols)
                      and q.get("side") in (None, o.side.value)]
            if q.get("direction", "desc") == "desc":
                chosen.reverse()
            return Reply([wire.order_json(o) for o in chosen[:limit]])

    async def _by_client_id(self, request: web.Request, call: Call) -> Reply:
        cid = request.query.get("client_order_id", "")
        with self.ledger.lock:
            order = self.ledger.find(cid)
            if order is None:
                raise VendorError(wire.error(404, 40410000, "order not found"))
            return Reply(wire.order_json(order))

    async def _order(self, request: web.Request, call: Call) -> Reply:
        with self.ledger.lock:
            return Reply(wire.order_json(self._lookup(request.match_info["order_id"])))

    async def _cancel(self, request: web.Request, call: Call) -> Reply:
        order = self._lookup(request.match_info["order_id"])
        if not self.ledger.cancel(order):
            raise VendorError(wire.error(422, 42210000, "order is not cancelable"))
        return Reply(status=204, text="")

    async def _cancel_all(self, request: web.Request, call: Call) -> Reply:
        with self.ledger.lock:
            done = [o for o in self.ledger.orders(open_only=True) if self.ledger.cancel(o)]
            return Reply([{"id": o.id, "status": 200, "body": wire.order_json(o)}
                          for o in done], status=207)

    def _lookup(self, order_id: str) -> Order:
        try:
            uuid.UUID(order_id)
        except ValueError:
            raise wire.unprocessable("order_id is not a valid UUID") from None
        order = self.ledger.get(order_id)
        if order is None:
            raise VendorError(wire.error(404, 40410000, "order not found"))
        return order

    # -- positions and account -------------------------------------------------------------

    async def _positions(self, request: web.Request, call: Call) -> Reply:
        with self.ledger.lock:
            return Reply([wire.position_json(self.ledger, i) for i in self._held()])

    async def _position(self, request: web.Request, call: Call) -> Reply:
        symbol = request.match_info["symbol"]
        with self.ledger.lock:
            found = [i for i in self._held() if symbol in (i.symbol, wire.asset_id(i))]
            if not found:
                raise VendorError(wire.error(404, 40410000, "position does not exist"))
            return Reply(wire.position_json(self.ledger, found[0]))

    async def _close_all(self, request: web.Request, call: Call) -> Reply:
        """Cancel open orders if asked, then send a market order closing each position."""
        answers = []
        with self.ledger.lock:
            if request.query.get("cancel_orders", "").lower() == "true":
                for order in self.ledger.orders(open_only=True):
                    self.ledger.cancel(order)
            for inst in self._held():
                qty = self.ledger.balance(inst.base)
                side = Side.SELL if qty > 0 else Side.BUY
                try:
                    order = self.ledger.place(inst, side, client_order_id=str(uuid.uuid4()),
                                              qty=abs(qty))
                except OrderRefusedError as refusal:
                    reply = wire.refusal_reply(self.ledger, refusal, inst)
                    answers.append({"symbol": inst.symbol, "status": reply.status,
                                    "body": reply.body})
                    continue
                self.ledger.execute(order)
                answers.append({"symbol": inst.symbol, "status": 200,
                                "body": wire.order_json(order)})
        return Reply(answers, status=207)

    async def _account(self, request: web.Request, call: Call) -> Reply:
        with self.ledger.lock:
            return Reply(wire.account_json(self.ledger, self._held(),
                                           account_id=self.account_id,
                                           created_at=self.created_at))

    async def _clock(self, request: web.Request, call: Call) -> Reply:
        now = self.clock.now()
        return Reply({"timestamp": wire.rfc3339(now), "is_open": True,
                      "next_open": wire.rfc3339(now + timedelta(days=1)),
                      "next_close": wire.rfc3339(now + timedelta(hours=1))})

    def _instrument(self, symbol: str, *, http: bool = False) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is not None:
            return inst
        if http:
            raise wire.unprocessable(f'asset "{symbol}" not found')
        raise self.not_served(symbol, self.instruments)

    def _held(self) -> list[Instrument]:
        return [i for i in self.instruments.values() if self.ledger.balance(i.base) != 0.0]


__all__ = ["AlpacaTradingVenue"]

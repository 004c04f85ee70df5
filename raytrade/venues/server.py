"""The harness every fake venue shares: an aiohttp server on loopback that draws faults.

A venue lists its endpoints; each handler returns a `Reply` (a JSON-able body, and where the
body carries bars, a `Rows` handle saying where they are and how to change one). The harness
numbers each request, lets the venue apply its own limits, draws at most one fault from the
`FaultPlan`, applies it (an error reply, a delay, a corrupted body, changed rows), and records
the request and the fault in the `FaultLog`. Use `async with SomeVenue() as venue:` in async
code, `with running(SomeVenue()) as venue:` from sync code (the server runs on a thread).
"""

from __future__ import annotations

import abc
import asyncio
import json
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import unquote

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock, SystemClock
from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.faults import (
    BODY_KINDS,
    DELAY_KINDS,
    ERROR_KINDS,
    RATE_KINDS,
    ROW_KINDS,
    SERVER_ERROR_STATUSES,
    Detail,
    FaultKind,
    FaultLog,
    FaultPlan,
    FaultRecord,
    RequestRecord,
    Rows,
    change_rows,
    window_detail,
)
from raytrade.venues.markets import BarBook, Market

SECRET_PARAMS = frozenset({"apikey", "x_cg_demo_api_key", "x_cg_pro_api_key", "signature"})
LOOPBACK_PREFIX = "127."
_BAD_GATEWAY = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
_NOT_JSON = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
             "<p>Checking your browser before accessing the API.</p></body></html>")


@dataclass
class Reply:
    """What a handler answers; the harness serialises it (after any fault)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    rows: Rows | None = None
    text: str | None = None  # a body that is not JSON (HTML error pages)
    content_type: str = "application/json"


class VendorError(Exception):
    """Raised by a handler to answer with the vendor's error reply (bad symbol, bad key)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class Call:
    """One request in flight: its number, the venue clock's time, and what it met."""

    seq: int
    endpoint: str
    at: datetime
    path: str
    faults: list[FaultKind] = field(default_factory=list)
    symbol: str | None = None


Handler = Callable[[web.Request, Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Endpoint:
    name: str  # the name FaultPlan.endpoints and the fault log use
    method: str
    path: str
    handler: Handler
    rows: bool = False  # the endpoint serves bars, so row faults can apply


class Venue(abc.ABC):
    """A fake vendor server on 127.0.0.1 with an ephemeral port (one level below ABC)."""

    name: ClassVar[str]  # the vendor; `vendor` (the column of truth bars) unless a mode says
    kinds: ClassVar[frozenset[FaultKind]] = frozenset(RATE_KINDS) - {FaultKind.BAN}

    def __init__(self, *, faults: FaultPlan | None, clock: Clock | None, spec: SimulatorSpec,
                 host: str, port: int) -> None:
        if not host.startswith(LOOPBACK_PREFIX):
            raise InputError(f"fake venues listen on loopback only; got host {host!r}")
        self.vendor = self.name
        self.plan = faults or FaultPlan()
        self.clock: Clock = clock or SystemClock()
        self.book = BarBook(spec, self.plan.outages)
        self.log = FaultLog()
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._base_url: str | None = None

    # -- what a venue provides -------------------------------------------------------------

    @abc.abstractmethod
    def endpoints(self) -> list[Endpoint]:
        """Return the routes this venue serves."""

    @abc.abstractmethod
    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        """Return the vendor's reply for an injected 429, 418 or 5xx."""

    @abc.abstractmethod
    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        """Return what an honest client ends up with: canonical bars with open times in
        [start, end) that have closed by the venue clock's now, outage windows excluded,
        revised bars at their final value."""

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        """Return a refusal when the venue's own limits are exceeded (default: no limits)."""
        return None

    def decorate(self, call: Call, headers: dict[str, str]) -> None:
        """Add the headers the vendor sends with every response (default: none)."""
        return None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT once started."""
        if self._base_url is None:
            raise RuntimeError(f"the {self.name} venue is not started")
        return self._base_url

    async def start(self) -> None:
        app = web.Application()
        for ep in self.endpoints():
            app.router.add_route(ep.method, ep.path, self._handler(ep), name=ep.name)
        self._stopping = asyncio.Event()
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner, self._base_url = None, None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # -- what tests read ---------------------------------------------------------------------

    def faults(self, kind: FaultKind | None = None, endpoint: str | None = None
               ) -> list[FaultRecord]:
        """Return the faults recorded so far, optionally of one kind or endpoint."""
        return self.log.faults(kind, endpoint)

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """Return every request answered so far (or given up by its client), in order."""
        return self.log.requests(endpoint)

    # -- helpers for handlers ----------------------------------------------------------------

    def not_served(self, symbol: str, served: Iterable[str]) -> InputError:
        """Return the error `truth` raises for a symbol this venue does not serve."""
        return InputError(f"the {self.name} fake does not serve {symbol!r}; it serves "
                          f"{sorted(served)}")

    def served_bars(self, market: Market, timeframe: Timeframe, start: datetime,
                    end: datetime, call: Call) -> pl.DataFrame:
        """Return the bars in [start, end) for a response that covers all of that range,
        logging each outage window that withheld bars from it."""
        self.log_withheld(market, timeframe, start, end, call)
        return self.book.bars(market, timeframe, start, end)

    def log_withheld(self, market: Market, timeframe: Timeframe, start: datetime,
                     end: datetime, call: Call) -> None:
        """Log each outage window that withheld bars from the range a response covers."""
        for window, withheld in self.book.withheld(market, timeframe, start, end):
            if withheld:
                self.record(call, FaultKind.OUTAGE, 200, window_detail(window, withheld),
                            symbol=market.symbol)

    def record(self, call: Call, kind: FaultKind, status: int, detail: Detail,
               symbol: str | None = None) -> None:
        call.faults.append(kind)
        self.log.add_fault(FaultRecord(call.seq, call.endpoint, kind, call.at, call.path,
                                       status, symbol or call.symbol, dict(detail)))

    # -- the request pipeline ----------------------------------------------------------------

    def _handler(self, ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(ep, request)
        return handle

    async def _serve(self, ep: Endpoint, request: web.Request) -> web.StreamResponse:
        seq, index = self.log.next_request(ep.name)
        call = Call(seq, ep.name, self.clock.now(), redact(request.path_qs))
        applicable = self.kinds & (ERROR_KINDS | DELAY_KINDS | BODY_KINDS
                                   | (ROW_KINDS if ep.rows else frozenset()))
        kind, rng = self.plan.draw(ep.name, index, applicable)
        status = -1
        try:
            reply = self.admit(request, call) or await self._answer(ep, request, call, kind, rng)
            response = self._respond(reply, call, kind, rng)
            transport = request.transport
            status = response.status if transport and not transport.is_closing() else -1
            return response
        finally:
            self.log.add_request(RequestRecord(seq, ep.name, request.method, call.path, status,
                                               call.at, tuple(call.faults)))

    async def _answer(self, ep: Endpoint, request: web.Request, call: Call,
                      kind: FaultKind | None, rng: random.Random) -> Reply:
        if kind in ERROR_KINDS:
            status = {FaultKind.RATE_LIMIT: 429, FaultKind.BAN: 418}.get(
                kind, rng.choice(SERVER_ERROR_STATUSES))
            reply = self.fault_reply(kind, status)
            if status in (418, 429):
                reply.headers["Retry-After"] = str(self.plan.retry_after_s)
            self.record(call, kind, status, {"retry_after": self.plan.retry_after_s}
                        if status in (418, 429) else {})
            return reply
        if kind not in DELAY_KINDS:
            return await _call_handler(ep, request, call)
        delay = self.plan.slow_s if kind is FaultKind.SLOW else self.plan.timeout_s
        served = -1
        try:
            await self._pause(delay)
            reply = await _call_handler(ep, request, call)
            served = reply.status
            return reply
        finally:
            self.record(call, kind, served, {"delay_s": delay})

    def _respond(self, reply: Reply, call: Call, kind: FaultKind | None,
                 rng: random.Random) -> web.Response:
        if reply.status == 200 and kind in ROW_KINDS and reply.rows is not None:
            detail = change_rows(kind, reply.rows, rng, self.plan.revise_by)
            if detail is not None:
                self.record(call, kind, 200, detail)
        if reply.text is not None:
            body = reply.text.encode()
        else:
            body = json.dumps(reply.body, separators=(",", ":")).encode()
        content_type = reply.content_type
        if reply.status == 200 and kind is FaultKind.TRUNCATED_JSON and len(body) > 1:
            cut = max(1, int(len(body) * rng.uniform(0.3, 0.9)))
            self.record(call, kind, 200, {"bytes": cut, "of": len(body)})
            body = body[:cut]
        elif reply.status == 200 and kind is FaultKind.INVALID_JSON:
            self.record(call, kind, 200, {"bytes": len(_NOT_JSON)})
            body = _NOT_JSON.encode()
        headers = dict(reply.headers)
        self.decorate(call, headers)
        return web.Response(body=body, status=reply.status, headers=headers,
                            content_type=content_type)

    async def _pause(self, seconds: float) -> None:
        assert self._stopping is not None
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _call_handler(ep: Endpoint, request: web.Request, call: Call) -> Reply:
    try:
        return await ep.handler(request, call)
    except VendorError as err:
        return err.reply


def redact(path_qs: str) -> str:
    """Return the path and query with credential values replaced by ***."""
    path, _, query = path_qs.partition("?")
    if not query:
        return path
    parts = [f"{key}=***" if unquote(key).lower() in SECRET_PARAMS else f"{key}{sep}{value}"
             for key, sep, value in (part.partition("=") for part in query.split("&"))]
    return f"{path}?{'&'.join(parts)}"


def bad_gateway() -> Reply:
    """Return the HTML page a load balancer sends for a 502 (no vendor sends JSON there)."""
    return Reply(status=502, text=_BAD_GATEWAY, content_type="text/html")


class MinuteLimiter:
    """At most `calls` requests in any 60 s (monotonic time, whatever the venue clock says)."""

    def __init__(self, calls: int | None) -> None:
        self.calls = calls
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        if self.calls is None:
            return True
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) >= self.calls:
                return False
            self._times.append(now)
            return True


V = TypeVar("V", bound=Venue)


@contextmanager
def running(venue: V) -> Iterator[V]:
    """Run `venue` on a background thread's event loop for sync code (SDKs that block)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"venue-{venue.name}", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(venue.start(), loop).result(timeout=30)
        yield venue
    finally:
        try:
            asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()


__all__ = ["Call", "Endpoint", "MinuteLimiter", "Reply", "Rows", "VendorError", "Venue",
           "bad_gateway", "redact", "running"]

"""Fake Massive (formerly Polygon.io) stock aggregates, as the `massive` SDK reads them.

`GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}` (api_contracts.md
section 1): `t` in ms at bar start, daily bars at midnight New York time, a minute without
trades has no bar (the simulator's missing bars are gaps, never zero bars), `results` omitted
when empty, `limit` counted in base aggregates (minutes, or days for daily bars), `next_url`
an absolute URL back to this server whose path carries the advanced `from` (or `to` when
sorting descending) and whose `cursor` is base64 of the remaining query, since the SDK resends
nothing else. Auth: `Authorization: Bearer KEY` or `?apiKey=KEY`; a wrong key is a 401.
Differences from the real service: only regular-session bars (no pre- or after-market), only
the multiplier/timespan pairs of raytrade's timeframes (others are a 400), an unknown ticker is
an empty 200, and only bars that have closed by the venue clock are served.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.faults import FaultKind, FaultPlan
from raytrade.venues.markets import Market, canonical, from_ms, to_ms
from raytrade.venues.server import (
    Call,
    Endpoint,
    MinuteLimiter,
    Reply,
    Rows,
    VendorError,
    Venue,
    bad_gateway,
)

NEW_YORK = ZoneInfo("America/New_York")
TIMESPANS: dict[tuple[int, str], Timeframe] = {
    (1, "minute"): Timeframe.M1, (5, "minute"): Timeframe.M5, (15, "minute"): Timeframe.M15,
    (1, "hour"): Timeframe.H1, (4, "hour"): Timeframe.H4, (1, "day"): Timeframe.D1,
}
ALL_TIMESPANS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
DEFAULT_LIMIT, MAX_LIMIT = 5000, 50_000
RATE_LIMITED = ("You've exceeded the maximum requests per minute, please wait or upgrade your "
                "subscription to continue. https://massive.com/pricing")
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "SPY")


class MassiveVenue(Venue):
    """Fake Massive REST API; point the SDK at it with
    `massive.RESTClient(api_key=venue.api_key, base=venue.base_url, retries=0)`."""

    name: ClassVar[str] = "massive"

    def __init__(self, *, symbols: Sequence[str] = DEFAULT_SYMBOLS, api_key: str = "test-key",
                 faults: FaultPlan | None = None, clock: Clock | None = None,
                 market_seed: int = 0, calls_per_minute: int | None = None,
                 history_start: datetime = datetime(2015, 1, 1, tzinfo=UTC),
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(faults=faults, clock=clock, spec=SimulatorSpec(seed=market_seed),
                         host=host, port=port)
        bad = [s for s in symbols if Market(s, s).asset_class is not AssetClass.EQUITY]
        if bad:
            raise InputError(f"the Massive fake serves US equities only; got {bad}")
        self.api_key = api_key
        self.markets = {s: Market(s, s) for s in symbols}
        self.history_start = history_start
        self._limiter = MinuteLimiter(calls_per_minute)

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("aggs", "GET",
                         "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{start}/{end}",
                         self._aggs, rows=True)]

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        market = self.markets.get(symbol)
        if market is None:
            raise self.not_served(symbol, self.markets)
        lo, hi = max(start, self.history_start), min(end, self._closed_before(timeframe))
        return canonical(self.book.bars(market, timeframe, lo, hi), vendor=self.vendor)

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 429:
            return _error(429, RATE_LIMITED)
        if status == 502:
            return bad_gateway()
        return _error(status, "Internal server error. Please try again later.")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        if self._limiter.allow():
            return None
        self.record(call, FaultKind.LIMIT, 429, {"calls_per_minute": self._limiter.calls or 0})
        return _error(429, RATE_LIMITED)

    def _closed_before(self, timeframe: Timeframe) -> datetime:
        return self.clock.now() - timeframe.duration + timedelta(microseconds=1)

    async def _aggs(self, request: web.Request, call: Call) -> Reply:
        self._authorise(request)
        info = request.match_info
        query = _query(request)
        ticker, timespan = info["ticker"], info["timespan"]
        if timespan not in ALL_TIMESPANS:
            raise VendorError(_error(400, f"Could not parse the timespan: {timespan!r}."))
        multiplier = _int(info["multiplier"], "multiplier")
        timeframe = TIMESPANS.get((multiplier, timespan))
        if timeframe is None:
            raise VendorError(_error(400, f"the fake venue serves only {sorted(TIMESPANS)}"))
        adjusted, sort = query.get("adjusted", "true"), query.get("sort", "asc")
        if adjusted not in ("true", "false") or sort not in ("asc", "desc"):
            raise VendorError(_error(400, "adjusted must be true|false and sort asc|desc."))
        limit = min(max(_int(query.get("limit", str(DEFAULT_LIMIT)), "limit"), 1), MAX_LIMIT)
        lo = _bound(info["start"], timeframe, end=False)
        hi = _bound(info["end"], timeframe, end=True)
        market = self.markets.get(ticker)
        call.symbol = ticker if market else None
        bars = pl.DataFrame()
        if market is not None:
            lo, hi = max(lo, self.history_start), min(hi, self._closed_before(timeframe))
            bars = self.book.bars(market, timeframe, lo, hi).sort("ts",
                                                                  descending=sort == "desc")
        base = 1 if timeframe is Timeframe.D1 else timeframe.minutes
        page = max(1, limit // base)
        results = [_row(r) for r in bars.head(page).iter_rows(named=True)] if bars.height else []
        body: dict[str, Any] = {"ticker": ticker, "queryCount": len(results) * base,
                                "resultsCount": len(results), "adjusted": adjusted == "true"}
        reply = Reply(body)
        if results:
            body["results"] = results
            reply.rows = Rows(results, lambda r: int(r["t"]), _revise, lambda: _extra(results),
                              timeframe.minutes * 60_000, to_ms(self.clock.now()))
        body |= {"status": "OK", "request_id": uuid.uuid4().hex}
        if market is not None:
            self.log_withheld(market, timeframe, *_page_span(bars, page, sort, lo, hi), call)
        if bars.height > page:
            nxt = to_ms(bars["ts"][page])
            first, last = (nxt, info["end"]) if sort == "asc" else (info["start"], nxt)
            cursor = base64.urlsafe_b64encode(
                f"limit={limit}&sort={sort}&adjusted={adjusted}".encode()).decode().rstrip("=")
            body["next_url"] = (f"{self.base_url}/v2/aggs/ticker/{quote(ticker)}/range/"
                                f"{multiplier}/{timespan}/{first}/{last}?cursor={cursor}")
        return reply

    def _authorise(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        key = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        key = key or request.query.get("apiKey")
        if key != self.api_key:
            raise VendorError(Reply({"status": "ERROR", "request_id": uuid.uuid4().hex,
                                     "error": "Unknown API Key"}, status=401))


def _page_span(bars: pl.DataFrame, page: int, sort: str, lo: datetime, hi: datetime
               ) -> tuple[datetime, datetime]:
    """Return the time one page covers: the asked range, up to (ascending) or down to
    (descending) the first bar of the next page."""
    if bars.height <= page:
        return lo, hi
    cut: datetime = bars["ts"][page]
    return (lo, cut) if sort == "asc" else (cut + timedelta(microseconds=1), hi)


def _query(request: web.Request) -> dict[str, str]:
    """Return the query, with the cursor's remembered parameters taking precedence."""
    query = {k: v for k, v in request.query.items() if k != "cursor"}
    cursor = request.query.get("cursor")
    if cursor:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except ValueError:
            raise VendorError(_error(400, "Invalid cursor.")) from None
        query |= {k: v[-1] for k, v in parse_qs(text).items()}
    return query


def _bound(text: str, timeframe: Timeframe, *, end: bool) -> datetime:
    """Return the first (or past-the-last) bar open selected by a `from` (or `to`) value.

    A date spans 00:00 to 24:00 New York; an ms `from` selects bars whose interval ends after
    it (snapping to the start of its unit); an ms `to` selects bars that open at or before it.
    """
    if text.isdigit():
        moment = from_ms(int(text))
        return moment + timedelta(milliseconds=1) if end else moment - timeframe.duration + \
            timedelta(microseconds=1)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise VendorError(_error(400, f"Could not parse the time parameter: {text!r}.")) from None
    if end:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).astimezone(UTC)


def _row(bar: dict[str, Any]) -> dict[str, Any]:
    return {"v": bar["volume"], "vw": bar["vwap"], "o": bar["open"], "c": bar["close"],
            "h": bar["high"], "l": bar["low"], "t": to_ms(bar["ts"]), "n": bar["trades"]}


def _revise(row: dict[str, Any], factor: float) -> dict[str, Any]:
    close = row["c"] * factor
    return row | {"c": close, "h": max(row["h"], close), "l": min(row["l"], close)}


def _extra(results: list[dict[str, Any]]) -> str:
    for row in results:
        row["z"] = max(1, round(row["v"] / max(row["n"], 1)))  # average trade size, as on WS
    return "results[].z"


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise VendorError(_error(400, f"Could not parse the {name} parameter: {text!r}.")) \
            from None


def _error(status: int, message: str) -> Reply:
    return Reply({"status": "ERROR", "request_id": uuid.uuid4().hex, "error": message},
                 status=status)


__all__ = ["MassiveVenue"]

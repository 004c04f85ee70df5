"""Massive (formerly Polygon.io) aggregates through the official `massive` SDK.

Pointing the SDK: `RESTClient(api_key=..., base=base_url)`; every request, `next_url` pages
included, goes to `base` (the SDK keeps only the path and query of a `next_url`). The SDK is
synchronous, so it runs in a thread (`asyncio.to_thread`), one client per `fetch_bars` call.

Two SDK behaviours would lose data silently, so both hooks below are set:
- Its urllib3 retries (3, honouring any `Retry-After` without a cap) are replaced, through the
  documented `connection_pool_kw` option, by a `Retry` that never retries and raises
  `_HttpStatus` with the status, `Retry-After` and body of any response >= 400. (The SDK's own
  `BadResponse` carries only the body text, so 401 and 503 would look alike.)
- Its pagination ends quietly, returning what it has, when a page is not valid JSON or UTF-8.
  The `custom_json` decoder raises instead (`_UnparsablePage`, deliberately not a
  `ValueError`, which the SDK swallows) and counts pages, and the `Retry` counts responses; a
  page the SDK dropped before decoding shows as a response without a decoded page.
The decoder also waits on the rate limit before the SDK follows a `next_url`.

Our retries (`with_retries`) then resume from the newest bar received (`from` = its open
time), so a failure on page 5 costs one page, not five; only failures without progress count
against the attempt budget. Missing minutes are gaps (Massive emits no bar for a minute without
trades). Daily bars open at midnight New York time; `t` is epoch ms, so they land at 04:00 or
05:00 UTC (DST), and a daily equity bar closes at the next New York midnight.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

import polars as pl
import urllib3
from massive import RESTClient  # type: ignore[import-untyped]
from massive.exceptions import BadResponse  # type: ignore[import-untyped]
from pydantic import SecretStr
from urllib3.util.retry import Retry

from raytrade.core.clock import Clock, SystemClock
from raytrade.core.types import AssetClass, Timeframe, asset_class_of
from raytrade.sources.base import (
    CredentialsError,
    PayloadError,
    UnknownSymbolError,
    VendorRefusedError,
    VendorUnavailableError,
    finalize_bars,
    raw_frame,
    utc_window,
)
from raytrade.sources.http import BODY_EXCERPT, is_transient_status, retry_after_seconds
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RateLimit, RetryPolicy, with_retries
from raytrade.sources.symbols import massive_ticker

BASE_URL = "https://api.massive.com"
NEW_YORK = "America/New_York"
MAX_LIMIT = 50_000  # base aggregates per request
PACE_TIMEOUT = 300.0  # seconds the SDK thread waits for the rate limit before a next page
TIMESPANS: Mapping[Timeframe, tuple[int, str]] = {
    Timeframe.M1: (1, "minute"),
    Timeframe.M5: (5, "minute"),
    Timeframe.M15: (15, "minute"),
    Timeframe.H1: (1, "hour"),
    Timeframe.H4: (4, "hour"),
    Timeframe.D1: (1, "day"),
}


# --- pure parsing -------------------------------------------------------------------------

class AggLike(Protocol):
    """The fields of the SDK's `Agg` this adapter reads (`t` is epoch ms at the bar open)."""

    timestamp: int | None
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None
    vwap: float | None
    transactions: int | None


def aggs_to_raw(aggs: Sequence[AggLike]) -> pl.DataFrame:
    """Turn SDK aggregates into a raw frame, in the order received."""
    for agg in aggs:
        if agg.timestamp is None or None in (agg.open, agg.high, agg.low, agg.close):
            raise PayloadError(f"an aggregate lacks t, o, h, l or c: {agg!r:.120}")
    return raw_frame(
        [int(a.timestamp) for a in aggs if a.timestamp is not None],
        {"open": [a.open for a in aggs], "high": [a.high for a in aggs],
         "low": [a.low for a in aggs], "close": [a.close for a in aggs],
         "volume": [a.volume for a in aggs], "vwap": [a.vwap for a in aggs],
         "trades": [a.transactions for a in aggs]})


def bar_end(symbol: str, timeframe: Timeframe) -> pl.Expr:
    """Return each bar's close: daily equity bars close at the next New York midnight."""
    if timeframe is Timeframe.D1 and asset_class_of(symbol) is AssetClass.EQUITY:
        local = pl.col("ts").dt.convert_time_zone(NEW_YORK).dt.offset_by("1d")
        return local.dt.convert_time_zone("UTC")
    return pl.col("ts") + timeframe.duration


def error_text(body: bytes) -> str:
    """Return the `error` or `message` of a Massive error body, else the body's start."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict):
        said = payload.get("error") or payload.get("message") or payload.get("status")
        if said:
            return str(said)[:BODY_EXCERPT]
    return body.decode("utf-8", errors="replace").strip()[:BODY_EXCERPT] or "(empty body)"


# --- SDK hooks ----------------------------------------------------------------------------

class _HttpStatus(Exception):  # noqa: N818 - an internal signal, mapped before it escapes
    """A response >= 400, surfaced from inside urllib3 with what the SDK would drop."""

    def __init__(self, status: int, retry_after: str | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after, self.body = status, retry_after, body


class _UnparsablePage(Exception):  # noqa: N818 - not a ValueError: the SDK swallows those
    """A page that is not valid JSON, or that the SDK dropped before decoding it."""


@dataclass
class _Pages:
    """Per-call counts shared by the two hooks, and the wait before each next page."""

    before_next: Callable[[], None]
    responses: int = 0
    decoded: int = 0


class _SurfaceStatus(Retry):
    """A urllib3 `Retry` that never retries and raises `_HttpStatus` for responses >= 400."""

    def __init__(self, pages: _Pages | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # built with total=0; `new` passes the decremented total
        self.pages = pages

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.pages = self.pages
        return fresh

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 200 and self.pages is not None:
            self.pages.responses += 1
        return status_code >= 400

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> Self:
        if response is not None and response.status >= 400:
            raise _HttpStatus(response.status, response.headers.get("Retry-After"),
                              bytes(response.data or b""))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _StrictJson:
    """The SDK's `custom_json`: decode strictly, count pages, pace the next page."""

    def __init__(self, pages: _Pages) -> None:
        self.pages = pages

    def loads(self, text: str | bytes) -> Any:
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise _UnparsablePage(f"a page is not valid JSON ({exc})") from None
        self.pages.decoded += 1
        if isinstance(payload, dict) and payload.get("next_url"):
            self.pages.before_next()
        return payload


@dataclass
class _Job:
    """One fetch's progress: rows so far and the newest open time received (the resume point)."""

    ticker: str
    cursor: int
    last: int
    rows: list[Any] = field(default_factory=list)


# --- I/O ----------------------------------------------------------------------------------

class MassiveSource:
    """Split-adjusted aggregates of equities (AAPL) and crypto (X:BTCUSD) from Massive."""

    def __init__(
        self, api_key: SecretStr | None, *, base_url: str | None = None,
        clock: Clock | None = None, retry: RetryPolicy | None = None,
        rate: RateLimit | None = None, adjusted: bool = True, page_limit: int = MAX_LIMIT,
    ) -> None:
        """`rate` defaults to the free plan's 5 requests a minute; paid plans are unlimited."""
        self.name = "massive"
        self.base_url = (base_url or BASE_URL).rstrip("/")
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.rate = rate or RateLimit(per_minute=5, burst=1)
        self.adjusted, self.page_limit = adjusted, page_limit
        self._key = api_key
        self._redact = Redactor([api_key])

    def __repr__(self) -> str:
        return f"MassiveSource(base_url={self.base_url!r}, adjusted={self.adjusted})"

    async def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime,
                         end: datetime) -> pl.DataFrame:
        """Return closed aggregates of `symbol` in [start, end) as canonical bars."""
        start, end = utc_window(start, end)
        ticker = massive_ticker(symbol)
        key = self._key
        if key is None:
            raise CredentialsError(self.name, symbol, "no API key configured",
                                   "set RAYTRADE_MASSIVE_API_KEY")
        now = self.clock.now()
        job = _Job(ticker, int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1)
        if job.cursor <= job.last:
            loop = asyncio.get_running_loop()
            pages = _Pages(lambda: asyncio.run_coroutine_threadsafe(
                self.rate.acquire(), loop).result(timeout=PACE_TIMEOUT))
            client = self._client(key, pages)

            async def segment() -> None:
                await self.rate.acquire()
                try:
                    await asyncio.to_thread(self._drain, client, pages, job, timeframe)
                except Exception as exc:
                    raise self._translate(exc, symbol, ticker) from None

            await with_retries(segment, policy=self.retry, vendor=self.name,
                               what=f"aggregates of {ticker}", redact=self._redact,
                               progress=lambda: job.cursor)
        return finalize_bars(aggs_to_raw(job.rows), symbol=symbol, vendor=self.name,
                             timeframe=timeframe, start=start, end=end, now=now,
                             bar_end=bar_end(symbol, timeframe))

    def _client(self, key: SecretStr, pages: _Pages) -> Any:
        return RESTClient(
            api_key=key.get_secret_value(), base=self.base_url, retries=0,
            connect_timeout=self.retry.timeout, read_timeout=self.retry.timeout,
            custom_json=_StrictJson(pages),
            connection_pool_kw={"retries": _SurfaceStatus(pages, total=0, redirect=0)})

    def _drain(self, client: Any, pages: _Pages, job: _Job, timeframe: Timeframe) -> None:
        """Follow the SDK's pages from the job's cursor to the end (runs in a thread)."""
        multiplier, timespan = TIMESPANS[timeframe]
        pages.responses = pages.decoded = 0
        for agg in client.list_aggs(job.ticker, multiplier, timespan, job.cursor, job.last,
                                    adjusted=self.adjusted, sort="asc", limit=self.page_limit):
            job.rows.append(agg)
            if isinstance(agg.timestamp, int) and agg.timestamp > job.cursor:
                job.cursor = agg.timestamp
        if pages.responses != pages.decoded:
            raise _UnparsablePage("a page could not be decoded (not UTF-8)")

    def _translate(self, exc: Exception, symbol: str, ticker: str) -> Exception:
        """Map what the SDK thread raised to the error the caller should act on."""
        what = f"aggregates of {ticker}"
        if isinstance(exc, _HttpStatus):
            said = self._redact(error_text(exc.body))
            detail = f"HTTP {exc.status}: {said}"
            if is_transient_status(exc.status) or exc.status == 499:
                return VendorUnavailableError(
                    self.name, f"{detail} for {what}", status=exc.status,
                    retry_after=retry_after_seconds(exc.retry_after, self.clock.now()))
            if exc.status == 401:
                return CredentialsError(self.name, symbol, detail,
                                        "set RAYTRADE_MASSIVE_API_KEY to a valid key")
            if exc.status == 403:
                return VendorRefusedError(self.name, symbol, detail, "the Massive plan does "
                                          "not include this data; upgrade it or ask for less")
            if exc.status == 404:
                return UnknownSymbolError(self.name, symbol,
                                          f"{detail} ({ticker}); check the ticker")
            return VendorRefusedError(self.name, symbol, detail, "check the request")
        if isinstance(exc, _UnparsablePage | PayloadError):
            return VendorUnavailableError(self.name, f"unparsable page of {what}: {exc}")
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            return VendorUnavailableError(
                self.name, f"no usable response for {what} ({type(exc).__name__})")
        if isinstance(exc, BadResponse):
            return VendorRefusedError(self.name, symbol, self._redact(str(exc))[:BODY_EXCERPT],
                                      "check the request")
        return exc

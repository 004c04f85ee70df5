"""GeckoTerminal: on-chain DEX pool OHLCV over aiohttp, paged backwards in time.

`GET /networks/{network}/pools/{pool}/ohlcv/{minute|hour|day}?aggregate=N` returns at most
`limit` (<= 1000) candles **newest first**, stamped in **seconds** at the interval's open.
Paging goes backwards: the oldest timestamp of a page becomes the next `before_timestamp`,
until a page is empty or reaches the window's start. Intervals without swaps are missing rows
(`include_empty_intervals` is left false, so no filler rows): they stay gaps. The newest
candle is still forming and is dropped by the closed-bar rule. Volume is what the pool reports:
in USD with `currency=usd` (the default), not in units of the base token.

The public API is keyless and allows 30 calls a minute, which the default `RateLimit` keeps.
A canonical symbol maps to a pool only through the configured `pools` mapping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

import aiohttp
import polars as pl
from pydantic import SecretStr

from raytrade.config.collect import PoolRef
from raytrade.core.clock import Clock, SystemClock
from raytrade.core.types import Timeframe
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
from raytrade.sources.http import Reply, http_get, is_transient_status
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RateLimit, RetryPolicy, with_retries
from raytrade.sources.symbols import geckoterminal_pool

BASE_URL = "https://api.geckoterminal.com/api/v2"
ACCEPT = "application/json;version=20230302"  # pins the API version
MAX_LIMIT = 1000
# Timeframe -> (path timeframe, aggregate); these are the combinations the API accepts.
TIMEFRAMES: Mapping[Timeframe, tuple[str, int]] = {
    Timeframe.M1: ("minute", 1),
    Timeframe.M5: ("minute", 5),
    Timeframe.M15: ("minute", 15),
    Timeframe.H1: ("hour", 1),
    Timeframe.H4: ("hour", 4),
    Timeframe.D1: ("day", 1),
}


# --- pure parsing -------------------------------------------------------------------------

def parse_ohlcv(payload: object) -> list[list[float]]:
    """Return the rows `[ts_seconds, o, h, l, c, v]` of an ohlcv response, in sent order."""
    try:
        rows = payload["data"]["attributes"]["ohlcv_list"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise PayloadError("an ohlcv response needs data.attributes.ohlcv_list") from None
    if not isinstance(rows, list):
        raise PayloadError("data.attributes.ohlcv_list is not a list")
    out: list[list[float]] = []
    for row in rows:
        if not isinstance(row, list) or len(row) < 6 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in row[:6]):
            raise PayloadError(f"an ohlcv row is not six numbers: {row!r:.80}")
        out.append([float(v) for v in row[:6]])
    return out


def ohlcv_to_raw(rows: Sequence[Sequence[float]]) -> pl.DataFrame:
    """Turn ohlcv rows (any order, newest first as sent) into a raw frame in the same order."""
    return raw_frame(
        [int(r[0]) * 1000 for r in rows],
        {"open": [r[1] for r in rows], "high": [r[2] for r in rows],
         "low": [r[3] for r in rows], "close": [r[4] for r in rows],
         "volume": [r[5] for r in rows]})


def next_before(rows: Sequence[Sequence[float]], before: int) -> int | None:
    """Return the next `before_timestamp` (the page's oldest second), or None to stop.

    Stops on an empty page, and when the oldest row is not older than the last cursor (an
    inclusive boundary returning only the boundary row: nothing older is left).
    """
    if not rows:
        return None
    oldest = int(min(r[0] for r in rows))
    return oldest if oldest < before else None


# --- I/O ----------------------------------------------------------------------------------

class GeckoTerminalSource:
    """Pool OHLCV bars from GeckoTerminal for the symbols in `pools`."""

    def __init__(
        self, pools: Mapping[str, PoolRef], *, base_url: str | None = None,
        api_key: SecretStr | None = None, key_header: str = "x-cg-pro-api-key",
        clock: Clock | None = None, retry: RetryPolicy | None = None,
        rate: RateLimit | None = None, page_limit: int = MAX_LIMIT,
    ) -> None:
        """`api_key`/`key_header` only for CoinGecko's `/onchain` mirror of this API."""
        if not 1 <= page_limit <= MAX_LIMIT:
            raise ValueError(f"page_limit must be 1..{MAX_LIMIT}")
        self.name = "geckoterminal"
        self.pools = dict(pools)
        self.base_url = (base_url or BASE_URL).rstrip("/")
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.rate = rate or RateLimit(per_minute=30, burst=5)  # keyless: 30 calls a minute
        self.page_limit = page_limit
        self._key, self._key_header = api_key, key_header
        self._redact = Redactor([api_key])

    def __repr__(self) -> str:
        return f"GeckoTerminalSource(base_url={self.base_url!r}, pools={sorted(self.pools)})"

    async def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime,
                         end: datetime) -> pl.DataFrame:
        """Return closed bars of the pool configured for `symbol`, in [start, end)."""
        start, end = utc_window(start, end)
        pool = geckoterminal_pool(symbol, self.pools)
        now = self.clock.now()
        first_s, before = int(start.timestamp()), math.ceil(end.timestamp())
        rows: list[list[float]] = []
        async with aiohttp.ClientSession() as session:
            while before > first_s:
                page = await with_retries(
                    partial(self._page, session, pool, timeframe, before, symbol),
                    policy=self.retry, vendor=self.name, what=f"ohlcv of {symbol}",
                    redact=self._redact)
                rows.extend(page)
                cursor = next_before(page, before)
                if cursor is None:
                    break
                before = cursor
        return finalize_bars(ohlcv_to_raw(rows), symbol=symbol, vendor=self.name,
                             timeframe=timeframe, start=start, end=end, now=now)

    async def _page(self, session: aiohttp.ClientSession, pool: PoolRef, timeframe: Timeframe,
                    before: int, symbol: str) -> list[list[float]]:
        span, aggregate = TIMEFRAMES[timeframe]
        path = f"/networks/{pool.network}/pools/{pool.address}/ohlcv/{span}"
        params = {"aggregate": str(aggregate), "before_timestamp": str(before),
                  "limit": str(self.page_limit), "currency": pool.currency, "token": pool.token}
        headers = {"Accept": ACCEPT}
        if self._key is not None:
            headers[self._key_header] = self._key.get_secret_value()
        await self.rate.acquire()
        reply = await http_get(session, self.base_url + path, vendor=self.name,
                               what=f"ohlcv of {symbol}", params=params, headers=headers,
                               timeout=self.retry.timeout)
        if reply.status != 200:
            raise self._refusal(reply, pool, symbol)
        try:
            return parse_ohlcv(reply.json())
        except PayloadError as exc:
            raise VendorUnavailableError(self.name, f"unparsable body for {symbol}: {exc}",
                                         status=reply.status) from None

    def _refusal(self, reply: Reply, pool: PoolRef, symbol: str) -> Exception:
        """Map a non-200 reply to the error the caller should act on."""
        if is_transient_status(reply.status):
            return reply.unavailable(self.name, f"ohlcv of {symbol}")
        detail = f"HTTP {reply.status}: {self._redact(reply.excerpt())}"
        if reply.status == 404:
            return UnknownSymbolError(
                self.name, symbol, f"{detail}; no pool {pool.address} on network "
                f"{pool.network}: fix the pools mapping")
        if reply.status in (401, 403):
            return CredentialsError(self.name, symbol, detail,
                                    "the public API needs no key; check api_key and base_url")
        return VendorRefusedError(self.name, symbol, detail, "check the pool and timeframe")

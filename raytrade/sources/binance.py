"""Binance and Binance.US spot klines through python-binance's `AsyncClient`.

Pointing the SDK: `AsyncClient(...)` is constructed directly (never `AsyncClient.create`, which
pings and asks the server time first) and its `API_URL` is set to `{base_url}/api` before any
request, so nothing reaches a host other than `base_url`. One client (one aiohttp session) per
`fetch_bars` call, closed at the end. The SDK does not retry; `with_retries` does.

Klines: pages of at most 1000 from `startTime`, advancing past the newest open time received,
to `endTime` = end - 1 ms (Binance selects by open time, both ends inclusive). Prices and
volumes arrive as strings. A kline whose close time (open + interval - 1 ms) is not before the
clock's `now` is still open and dropped. Zero-volume klines are real bars (no trade in the
interval, OHLC = previous close) and are kept; missing klines (outages) stay gaps. `vwap` is
quote volume / base volume (null when nothing traded), `trades` the trade count.

Weight: every response carries `X-MBX-USED-WEIGHT-1M`, the IP's weight used in the current
minute. Before a request that would take it past `weight_headroom` of the limit (6000 a minute
on Binance.com, 1200 on Binance.US), the adapter waits for the next minute; a client-side
`RateLimit` of the same size spaces requests from the start.

Binance.com and Binance.US list different books: BTC-USD is `BTCUSD`, which only Binance.US
lists; it is never replaced by `BTCUSDT` (see `raytrade.sources.symbols`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

import aiohttp
import polars as pl
from pydantic import SecretStr

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
from raytrade.sources.http import BODY_EXCERPT, is_transient_status, retry_after_seconds
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RateLimit, RetryPolicy, with_retries
from raytrade.sources.symbols import BinanceExchange, binance_hint, binance_symbol

with warnings.catch_warnings():
    # python-binance imports the deprecated websockets.legacy API at import time; we use none
    # of its websocket code, so the warning only adds noise to every importer.
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance import AsyncClient  # type: ignore[import-untyped]
    from binance.exceptions import (  # type: ignore[import-untyped]
        BinanceAPIException,
        BinanceRequestException,
    )

BASE_URLS: Mapping[BinanceExchange, str] = {
    BinanceExchange.COM: "https://api.binance.com",
    BinanceExchange.US: "https://api.binance.us",
}
WEIGHT_LIMITS: Mapping[BinanceExchange, int] = {BinanceExchange.COM: 6000, BinanceExchange.US: 1200}
KLINES_WEIGHT = 2
MAX_LIMIT = 1000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
BAD_KEY_CODES = frozenset({-2014, -2015})
INVALID_SYMBOL = -1121


# --- pure parsing -------------------------------------------------------------------------

def parse_klines(payload: object) -> list[list[object]]:
    """Return the kline rows of a klines response (12-element arrays), checking their shape."""
    if not isinstance(payload, list):
        raise PayloadError("a klines response must be a JSON array")
    for row in payload:
        if not isinstance(row, list) or len(row) < 9 or not isinstance(row[0], int) \
                or not isinstance(row[6], int):
            raise PayloadError(f"a kline is not [open ms, o, h, l, c, v, close ms, ...]: "
                               f"{row!r:.80}")
    return payload


def klines_to_raw(rows: Sequence[Sequence[object]], now_ms: int) -> pl.DataFrame:
    """Turn kline rows into a raw frame, dropping klines still open at `now_ms`.

    A kline is closed when its close time (index 6) is before now. Strings are parsed exactly
    by polars; zero-volume klines are kept, with a null VWAP.
    """
    closed = [r for r in rows if int(r[6]) < now_ms]  # type: ignore[call-overload]
    frame = raw_frame(
        [int(r[0]) for r in closed],  # type: ignore[call-overload]
        {"open": [r[1] for r in closed], "high": [r[2] for r in closed],
         "low": [r[3] for r in closed], "close": [r[4] for r in closed],
         "volume": [r[5] for r in closed], "vwap": [r[7] for r in closed],
         "trades": [r[8] for r in closed]})
    # Column `vwap` holds the quote volume until here.
    return frame.with_columns(
        vwap=pl.when(pl.col("volume") > 0).then(pl.col("vwap") / pl.col("volume")))


def next_start(rows: Sequence[Sequence[object]], start_ms: int, step_ms: int) -> int | None:
    """Return the next page's startTime (past the newest open received), or None if stuck."""
    if not rows:
        return None
    newest = max(int(r[0]) for r in rows)  # type: ignore[call-overload]
    following = newest + step_ms
    return following if following > start_ms else None


def used_weight(headers: Mapping[str, str] | None) -> int | None:
    """Return the `X-MBX-USED-WEIGHT-1M` value of a response, if it has a readable one."""
    if not headers:
        return None
    lowered = WEIGHT_HEADER.lower()
    for name, value in headers.items():
        if name.lower() == lowered:
            try:
                return int(value)
            except ValueError:
                return None
    return None


# --- I/O ----------------------------------------------------------------------------------

class BinanceSource:
    """Spot klines from Binance.com (name `binance`) or Binance.US (name `binance_us`)."""

    def __init__(
        self, exchange: BinanceExchange = BinanceExchange.COM, *, base_url: str | None = None,
        api_key: SecretStr | None = None, clock: Clock | None = None,
        retry: RetryPolicy | None = None, weight_limit: int | None = None,
        weight_headroom: float = 0.9, rate: RateLimit | None = None,
        page_limit: int = MAX_LIMIT,
    ) -> None:
        """`api_key` is optional (klines are public); when given it is sent as X-MBX-APIKEY."""
        if not 1 <= page_limit <= MAX_LIMIT:
            raise ValueError(f"page_limit must be 1..{MAX_LIMIT}")
        self.exchange = exchange
        self.name = exchange.value
        self.base_url = (base_url or BASE_URLS[exchange]).rstrip("/")
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.weight_limit = weight_limit or WEIGHT_LIMITS[exchange]
        self.weight_headroom = weight_headroom
        self.rate = rate or RateLimit(per_minute=self.weight_limit,
                                      burst=max(KLINES_WEIGHT, self.weight_limit // 10))
        self.page_limit = page_limit
        self._key = api_key
        self._redact = Redactor([api_key])
        self._used: tuple[int, int] | None = None  # (minute since epoch, weight used then)

    def __repr__(self) -> str:
        return f"BinanceSource(exchange={self.exchange.value!r}, base_url={self.base_url!r})"

    async def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime,
                         end: datetime) -> pl.DataFrame:
        """Return closed klines of `symbol` in [start, end) as canonical bars."""
        start, end = utc_window(start, end)
        market = binance_symbol(symbol, self.exchange)
        now = self.clock.now()
        step = timeframe.minutes * 60_000
        cursor, last = _ms(start), _ms(end) - 1
        rows: list[list[object]] = []
        client = self._client()
        try:
            while cursor <= last:
                page = await with_retries(
                    partial(self._page, client, symbol, market, timeframe, cursor, last),
                    policy=self.retry, vendor=self.name, what=f"klines of {market}",
                    redact=self._redact)
                rows.extend(page)
                following = next_start(page, cursor, step)
                if following is None or len(page) < self.page_limit:
                    break
                cursor = following
        finally:
            await client.close_connection()
        raw = klines_to_raw(rows, _ms(now))
        return finalize_bars(raw, symbol=symbol, vendor=self.name, timeframe=timeframe,
                             start=start, end=end, now=now)

    def _client(self) -> AsyncClient:
        key = self._key.get_secret_value() if self._key is not None else None
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        client = AsyncClient(key, None, requests_params={"timeout": timeout})
        client.API_URL = f"{self.base_url}/api"  # before any request: see the module docstring
        return client

    async def _page(self, client: AsyncClient, symbol: str, market: str, timeframe: Timeframe,
                    start_ms: int, last_ms: int) -> list[list[object]]:
        await self._respect_weight()
        await self.rate.acquire(KLINES_WEIGHT)
        try:
            payload = await client.get_klines(symbol=market, interval=timeframe.value,
                                              startTime=start_ms, endTime=last_ms,
                                              limit=self.page_limit)
        except BinanceAPIException as exc:
            self._note_weight(getattr(exc.response, "headers", None))
            raise self._refusal(exc, symbol, market) from None
        except BinanceRequestException:
            raise VendorUnavailableError(
                self.name, f"unparsable body for klines of {market}") from None
        except (aiohttp.ClientError, ValueError) as exc:  # ContentTypeError, bad JSON
            raise VendorUnavailableError(
                self.name, f"bad response for klines of {market} ({type(exc).__name__})") from None
        except TimeoutError:
            raise VendorUnavailableError(
                self.name, f"no response for klines of {market} within "
                f"{self.retry.timeout:g} s") from None
        self._note_weight(getattr(client.response, "headers", None))
        try:
            return parse_klines(payload)
        except PayloadError as exc:
            raise VendorUnavailableError(self.name, f"unparsable klines of {market}: {exc}",
                                         status=200) from None

    def _note_weight(self, headers: Mapping[str, str] | None) -> None:
        weight = used_weight(headers)
        if weight is not None:
            self._used = (self._minute(), weight)

    def _minute(self) -> int:
        return int(self.clock.now().timestamp() // 60)

    async def _respect_weight(self) -> None:
        """Wait for the next minute when this request would pass the weight headroom."""
        if self._used is None:
            return
        minute, weight = self._used
        if minute != self._minute():
            return
        if weight + KLINES_WEIGHT <= self.weight_limit * self.weight_headroom:
            return
        now = self.clock.now()
        wait = 60.0 - (now.timestamp() % 60.0)
        await self.retry.sleep(wait)
        self._used = None  # a new minute: the server's counter restarted

    def _refusal(self, exc: BinanceAPIException, symbol: str, market: str) -> Exception:
        """Map a Binance error response to the error the caller should act on."""
        status = int(exc.status_code)
        # A body that is not JSON leaves code 0 and a message quoting the response object.
        said = f"code {exc.code}: {exc.message}" if exc.code else "no JSON error body"
        detail = f"HTTP {status}, {self._redact(said)[:BODY_EXCERPT]}"
        if is_transient_status(status):
            headers = getattr(exc.response, "headers", None) or {}
            return VendorUnavailableError(
                self.name, f"{detail} for klines of {market}",
                retry_after=retry_after_seconds(headers.get("Retry-After")), status=status)
        if exc.code == INVALID_SYMBOL:
            return UnknownSymbolError(self.name, symbol,
                                      f"{detail} ({market}); {binance_hint(symbol, self.exchange)}")
        if status == 401 or exc.code in BAD_KEY_CODES:
            return CredentialsError(self.name, symbol, detail,
                                    "set RAYTRADE_BINANCE_API_KEY to a valid key, or unset it "
                                    "(klines need no key)")
        if status == 451:
            return VendorRefusedError(self.name, symbol, detail, "Binance.com refuses this "
                                      "location; use the binance_us source")
        return VendorRefusedError(self.name, symbol, detail, "check the symbol and timeframe")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

"""CoinGecko: irregular price samples made honestly into bars, over aiohttp.

CoinGecko's demo plan has no intraday OHLC worth the name (`/ohlc` gives 30-minute candles at
best, stamped at their close, without volume). What it has is `market_chart`: price samples
about every 5 minutes for the last day (`days=1`), hourly for 2-90 days, at irregular times.
`market_chart/range` serves history with the same shape (5-minute samples only on Enterprise
plans with `interval=5m`).

Bars from samples: each bar covers the window [ts, ts + timeframe) on UTC multiples of the
timeframe and is stamped at the window's **open** (the canonical convention; CoinGecko's own
`/ohlc` stamps candles at their close). Its open, high, low and close are the first, highest,
lowest and last sample inside the window. A window with no sample is a gap: no row, never a
forward fill. `volume` is null: `total_volumes` is a rolling 24-hour figure, not the volume
traded in the window, and differencing it does not give one. Timeframes below 5 minutes are
refused (the samples are 5 minutes apart at best).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

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
    align_down,
    finalize_bars,
    raw_frame,
    utc_window,
)
from raytrade.sources.http import Reply, http_get, is_transient_status
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RateLimit, RetryPolicy, with_retries
from raytrade.sources.symbols import DEFAULT_COINGECKO_IDS, coingecko_coin

Plan = Literal["demo", "pro"]
BASE_URLS: Mapping[Plan, str] = {
    "demo": "https://api.coingecko.com/api/v3",
    "pro": "https://pro-api.coingecko.com/api/v3",
}
KEY_HEADERS: Mapping[Plan, str] = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
RECENT = timedelta(days=1)  # market_chart?days=1 covers this much, in 5-minute samples
MIN_TIMEFRAME = Timeframe.M5


# --- pure parsing -------------------------------------------------------------------------

def parse_prices(payload: object) -> tuple[list[int], list[float]]:
    """Return the (ms, price) samples of a market_chart payload; skip null prices."""
    if not isinstance(payload, dict) or not isinstance(payload.get("prices"), list):
        raise PayloadError("a market_chart response needs a `prices` list")
    times: list[int] = []
    prices: list[float] = []
    for point in payload["prices"]:
        if not isinstance(point, list) or len(point) < 2:
            raise PayloadError(f"a price sample is not [ms, price]: {point!r:.80}")
        ms, price = point[0], point[1]
        if price is None:
            continue
        if isinstance(ms, bool) or not isinstance(ms, int | float) \
                or isinstance(price, bool) or not isinstance(price, int | float):
            raise PayloadError(f"a price sample is not numeric: {point!r:.80}")
        times.append(int(ms))
        prices.append(float(price))
    return times, prices


def samples_to_bars(times: Sequence[int], prices: Sequence[float],
                    timeframe: Timeframe) -> pl.DataFrame:
    """Aggregate price samples into bars (raw frame); empty windows produce no row.

    Samples sharing a timestamp keep the last one received (a revised sample wins).
    """
    step = timeframe.minutes * 60_000
    samples = (
        pl.DataFrame({"t": pl.Series(times, dtype=pl.Int64),
                      "p": pl.Series(prices, dtype=pl.Float64)})
        .unique(subset="t", keep="last", maintain_order=True)
        .sort("t")
        .with_columns(w=pl.col("t") - pl.col("t") % step)
    )
    bars = samples.group_by("w", maintain_order=True).agg(
        open=pl.col("p").first(), high=pl.col("p").max(), low=pl.col("p").min(),
        close=pl.col("p").last())
    return raw_frame(bars["w"].to_list(), {c: bars[c].to_list() for c in
                                          ("open", "high", "low", "close")})


def error_message(payload: object) -> str:
    """Return the message of any of CoinGecko's three error shapes, or ''."""
    if not isinstance(payload, dict):
        return ""
    status = payload.get("status")
    if isinstance(status, dict):
        code = status.get("error_code", payload.get("error_code", ""))
        return f"{code} {status.get('error_message', '')}".strip()
    error = payload.get("error")
    return str(error) if error is not None else ""


# --- I/O ----------------------------------------------------------------------------------

class CoinGeckoSource:
    """5-minute (and longer) bars from CoinGecko price samples."""

    def __init__(
        self, api_key: SecretStr | None = None, *, plan: Plan = "demo",
        base_url: str | None = None, coin_ids: Mapping[str, str] | None = None,
        clock: Clock | None = None, retry: RetryPolicy | None = None,
        rate: RateLimit | None = None, range_chunk: timedelta = timedelta(days=1),
        interval: str | None = None,
    ) -> None:
        """`interval` is passed to market_chart/range (e.g. `5m` on Enterprise plans)."""
        self.name = "coingecko"
        self.plan = plan
        self.base_url = (base_url or BASE_URLS[plan]).rstrip("/")
        self.coin_ids = {**DEFAULT_COINGECKO_IDS, **(coin_ids or {})}
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        # Demo plans: 30 calls a minute in older docs, 100 in newer ones; stay at the lower.
        self.rate = rate or RateLimit(per_minute=30, burst=5)
        self.range_chunk, self.interval = range_chunk, interval
        self._key = api_key
        self._redact = Redactor([api_key])

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"CoinGeckoSource(plan={self.plan!r}, base_url={self.base_url!r}, key={key})"

    async def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime,
                         end: datetime) -> pl.DataFrame:
        """Return closed bars of `symbol` in [start, end), built from price samples."""
        start, end = utc_window(start, end)
        if timeframe.minutes < MIN_TIMEFRAME.minutes:
            raise VendorRefusedError(self.name, symbol, f"timeframe {timeframe} is finer than its "
                                "5-minute samples", "ask for 5m or longer")
        coin, vs = coingecko_coin(symbol, self.coin_ids)
        now = self.clock.now()
        first = align_down(start, timeframe.duration)
        times: list[int] = []
        prices: list[float] = []
        async with aiohttp.ClientSession() as session:
            for path, params in self._requests(coin, vs, first, min(end, now), now):
                got = await with_retries(
                    partial(self._get, session, path, params, symbol),
                    policy=self.retry, vendor=self.name, what=f"{path} ({symbol})",
                    redact=self._redact)
                times.extend(got[0])
                prices.extend(got[1])
        raw = samples_to_bars(times, prices, timeframe)
        return finalize_bars(raw, symbol=symbol, vendor=self.name, timeframe=timeframe,
                             start=start, end=end, now=now)

    def _requests(self, coin: str, vs: str, first: datetime, last: datetime,
                  now: datetime) -> list[tuple[str, dict[str, str]]]:
        """Plan the calls: one `days=1` call for the last day, else range chunks."""
        if last <= first:
            return []
        if first >= now - RECENT:
            return [(f"/coins/{coin}/market_chart", {"vs_currency": vs, "days": "1"})]
        calls = []
        lo = first
        while lo < last:
            hi = min(lo + self.range_chunk, last)
            params = {"vs_currency": vs, "from": str(int(lo.timestamp())),
                      "to": str(int(hi.timestamp()))}
            if self.interval:
                params["interval"] = self.interval
            calls.append((f"/coins/{coin}/market_chart/range", params))
            lo = hi
        return calls

    async def _get(self, session: aiohttp.ClientSession, path: str, params: dict[str, str],
                   symbol: str) -> tuple[list[int], list[float]]:
        await self.rate.acquire()
        headers = {"accept": "application/json"}
        if self._key is not None:
            headers[KEY_HEADERS[self.plan]] = self._key.get_secret_value()
        reply = await http_get(session, self.base_url + path, vendor=self.name, what=path,
                               params=params, headers=headers, timeout=self.retry.timeout)
        if reply.status != 200:
            raise self._refusal(reply, path, symbol)
        try:
            return parse_prices(reply.json())
        except PayloadError as exc:
            raise VendorUnavailableError(self.name, f"unparsable body for {path}: {exc}",
                                    status=reply.status) from None

    def _refusal(self, reply: Reply, path: str, symbol: str) -> Exception:
        """Map a non-200 reply to the error the caller should act on."""
        if is_transient_status(reply.status):
            return reply.unavailable(self.name, path)
        try:
            said, is_json = error_message(reply.json()) or reply.excerpt(), True
        except PayloadError:
            said, is_json = reply.excerpt(), False
        detail = f"HTTP {reply.status}: {self._redact(said)}"
        if reply.status == 404:
            return UnknownSymbolError(
                self.name, symbol, f"{detail}; check the CoinGecko coin id in coin_ids")
        if reply.status == 401 or (reply.status == 403 and is_json):
            fix = ("set RAYTRADE_COINGECKO_API_KEY to a valid key for the "
                   f"{self.plan} plan (demo keys go to api.coingecko.com with "
                   "x-cg-demo-api-key, pro keys to pro-api.coingecko.com)")
            return CredentialsError(self.name, symbol, detail, fix)
        return VendorRefusedError(self.name, symbol, detail,
                             "check the request parameters and the plan's limits")

"""Fake GeckoTerminal public API v2: DEX pool OHLCV (api_contracts.md section 3).

`GET /api/v2/networks/{network}/pools/{pool}/ohlcv/{timeframe}`: rows
`[unix_seconds, open, high, low, close, usd_volume]` at interval start, **newest first**, in a
JSON:API wrapper with `meta.base` and `meta.quote`; `aggregate` checked per timeframe (day 1;
hour 1, 4, 12; minute 1, 5, 15; the fake serves all but hour 12); `before_timestamp` strictly
`<`; `limit` 1..1000 (default 100); intervals without swaps skipped unless
`include_empty_intervals=true` (then filled at the previous close with zero volume); the newest
row is the interval still in progress (partial values; leave it out with `open_bar=False`).
No key; 30 calls a minute (then 429 with CoinGecko's body). One pool per canonical symbol,
priced like every other crypto venue; volume is dollars (a DEX pool's share of the simulated
volume), never base units. `currency=token` prices in the quote token (a dollar stablecoin,
so the same numbers); `token=quote` inverts the chart.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.faults import FaultKind, FaultPlan
from raytrade.venues.markets import Market, canonical, floor_time, split_pair, to_ms
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

AGGREGATES = {"day": (1,), "hour": (1, 4, 12), "minute": (1, 5, 15)}
TIMEFRAMES = {("minute", 1): Timeframe.M1, ("minute", 5): Timeframe.M5,
              ("minute", 15): Timeframe.M15, ("hour", 1): Timeframe.H1,
              ("hour", 4): Timeframe.H4, ("day", 1): Timeframe.D1}
NETWORKS = {"SOL": "solana", "BNB": "bsc", "MATIC": "polygon_pos"}  # others: eth
WRAPPED = {"ETH": ("WETH", "Wrapped Ether", "weth"), "BTC": ("WBTC", "Wrapped BTC", "wrapped-"
                                                            "bitcoin"),
           "SOL": ("SOL", "Wrapped SOL", "wrapped-solana")}
RATE_LIMITED = ("You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/"
                "pricing to subscribe to our API plans for higher rate limits and use the "
                "onchain endpoints: https://docs.coingecko.com/reference/endpoint-overview")
DEX_VOLUME_SCALE = 0.05
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class Token:
    address: str
    name: str
    symbol: str
    coingecko_coin_id: str


@dataclass(frozen=True)
class Pool:
    """One pool: where a client finds the canonical `symbol` on GeckoTerminal."""

    symbol: str
    network: str
    address: str
    base: Token
    quote: Token


def pool_for(symbol: str) -> Pool:
    """Return the deterministic pool the fake serves for a canonical crypto symbol."""
    base, quote = split_pair(symbol)
    network = NETWORKS.get(base, "eth")
    ticker, name, coin = WRAPPED.get(base, (base, base, base.lower()))
    stable = ("USDC", "USD Coin", "usd-coin") if quote == "USD" else (quote, quote, quote.lower())
    return Pool(symbol, network, _address(network, "pool", symbol),
                Token(_address(network, "token", base), name, ticker, coin),
                Token(_address(network, "token", stable[0]), stable[1], stable[0], stable[2]))


def _address(network: str, *parts: str) -> str:
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=32).digest()
    if network != "solana":
        return "0x" + digest[:20].hex()
    number, text = int.from_bytes(digest, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return text


class GeckoTerminalVenue(Venue):
    """Fake GeckoTerminal; clients use `api_root` (http://127.0.0.1:PORT/api/v2)."""

    name: ClassVar[str] = "geckoterminal"

    def __init__(self, *, symbols: Sequence[str] = ("ETH-USD", "SOL-USD", "BTC-USD"),
                 faults: FaultPlan | None = None, clock: Clock | None = None,
                 market_seed: int = 0, calls_per_minute: int | None = 30,
                 open_bar: bool = True,
                 history_start: datetime = datetime(2021, 9, 1, tzinfo=UTC),
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(faults=faults, clock=clock, spec=SimulatorSpec(seed=market_seed),
                         host=host, port=port)
        bad = [s for s in symbols if Market(s, s).asset_class is not AssetClass.CRYPTO]
        if bad:
            raise InputError(f"the GeckoTerminal fake serves crypto pairs only; got {bad}")
        self.pools = {s: pool_for(s) for s in symbols}
        self._by_address = {(p.network, p.address.lower()): Market(s, p.address,
                                                                     DEX_VOLUME_SCALE)
                            for s, p in self.pools.items()}
        self.open_bar = open_bar
        self.history_start = history_start
        self._limiter = MinuteLimiter(calls_per_minute)

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/api/v2"

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("ohlcv", "GET",
                         "/api/v2/networks/{network}/pools/{pool}/ohlcv/{timeframe}",
                         self._ohlcv, rows=True)]

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        pool = self.pools.get(symbol)
        if pool is None:
            raise self.not_served(symbol, self.pools)
        market = self._by_address[(pool.network, pool.address.lower())]
        lo = max(start, self.history_start)
        hi = min(end, self.clock.now() - timeframe.duration + timedelta(microseconds=1))
        bars = self.book.bars(market, timeframe, lo, hi)
        return canonical(bars.with_columns(volume=pl.col("volume") * pl.col("vwap"),
                                           vwap=None, trades=None), vendor=self.vendor)

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 429:
            return Reply({"status": {"error_code": 429, "error_message": RATE_LIMITED}},
                         status=429)
        if status == 502:
            return bad_gateway()
        return _error(status, "Internal Server Error")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        if self._limiter.allow():
            return None
        self.record(call, FaultKind.LIMIT, 429, {"calls_per_minute": self._limiter.calls or 0})
        return Reply({"status": {"error_code": 429, "error_message": RATE_LIMITED}}, status=429)

    async def _ohlcv(self, request: web.Request, call: Call) -> Reply:
        info, q = request.match_info, request.query
        market = self._by_address.get((info["network"], info["pool"].lower()))
        if market is None:
            raise VendorError(_error(404, "Not Found"))
        call.symbol = market.symbol
        timeframe = self._timeframe(info["timeframe"], q.get("aggregate", "1"))
        limit = _int(q.get("limit", "100"), "limit")
        if not 1 <= limit <= 1000:
            raise VendorError(_error(400, "limit must be between 1 and 1000"))
        now = self.clock.now()
        step = timeframe.duration
        last = floor_time(now, step) + (step if self.open_bar else timedelta(0))
        if "before_timestamp" in q:
            before = datetime.fromtimestamp(_int(q["before_timestamp"], "before_timestamp"), UTC)
            last = min(last, floor_time(before - timedelta(microseconds=1), step) + step)
        empty = q.get("include_empty_intervals", "false").lower() == "true"
        bars = self._select(market, timeframe, last, limit, empty, call)
        bars = _partial(bars, now, step)
        rows = [_row(r, q.get("currency", "usd"), q.get("token", "base"))
                for r in bars.sort("ts", descending=True).iter_rows(named=True)]
        pool = self.pools[market.symbol]
        body: dict[str, Any] = {
            "data": {"id": str(uuid.uuid4()), "type": "ohlcv_request_response",
                     "attributes": {"ohlcv_list": rows}},
            "meta": {"base": vars(pool.base), "quote": vars(pool.quote)}}
        return Reply(body, rows=Rows(rows, lambda r: int(r[0]) * 1000, _revise,
                                     lambda: _extra(body), timeframe.minutes * 60_000,
                                     to_ms(now)))

    def _timeframe(self, name: str, aggregate: str) -> Timeframe:
        if name not in AGGREGATES:
            raise VendorError(_error(400, f"Invalid timeframe: {name}"))
        if not aggregate.isdigit() or int(aggregate) not in AGGREGATES[name]:
            raise VendorError(_error(400, f"Invalid aggregate for {name}: {aggregate}"))
        timeframe = TIMEFRAMES.get((name, int(aggregate)))
        if timeframe is None:
            raise VendorError(_error(400, f"the fake venue does not serve {name}/{aggregate}"))
        return timeframe

    def _select(self, market: Market, timeframe: Timeframe, last: datetime, limit: int,
                empty: bool, call: Call) -> pl.DataFrame:
        """Return the newest `limit` bars opening before `last` (or, with empty intervals
        filled, the newest `limit` intervals), ascending."""
        step = timeframe.duration
        first = max(self.history_start, floor_time(self.history_start - step, step) + step)
        if empty:
            lo = max(first, last - step * limit)
            bars = self.served_bars(market, timeframe, lo, last, call)
            before = self.book.bars(market, timeframe, max(first, lo - step * 1440), lo).tail(1)
            return _fill_empty(pl.concat([before, bars]), lo, last, step)
        got, lo = pl.DataFrame(), last
        while lo > first and got.height < limit:
            part = self.book.bars(market, timeframe, max(first, lo - step * limit), lo)
            got = part if not got.height else pl.concat([part, got])
            lo -= step * limit
        got = got.tail(limit)  # the response covers from its oldest row, or all history
        self.log_withheld(market, timeframe, got["ts"][0] if got.height == limit else first,
                          last, call)
        return got


def _fill_empty(bars: pl.DataFrame, lo: datetime, hi: datetime, step: timedelta
                ) -> pl.DataFrame:
    """Return every interval in [lo, hi) that follows a real bar; empty ones at the previous
    close with zero volume (GeckoTerminal's include_empty_intervals)."""
    if not bars.height:
        return bars
    grid = pl.DataFrame({"ts": pl.datetime_range(lo, hi - step, step, time_unit="us",
                                                 time_zone="UTC", eager=True)})
    merged = grid.join(bars, on="ts", how="full", coalesce=True).sort("ts")
    gap = pl.col("volume").is_null()
    carried = pl.col("close").forward_fill()
    merged = merged.with_columns(
        [pl.when(gap).then(carried).otherwise(pl.col(c)).alias(c)
         for c in ("open", "high", "low", "close", "vwap")]
        + [pl.col("volume").fill_null(0.0)])
    return merged.filter(pl.col("close").is_not_null(), pl.col("ts") >= lo)


def _partial(bars: pl.DataFrame, now: datetime, step: timedelta) -> pl.DataFrame:
    """Return bars with the still-open interval at its values so far."""
    if not bars.height:
        return bars
    step_ms = step.total_seconds() * 1000
    f = ((to_ms(now) - pl.col("ts").dt.epoch("ms")) / step_ms).clip(0.0, 1.0)
    open_ = pl.col("open")
    close = open_ + (pl.col("close") - open_) * f
    is_open = pl.col("ts") + step > now
    return bars.with_columns(
        close=pl.when(is_open).then(close).otherwise("close"),
        high=pl.when(is_open).then(pl.max_horizontal(open_, close)).otherwise("high"),
        low=pl.when(is_open).then(pl.min_horizontal(open_, close)).otherwise("low"),
        volume=pl.when(is_open).then(pl.col("volume") * f).otherwise("volume"))


def _row(bar: dict[str, Any], currency: str, token: str) -> list[Any]:
    usd_volume = bar["volume"] * bar["vwap"]
    prices = [bar["open"], bar["high"], bar["low"], bar["close"]]
    if token == "quote":  # the chart of the quote token: a dollar coin, or 1 / price in base
        o, h, low, c = prices
        prices = [1.0] * 4 if currency == "usd" else [1 / o, 1 / low, 1 / h, 1 / c]
    return [to_ms(bar["ts"]) // 1000, *prices, usd_volume]


def _revise(row: list[Any], factor: float) -> list[Any]:
    close = row[4] * factor
    return [row[0], row[1], max(row[2], close), min(row[3], close), close, row[5]]


def _extra(body: dict[str, Any]) -> str:
    body["data"]["attributes"]["currency"] = "usd"
    return "data.attributes.currency"


def _int(text: str, name: str) -> int:
    if not text.lstrip("-").isdigit():
        raise VendorError(_error(400, f"Invalid {name}: {text}"))
    return int(text)


def _error(status: int, title: str) -> Reply:
    return Reply({"errors": [{"status": str(status), "title": title}]}, status=status)


__all__ = ["GeckoTerminalVenue", "Pool", "Token", "pool_for"]

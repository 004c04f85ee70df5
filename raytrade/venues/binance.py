"""Fake Binance and Binance.US spot market data, as python-binance reads it.

`/api/v3/klines` (api_contracts.md section 4): 12-element rows, prices and volumes as strings
with 8 decimals, open and close time in ms (close = open + interval - 1), ascending, `limit`
1..1000 (default 500), window selection by `startTime`/`endTime` on open time, the earliest
kline for `startTime=0`, and the still-open last kline served with its partial values (close
time in the future). A minute without trades is a zero-volume kline (OHLC = previous close);
rows are missing only in outage windows. `/api/v3/ping`, `/api/v3/time`, `/api/v3/exchangeInfo`
(minimal), `X-MBX-USED-WEIGHT-1M` on every response, 429 then 418 with Retry-After past the
weight limit, `{"code": -1121, "msg": "Invalid symbol."}` for unknown symbols.
Binance.US mode (`us=True`): USD and USDT pairs, a 1200 weight limit, vendor `binance_us`,
smaller volumes; Binance.com refuses USD pairs. `sparse={"BTC-USD": 0.8}` turns that share of
a pair's klines into zero-trade klines, as on thin Binance.US books. Only raytrade's intervals
(1m 5m 15m 1h 4h 1d) are served; other valid Binance intervals get -1120.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.faults import RATE_KINDS, FaultKind, FaultPlan
from raytrade.venues.markets import (
    Market,
    canonical,
    floor_time,
    from_ms,
    round_to,
    split_pair,
    to_ms,
    uniform,
)
from raytrade.venues.server import (
    Call,
    Endpoint,
    Reply,
    Rows,
    VendorError,
    Venue,
    bad_gateway,
)

INTERVALS: dict[str, Timeframe] = {tf.value: tf for tf in Timeframe}
WEIGHTS = {"ping": 1, "time": 1, "exchange_info": 20, "klines": 2}
BAN_AFTER_REFUSALS = 5  # 429s in one minute before the IP is banned (418)
BAN_S = 120
US_VOLUME_SCALE = {"USD": 0.03, "USDT": 0.01}  # Binance.US books are far thinner
PRICE_COLUMNS = ("open", "high", "low", "close")


class BinanceVenue(Venue):
    """Fake Binance (or Binance.US) REST market data. Point python-binance at `api_url`."""

    kinds: ClassVar[frozenset[FaultKind]] = frozenset(RATE_KINDS)
    name: ClassVar[str] = "binance"

    def __init__(self, *, symbols: Sequence[str] | None = None, us: bool = False,
                 sparse: Mapping[str, float] | None = None, faults: FaultPlan | None = None,
                 clock: Clock | None = None, market_seed: int = 0,
                 weight_limit: int | None = None, timer: Callable[[], float] = time.monotonic,
                 history_start: datetime = datetime(2019, 9, 1, tzinfo=UTC),
                 host: str = "127.0.0.1", port: int = 0) -> None:
        spec = SimulatorSpec(seed=market_seed, missing_rate=0.0, outages_per_year=0.0)
        super().__init__(faults=faults, clock=clock, spec=spec, host=host, port=port)
        self.us = us
        self.vendor = "binance_us" if us else "binance"
        chosen = symbols or (("BTC-USD", "SOL-USD", "BTC-USDT") if us
                             else ("BTC-USDT", "ETH-USDT", "SOL-USDT"))
        self.markets = {m.vendor_id: m for m in (self._market(s) for s in chosen)}
        self.sparse = dict(sparse or {})
        unknown = set(self.sparse) - {m.symbol for m in self.markets.values()}
        if unknown or any(not 0.0 <= s < 1.0 for s in self.sparse.values()):
            raise InputError(f"sparse must map served symbols to shares in [0, 1); got "
                             f"{self.sparse}")
        self.weight_limit = weight_limit or (1200 if us else 6000)
        self.history_start = history_start
        self._weights: dict[int, int] = {}
        self._refusals: dict[int, int] = {}
        self._banned_until = 0.0
        self._timer = timer  # seconds, for the per-minute weight (whatever the venue clock says)

    @property
    def api_url(self) -> str:
        """Return python-binance's API_URL for this server (requests go to API_URL/v3/...)."""
        return f"{self.base_url}/api"

    def _market(self, symbol: str) -> Market:
        market = Market(symbol, symbol.replace("-", ""))
        if market.asset_class is not AssetClass.CRYPTO:
            raise InputError(f"Binance lists crypto pairs only; got {symbol!r}")
        quote = split_pair(symbol)[1]
        if not self.us and quote == "USD":
            raise InputError(f"Binance.com lists no USD pairs (use USDT); got {symbol!r}")
        scale = US_VOLUME_SCALE.get(quote, 0.01) if self.us else 1.0
        return Market(symbol, market.vendor_id, scale)

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("ping", "GET", "/api/v3/ping", self._ping),
                Endpoint("time", "GET", "/api/v3/time", self._time),
                Endpoint("exchange_info", "GET", "/api/v3/exchangeInfo", self._exchange_info),
                Endpoint("klines", "GET", "/api/v3/klines", self._klines, rows=True)]

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        market = self._lookup(symbol)
        if market is None:
            raise self.not_served(symbol, self.markets)
        now = self.clock.now()
        lo = max(start, self.history_start)
        hi = min(end, now - timeframe.duration + timedelta(microseconds=1))
        klines = self._frame(market, timeframe, self.book.bars(market, timeframe, lo, hi), now)
        volume, quote = pl.col("volume"), pl.col("quote_volume")
        return canonical(klines.with_columns(
            vwap=pl.when(volume > 0).then(quote / volume)), vendor=self.vendor)

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 502:
            return bad_gateway()
        if status == 429:
            return _error(429, -1003, "Too much request weight used; current limit is "
                          f"{self.weight_limit} request weight per 1 MINUTE. Please use "
                          "WebSocket Streams for live updates to avoid polling the API.")
        if status == 418:
            until = to_ms(self.clock.now()) + 1000 * self.plan.retry_after_s
            return _error(418, -1003, f"Way too much request weight used; IP banned until "
                          f"{until}. Please use WebSocket Streams for live updates to avoid bans.")
        if status == 503:
            return _error(503, -1007, "Timeout waiting for response from backend server. Send "
                          "status unknown; execution status unknown.")
        return _error(status, -1000, "An unknown error occurred while processing the request.")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        """Count request weight per minute; past the limit answer 429, and after repeated
        refusals 418 (banned) until the ban ends."""
        now = self._timer()
        minute = int(now // 60)
        self._weights = {minute: self._weights.get(minute, 0) + WEIGHTS[call.endpoint]}
        if now < self._banned_until:
            wait = int(self._banned_until - now) + 1
            self.record(call, FaultKind.LIMIT, 418, {"retry_after": wait, "banned": 1})
            return self._refusal(FaultKind.BAN, 418, wait)
        if self._weights[minute] <= self.weight_limit:
            return None
        self._refusals = {minute: self._refusals.get(minute, 0) + 1}
        if self._refusals[minute] > BAN_AFTER_REFUSALS:
            self._banned_until = now + BAN_S
            self.record(call, FaultKind.LIMIT, 418, {"retry_after": BAN_S, "banned": 1})
            return self._refusal(FaultKind.BAN, 418, BAN_S)
        wait = 60 - int(now % 60)
        self.record(call, FaultKind.LIMIT, 429, {"retry_after": wait,
                                                 "weight": self._weights[minute]})
        return self._refusal(FaultKind.RATE_LIMIT, 429, wait)

    def _refusal(self, kind: FaultKind, status: int, wait: int) -> Reply:
        reply = self.fault_reply(kind, status)
        reply.headers["Retry-After"] = str(wait)
        return reply

    def decorate(self, call: Call, headers: dict[str, str]) -> None:
        headers["X-MBX-USED-WEIGHT-1M"] = str(sum(self._weights.values()))

    def _lookup(self, symbol: str) -> Market | None:
        """Return the market of a vendor (BTCUSDT) or canonical (BTC-USDT) symbol."""
        return self.markets.get(symbol) or self.markets.get(symbol.replace("-", ""))

    def _resolve(self, symbol: str) -> Market:
        market = self._lookup(symbol)
        if market is None:
            raise VendorError(_error(400, -1121, "Invalid symbol."))
        return market

    async def _ping(self, request: web.Request, call: Call) -> Reply:
        return Reply({})

    async def _time(self, request: web.Request, call: Call) -> Reply:
        return Reply({"serverTime": to_ms(self.clock.now())})

    async def _exchange_info(self, request: web.Request, call: Call) -> Reply:
        asked = request.query.get("symbol")
        markets = [self._resolve(asked)] if asked else list(self.markets.values())
        return Reply({
            "timezone": "UTC", "serverTime": to_ms(self.clock.now()),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000}],
            "exchangeFilters": [],
            "symbols": [_symbol_info(m) for m in markets]})

    async def _klines(self, request: web.Request, call: Call) -> Reply:
        q = request.query
        if "symbol" not in q or "interval" not in q:
            missing = "symbol" if "symbol" not in q else "interval"
            raise VendorError(_error(400, -1102, f"Mandatory parameter '{missing}' was not "
                                     "sent, was empty/null, or malformed."))
        market = self._resolve(q["symbol"])
        call.symbol = market.symbol
        timeframe = INTERVALS.get(q["interval"])
        if timeframe is None:
            raise VendorError(_error(400, -1120, "Invalid interval."))
        limit = _long(q.get("limit", "500"), "limit")
        if not 1 <= limit <= 1000:
            raise VendorError(_error(400, -1130, "Data sent for parameter 'limit' is not "
                                     "valid."))
        start = _long(q["startTime"], "startTime") if "startTime" in q else None
        end = _long(q["endTime"], "endTime") if "endTime" in q else None
        now = self.clock.now()
        bars = self._select(market, timeframe, start, end, limit, now, call)
        rows = [_kline(r, timeframe) for r in self._frame(market, timeframe, bars, now)
                .iter_rows(named=True)]
        return Reply(rows, rows=Rows(rows, lambda r: int(r[0]), _revise, lambda: _extra(rows),
                                     timeframe.minutes * 60_000, to_ms(now)))

    def _select(self, market: Market, timeframe: Timeframe, start: int | None,
                end: int | None, limit: int, now: datetime, call: Call) -> pl.DataFrame:
        """Return up to `limit` bars by open time: from `start` forwards when given, else the
        newest up to `end` (or now); the still-open bar counts."""
        step = timeframe.duration
        first = max(self.history_start, floor_time(self.history_start - step, step) + step)
        last = floor_time(now, step) + step  # past the still-open bar
        if end is not None:
            last = min(last, floor_time(from_ms(end), step) + step)
        chunk = step * limit
        if start is not None:
            lo = max(first, floor_time(from_ms(start) - step, step) + step)
            got, hi = pl.DataFrame(), lo
            while hi < last and got.height < limit:
                part = self.book.bars(market, timeframe, hi, min(hi + chunk, last))
                got = part if not got.height else pl.concat([got, part])
                hi += chunk
            got = got.head(limit)
            full = got.height == limit  # the response covers up to its newest row
            self.log_withheld(market, timeframe, lo, got["ts"][-1] + step if full else last,
                              call)
            return got
        got, lo = pl.DataFrame(), last
        while lo > first and got.height < limit:
            part = self.book.bars(market, timeframe, max(first, lo - chunk), lo)
            got = part if not got.height else pl.concat([part, got])
            lo -= chunk
        got = got.tail(limit)
        self.log_withheld(market, timeframe, got["ts"][0] if got.height == limit else first,
                          last, call)
        return got

    def _frame(self, market: Market, timeframe: Timeframe, bars: pl.DataFrame,
               now: datetime) -> pl.DataFrame:
        """Return bars as Binance prints them: 8-decimal values, sparse pairs' quiet klines at
        the previous close with zero volume, the still-open kline at its partial values."""
        if not bars.height:
            return bars.with_columns(quote_volume=pl.lit(None, pl.Float64),
                                     taker_base=pl.lit(None, pl.Float64))
        ts_ms = bars["ts"].dt.epoch("ms").to_numpy()
        u = uniform(ts_ms, "kline", market.symbol)
        elapsed = np.clip((to_ms(now) - ts_ms) / (timeframe.minutes * 60_000), 0.0, 1.0)
        share = self.sparse.get(market.symbol, 0.0)
        bars = bars.with_columns(quiet=pl.Series(u < share), f=pl.Series(elapsed),
                                 u=pl.Series(u))
        open_, f, quiet = pl.col("open"), pl.col("f"), pl.col("quiet")
        partial = f < 1.0  # the still-open kline: its close so far, its volume so far
        bars = bars.with_columns(
            close=pl.when(partial).then(open_ + (pl.col("close") - open_) * f)
            .otherwise("close"),
            volume=pl.col("volume") * f,
            trades=(pl.col("trades") * f).floor().cast(pl.Int64))
        bars = bars.with_columns(
            high=pl.when(partial).then(pl.max_horizontal(open_, "close")).otherwise("high"),
            low=pl.when(partial).then(pl.min_horizontal(open_, "close")).otherwise("low"))
        bars = bars.with_columns(  # no trades: every price at the previous close (= open)
            [pl.when(quiet).then(open_).otherwise(pl.col(c)).alias(c) for c in PRICE_COLUMNS]
            + [pl.when(quiet).then(0.0).otherwise("volume").alias("volume"),
               pl.when(quiet).then(0).otherwise("trades").alias("trades")])
        bars = bars.with_columns([round_to(c, 8) for c in (*PRICE_COLUMNS, "volume")])
        bars = bars.with_columns(quote_volume=pl.col("volume") * pl.col("vwap"),
                                 taker_base=pl.col("volume") * (0.4 + 0.2 * pl.col("u")))
        bars = bars.with_columns(round_to("quote_volume", 8), round_to("taker_base", 8))
        bars = bars.with_columns(taker_quote=pl.col("taker_base") * pl.col("vwap"))
        return bars.with_columns(round_to("taker_quote", 8))


def _kline(bar: dict[str, Any], timeframe: Timeframe) -> list[Any]:
    open_ms = to_ms(bar["ts"])
    return [open_ms, f"{bar['open']:.8f}", f"{bar['high']:.8f}", f"{bar['low']:.8f}",
            f"{bar['close']:.8f}", f"{bar['volume']:.8f}", open_ms + timeframe.minutes * 60_000 - 1,
            f"{bar['quote_volume']:.8f}", int(bar["trades"]), f"{bar['taker_base']:.8f}",
            f"{bar['taker_quote']:.8f}", "0"]


def _revise(row: list[Any], factor: float) -> list[Any]:
    close = float(row[4]) * factor
    high, low = max(float(row[2]), close), min(float(row[3]), close)
    return [*row[:2], f"{high:.8f}", f"{low:.8f}", f"{close:.8f}", *row[5:]]


def _extra(rows: list[list[Any]]) -> str:
    for row in rows:
        row.append("0")  # a 13th element: Binance has appended fields to arrays before
    return "kline[12]"


def _symbol_info(market: Market) -> dict[str, Any]:
    base, quote = split_pair(market.symbol)
    return {
        "symbol": market.vendor_id, "status": "TRADING", "baseAsset": base,
        "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True,
        "ocoAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000001",
             "maxPrice": "1000000.00000000", "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "minQty": "0.00000001", "maxQty": "9000.00000000",
             "stepSize": "0.00000001"}],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]}


def _long(text: str, name: str) -> int:
    if not text.isdigit() or len(text) > 20:
        raise VendorError(_error(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                 "legal range is '^[0-9]{1,20}$'."))
    return int(text)


def _error(status: int, code: int, msg: str) -> Reply:
    return Reply({"code": code, "msg": msg}, status=status)


__all__ = ["BinanceVenue"]

"""Fake CoinGecko API v3: coin price charts and OHLC (api_contracts.md section 2).

`/api/v3/coins/{id}/market_chart` (`days`: 1 gives 5-minute samples, 2..90 hourly, more daily;
the last point is "now"), `/market_chart/range` (`from`/`to` in Unix seconds or ISO dates; a
range of at most a day ending now gives 5-minute samples, else hourly up to 90 days, else
daily), `/coins/{id}/ohlc` (no volume; candles stamped at their close; 30 minutes up to 2 days,
4 hours up to 30, 4 days beyond), `/ping`. Samples and candles are described in
`coingecko_chart`. Keys: a demo venue takes `x-cg-demo-api-key` or `x_cg_demo_api_key`, a pro
venue `x-cg-pro-api-key` or `x_cg_pro_api_key`; a key of the other plan gets 10010 (pro key on
the demo host) or 10011 (demo key on the pro host); `api_key=None` is the keyless public API.
Errors come in CoinGecko's three shapes. Only `vs_currency=usd` is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import polars as pl
from aiohttp import web

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.data.sample import SimulatorSpec
from raytrade.venues.coingecko_chart import bucket_bars, candle_plan, candles, samples
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

COIN_IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "DOGE": "dogecoin",
            "ADA": "cardano", "XRP": "ripple", "BNB": "binancecoin", "LTC": "litecoin"}
RATE_LIMITED = ("You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/"
                "pricing to subscribe to our API plans for higher rate limits.")
PRO_INTERVALS = {"5m": Timeframe.M5, "hourly": Timeframe.H1, "daily": Timeframe.D1}
FIVE_MINUTE_SLACK = timedelta(hours=1)  # a range "ending now" may end this much before now
DAY = timedelta(days=1)


def coin_id(symbol: str) -> str:
    base = split_pair(symbol)[0]
    return COIN_IDS.get(base, base.lower())


class CoinGeckoVenue(Venue):
    """Fake CoinGecko; clients use `api_root` (http://127.0.0.1:PORT/api/v3) as base URL."""

    name: ClassVar[str] = "coingecko"

    def __init__(self, *, symbols: Sequence[str] = ("BTC-USD", "ETH-USD", "SOL-USD"),
                 plan: Literal["demo", "pro"] = "demo", api_key: str | None = "test-key",
                 faults: FaultPlan | None = None, clock: Clock | None = None,
                 market_seed: int = 0, calls_per_minute: int | None = None,
                 history_start: datetime = datetime(2018, 1, 1, tzinfo=UTC),
                 host: str = "127.0.0.1", port: int = 0) -> None:
        spec = SimulatorSpec(seed=market_seed, missing_rate=0.0, outages_per_year=0.0)
        super().__init__(faults=faults, clock=clock, spec=spec, host=host, port=port)
        bad = [s for s in symbols if not s.endswith("-USD")]
        if bad:
            raise InputError(f"the CoinGecko fake serves BASE-USD coins only; got {bad}")
        self.markets = {coin_id(s): Market(s, coin_id(s)) for s in symbols}
        self.plan_name, self.api_key = plan, api_key
        self.history_start = history_start
        self._limiter = MinuteLimiter(calls_per_minute)

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/api/v3"

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("ping", "GET", "/api/v3/ping", self._ping),
                Endpoint("market_chart", "GET", "/api/v3/coins/{id}/market_chart",
                         self._market_chart, rows=True),
                Endpoint("market_chart_range", "GET", "/api/v3/coins/{id}/market_chart/range",
                         self._market_chart_range, rows=True),
                Endpoint("ohlc", "GET", "/api/v3/coins/{id}/ohlc", self._ohlc, rows=True)]

    def truth(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
              ) -> pl.DataFrame:
        """Return bars an honest client builds: 5m, 1h and 1d from price samples (one sample a
        bucket, so open = high = low = close), 4h from `/ohlc` candles; volume always null."""
        market = self.markets.get(symbol) or self.markets.get(coin_id(symbol))
        if market is None:
            raise self.not_served(symbol, [m.symbol for m in self.markets.values()])
        lo = max(start, self.history_start)
        hi = min(end, self.clock.now() - timeframe.duration + timedelta(microseconds=1))
        if timeframe is Timeframe.H4:
            bars = candles(self.book.bars(market, timeframe, lo, hi), timeframe.duration)
        elif timeframe in (Timeframe.M5, Timeframe.H1, Timeframe.D1):
            present = self.book.bars(market, timeframe, lo - timeframe.duration, hi)
            points = samples(self.book, market, timeframe, present, lo, hi)
            bars = bucket_bars(points, timeframe)
        else:
            raise InputError(f"CoinGecko gives 5m, 1h, 1d (samples) and 4h (ohlc) bars; "
                             f"not {timeframe}")
        bars = bars.filter(pl.col("ts").is_between(lo, hi, closed="left"))
        return canonical(bars.with_columns(symbol=pl.lit(market.symbol)), vendor=self.vendor)

    def fault_reply(self, kind: FaultKind, status: int) -> Reply:
        if status == 429:
            return _status_error(429, 429, RATE_LIMITED)
        if status == 502:
            return bad_gateway()
        return _status_error(status, status, "Internal Server Error")

    def admit(self, request: web.Request, call: Call) -> Reply | None:
        if self._limiter.allow():
            return None
        self.record(call, FaultKind.LIMIT, 429, {"calls_per_minute": self._limiter.calls or 0})
        return _status_error(429, 429, RATE_LIMITED)

    # -- handlers ----------------------------------------------------------------------------

    async def _ping(self, request: web.Request, call: Call) -> Reply:
        self._authorise(request)
        return Reply({"gecko_says": "(V3) To the Moon!"})

    async def _market_chart(self, request: web.Request, call: Call) -> Reply:
        market = self._market(request, call)
        days = self._days(request.query.get("days"))
        now = self.clock.now()
        lo = self.history_start if days is None else now - days * DAY
        span = now - lo
        auto = Timeframe.M5 if span <= DAY else Timeframe.H1 if span <= 90 * DAY else \
            Timeframe.D1
        granularity = self._interval(request, auto)
        return self._chart(request, call, market, granularity, max(lo, self.history_start), now,
                           with_now=True)

    async def _market_chart_range(self, request: web.Request, call: Call) -> Reply:
        market = self._market(request, call)
        lo, hi = (_moment(request.query.get(k), k) for k in ("from", "to"))
        now = self.clock.now()
        hi = min(hi, now)
        ends_now = hi >= now - FIVE_MINUTE_SLACK
        auto = Timeframe.M5 if hi - lo <= DAY and ends_now else \
            Timeframe.H1 if hi - lo <= 90 * DAY else Timeframe.D1
        granularity = self._interval(request, auto)
        return self._chart(request, call, market, granularity, max(lo, self.history_start), hi,
                           with_now=False)

    async def _ohlc(self, request: web.Request, call: Call) -> Reply:
        market = self._market(request, call)
        days = self._days(request.query.get("days"))
        now = self.clock.now()
        lo = self.history_start if days is None else now - days * DAY
        size, source = candle_plan(days or 10**5)
        first = floor_time(max(lo, self.history_start), size)
        present = self.served_bars(market, source, first, now, call)
        found = candles(present, size).filter(pl.col("ts") + size <= now,
                                              pl.col("ts") + size > lo)
        digits = _precision(request)
        rows = [[to_ms(r["ts"] + size), *(_round(r[c], digits) for c in ("open", "high", "low",
                                                                        "close"))]
                for r in found.iter_rows(named=True)]
        step = int(size.total_seconds() * 1000)
        return Reply(rows, rows=Rows(rows, lambda r: int(r[0]) - step, _revise_candle,
                                     lambda: _extra_candle(rows), step, to_ms(now)))

    def _chart(self, request: web.Request, call: Call, market: Market, granularity: Timeframe,
               lo: datetime, hi: datetime, *, with_now: bool) -> Reply:
        present = self.served_bars(market, granularity, lo - granularity.duration, hi, call)
        points = samples(self.book, market, granularity, present, lo, hi)
        if with_now and (not points.height or points["t"][-1] < to_ms(hi)):
            current = self.book.bars(market, granularity, floor_time(hi, granularity.duration),
                                     hi + granularity.duration)
            if current.height:
                tail = samples(self.book, market, granularity, current, hi - granularity.duration,
                               hi + granularity.duration).tail(1)
                points = pl.concat([points, tail.with_columns(t=pl.lit(to_ms(hi)))])
        digits = _precision(request)
        prices = [[t, _round(p, digits)] for t, p in zip(points["t"], points["price"],
                                                          strict=True)]
        body: dict[str, Any] = {
            "prices": prices,
            "market_caps": [[t, v] for t, v in zip(points["t"], points["market_cap"],
                                                    strict=True)],
            "total_volumes": [[t, v] for t, v in zip(points["t"], points["total_volume"],
                                                      strict=True)]}
        return Reply(body, rows=Rows(prices, lambda r: int(r[0]), _revise_price,
                                     lambda: _extra_chart(body), granularity.minutes * 60_000,
                                     to_ms(self.clock.now())))

    # -- parameters and keys -----------------------------------------------------------------

    def _market(self, request: web.Request, call: Call) -> Market:
        self._authorise(request)
        market = self.markets.get(request.match_info["id"])
        if market is None:
            raise VendorError(Reply({"error": "coin not found"}, status=404))
        call.symbol = market.symbol
        currency = request.query.get("vs_currency")
        if currency is None:
            raise VendorError(Reply({"error": "Missing parameter vs_currency"}, status=400))
        if currency.lower() != "usd":
            raise VendorError(Reply({"error": "invalid vs_currency"}, status=400))
        return market

    def _days(self, text: str | None) -> int | None:
        """Return whole days, or None for `max` (paid plans only)."""
        if text == "max" and self.plan_name == "pro":
            return None
        if text is None or not text.isdigit() or int(text) < 1:
            raise VendorError(Reply({"error": "invalid days"}, status=400))
        return int(text)

    def _interval(self, request: web.Request, auto: Timeframe) -> Timeframe:
        interval = request.query.get("interval")
        if interval is None or interval == "":
            return auto
        if interval not in PRO_INTERVALS:
            raise VendorError(Reply({"error": "invalid interval"}, status=400))
        if interval != "daily" and self.plan_name != "pro":
            raise VendorError(_status_error(401, 10005, "This request is limited to paid plan "
                                            "subscribers."))
        return PRO_INTERVALS[interval]

    def _authorise(self, request: web.Request) -> None:
        if self.api_key is None:
            return
        demo = request.headers.get("x-cg-demo-api-key") or request.query.get("x_cg_demo_api_key")
        pro = request.headers.get("x-cg-pro-api-key") or request.query.get("x_cg_pro_api_key")
        mine, other = (demo, pro) if self.plan_name == "demo" else (pro, demo)
        if mine is None and other is not None:
            code = 10010 if self.plan_name == "demo" else 10011
            raise VendorError(Reply({"error_code": code, "status": {
                "error_message": "If you are using Pro API key, please change your root URL "
                "from api.coingecko.com to pro-api.coingecko.com" if code == 10010 else
                "If you are using Demo API key, please change your root URL from "
                "pro-api.coingecko.com to api.coingecko.com"}}, status=401))
        if mine != self.api_key:
            message = "API Key Missing." if mine is None else "Invalid API Key."
            raise VendorError(_status_error(401, 10002, f"{message} Please make sure you're "
                                            "using the right authentication method."))


def _moment(text: str | None, name: str) -> datetime:
    """Parse a range bound: Unix seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC)."""
    if text is None:
        raise VendorError(Reply({"error": f"Missing parameter {name}"}, status=400))
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise VendorError(Reply({"error": f"invalid {name}"}, status=400)) from None


def _precision(request: web.Request) -> int | None:
    text = request.query.get("precision", "full")
    if text == "full":
        return None
    if not text.isdigit() or int(text) > 18:
        raise VendorError(Reply({"error": "invalid precision"}, status=400))
    return int(text)


def _round(value: float, digits: int | None) -> float:
    return value if digits is None else round(value, digits)


def _revise_price(row: list[Any], factor: float) -> list[Any]:
    return [row[0], row[1] * factor]


def _revise_candle(row: list[Any], factor: float) -> list[Any]:
    close = row[4] * factor
    return [row[0], row[1], max(row[2], close), min(row[3], close), close, *row[5:]]


def _extra_chart(body: dict[str, Any]) -> str:
    body["total_supply"] = [[t, 21e6] for t, _ in body["prices"][-1:]]
    return "total_supply"


def _extra_candle(rows: list[list[Any]]) -> str:
    for row in rows:
        row.append(0)
    return "ohlc[5]"


def _status_error(status: int, code: int, message: str) -> Reply:
    return Reply({"status": {"error_code": code, "error_message": message}}, status=status)


__all__ = ["CoinGeckoVenue", "coin_id"]

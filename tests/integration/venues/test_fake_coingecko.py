"""The fake CoinGecko venue matches the public OpenAPI document and the contract's semantics:
irregular samples, 24-hour volumes, close-stamped OHLC, demo and pro key rules."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import polars as pl
from polars.testing import assert_frame_equal
from venue_contracts import NOW, assert_valid, clock, coingecko_schema

from raytrade.core.types import Timeframe
from raytrade.venues import CoinGeckoVenue, FaultKind, FaultPlan, outage_windows

KEY = "cg-demo-key"
NOW_MS = int(NOW.timestamp() * 1000)
Answer = tuple[int, Any]


async def ask(venue: CoinGeckoVenue, path: str, params: dict[str, str],
              headers: dict[str, str] | None = None) -> Answer:
    async with aiohttp.ClientSession() as session, session.get(
            venue.api_root + path, params=params,
            headers={"x-cg-demo-api-key": KEY} if headers is None else headers) as resp:
        return resp.status, await resp.json(content_type=None)


def run_against(venue: CoinGeckoVenue, *calls: tuple[str, dict[str, str]]) -> list[Answer]:
    async def run() -> list[Answer]:
        async with venue:
            return [await ask(venue, path, params) for path, params in calls]
    return asyncio.run(run())


def sample_bars(prices: list[list[float]], step_ms: int, symbol: str) -> pl.DataFrame:
    """What an honest client makes of samples: per bucket, OHLC of the samples in it, no
    volume; buckets not yet closed dropped."""
    points = pl.DataFrame({"t": [int(p[0]) for p in prices], "price": [p[1] for p in prices]})
    bars = (points.with_columns(bucket=pl.col("t") // step_ms * step_ms)
            .filter(pl.col("bucket") + step_ms <= NOW_MS)
            .group_by("bucket", maintain_order=True)
            .agg(open=pl.col("price").first(), high=pl.col("price").max(),
                 low=pl.col("price").min(), close=pl.col("price").last()))
    return _canonical(bars, symbol)


def candle_bars(rows: list[list[float]], size_ms: int, symbol: str) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["t", "open", "high", "low", "close"], orient="row")
    return _canonical(frame.with_columns(bucket=pl.col("t").cast(pl.Int64) - size_ms), symbol)


def _canonical(bars: pl.DataFrame, symbol: str) -> pl.DataFrame:
    return bars.select(
        ts=pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us"), symbol=pl.lit(symbol), open="open", high="high", low="low",
        close="close", volume=pl.lit(None, pl.Float64), vwap=pl.lit(None, pl.Float64),
        trades=pl.lit(None, pl.Int64), vendor=pl.lit("coingecko"), backfilled=pl.lit(False))


def test_responses_match_the_openapi_schemas_and_the_contract() -> None:
    calls = [("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "1"}),
             ("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "30"}),
             ("/coins/solana/market_chart/range", {"vs_currency": "usd",
                                                   "from": "1704067200", "to": "1704240000"}),
             ("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": "1"}),
             ("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": "7"}),
             ("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": "90"})]
    answers = run_against(CoinGeckoVenue(clock=clock(), api_key=KEY), *calls)
    schemas = {"market_chart": coingecko_schema("/coins/{id}/market_chart"),
               "range": coingecko_schema("/coins/{id}/market_chart/range"),
               "ohlc": coingecko_schema("/coins/{id}/ohlc")}
    for (path, _), (status, body) in zip(calls, answers, strict=True):
        assert status == 200
        kind = "range" if path.endswith("range") else path.rsplit("/", 1)[1]
        assert_valid(body, schemas[kind])
    day, month, history, *ohlc = (body for _, body in answers)
    times = [p[0] for p in day["prices"]]
    steps = {b - a for a, b in itertools.pairwise(times[:-1])}  # the last point is "now"
    assert len(steps) > 10 and all(240_000 < s < 360_000 for s in steps), "irregular, ~5 min"
    assert times[-1] == NOW_MS and 287 <= len(times) <= 289, "5-minute samples, then now"
    assert all(t % 300_000 != 0 for t in times[:-1]), "samples are not on the 5-minute grid"
    assert [v[0] for v in day["total_volumes"]] == times and day["total_volumes"][-1][1] > 0
    assert 30 * 24 <= len(month["prices"]) <= 30 * 24 + 1  # hourly for 2..90 days
    assert len(history["prices"]) == 48 and history["prices"][0][0] >= 1704067200000
    for rows, size_ms in zip(ohlc, (1_800_000, 14_400_000, 345_600_000), strict=True):
        assert all(len(r) == 5 and r[0] % size_ms == 0 and r[0] <= NOW_MS for r in rows)
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_samples_and_candles_read_with_aiohttp_equal_the_truth() -> None:
    venue = CoinGeckoVenue(clock=clock(), api_key=KEY)
    (_, day), (_, week), (_, hours) = run_against(
        venue, ("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "1"}),
        ("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": "7"}),
        ("/coins/bitcoin/market_chart/range", {"vs_currency": "usd", "from": "1709856000",
                                               "to": "1710201600"}))
    five = venue.truth("bitcoin", Timeframe.M5, NOW - timedelta(days=1), NOW)
    four = venue.truth("BTC-USD", Timeframe.H4, datetime(2024, 3, 7, tzinfo=UTC), NOW)
    hourly = venue.truth("BTC-USD", Timeframe.H1, datetime(2024, 3, 8, tzinfo=UTC),
                         datetime(2024, 3, 12, tzinfo=UTC))
    assert_frame_equal(sample_bars(day["prices"], 300_000, "BTC-USD"), five)
    assert_frame_equal(candle_bars(week, 14_400_000, "BTC-USD"), four)
    assert_frame_equal(sample_bars(hours["prices"], 3_600_000, "BTC-USD").head(96), hourly)
    assert five.height == 287 and four.height == 42 and hourly.height == 96
    assert five["volume"].is_null().all(), "total_volumes are 24-hour figures, not bar volume"


def test_keys_follow_demo_and_pro_semantics() -> None:
    chart = "/coins/bitcoin/market_chart"
    params = {"vs_currency": "usd", "days": "1"}

    async def run() -> list[Answer]:
        async with CoinGeckoVenue(clock=clock(), api_key=KEY) as demo, \
                CoinGeckoVenue(clock=clock(), api_key="pro-key", plan="pro") as pro, \
                CoinGeckoVenue(clock=clock(), api_key=None) as public:
            return [await ask(demo, chart, params | {"x_cg_demo_api_key": KEY}, headers={}),
                    await ask(demo, chart, params, headers={}),
                    await ask(demo, chart, params, headers={"x-cg-demo-api-key": "wrong"}),
                    await ask(demo, chart, params, headers={"x-cg-pro-api-key": KEY}),
                    await ask(pro, chart, params, headers={"x-cg-pro-api-key": "pro-key"}),
                    await ask(pro, chart, params, headers={"x-cg-demo-api-key": KEY}),
                    await ask(public, chart, params, headers={}),
                    await ask(demo, "/coins/nocoin/ohlc", params),
                    await ask(demo, chart, {"days": "1"})]

    (query, missing, wrong, pro_on_demo, pro_ok, demo_on_pro, keyless, unknown,
     no_currency) = asyncio.run(run())
    assert query[0] == pro_ok[0] == keyless[0] == 200
    assert missing == (401, {"status": {"error_code": 10002, "error_message": missing[1][
        "status"]["error_message"]}}) and "Missing" in missing[1]["status"]["error_message"]
    assert wrong[0] == 401 and wrong[1]["status"]["error_code"] == 10002
    assert pro_on_demo[0] == 401 and pro_on_demo[1]["error_code"] == 10010
    assert demo_on_pro[0] == 401 and demo_on_pro[1]["error_code"] == 10011
    assert unknown == (404, {"error": "coin not found"})
    assert no_currency[0] == 400 and "error" in no_currency[1]


def test_rate_limit_body_and_outage_windows() -> None:
    windows = outage_windows(["BTC-USD"], NOW - timedelta(hours=20), NOW - timedelta(hours=1),
                             seed=2, timeframe=Timeframe.M5, max_bars=6)
    limited = CoinGeckoVenue(clock=clock(), api_key=KEY, calls_per_minute=1)
    (ok, _), (status, body) = run_against(
        limited, *[("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": "1"})] * 2)
    assert (ok, status) == (200, 429) and body["status"]["error_code"] == 429
    assert "Rate Limit" in body["status"]["error_message"] and limited.faults(FaultKind.LIMIT)
    venue = CoinGeckoVenue(clock=clock(), api_key=KEY, faults=FaultPlan(outages=windows))
    (_, day), = run_against(venue, ("/coins/bitcoin/market_chart", {"vs_currency": "usd",
                                                                    "days": "1"}))
    truth = venue.truth("BTC-USD", Timeframe.M5, NOW - timedelta(days=1), NOW)
    for lo, hi in windows["BTC-USD"]:
        lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
        assert not [p for p in day["prices"] if lo_ms <= p[0] < hi_ms]
        assert truth.filter(pl.col("ts").is_between(lo, hi, closed="left")).is_empty()
    assert sum(int(f.detail["withheld"]) for f in venue.faults(FaultKind.OUTAGE)) == sum(
        int((hi - lo) / timedelta(minutes=5)) for lo, hi in windows["BTC-USD"])

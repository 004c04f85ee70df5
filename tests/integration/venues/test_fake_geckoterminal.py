"""The fake GeckoTerminal venue matches the on-chain OpenAPI document and the contract: JSON:API
wrapper, seconds, newest first, before_timestamp paging, 30 calls a minute."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import polars as pl
from polars.testing import assert_frame_equal
from venue_contracts import NOW, assert_valid, clock, geckoterminal_schema

from raytrade.core.types import Timeframe
from raytrade.venues import FaultKind, FaultPlan, GeckoTerminalVenue, outage_windows

Answer = tuple[int, Any]
NOW_S = int(NOW.timestamp())


def ohlcv_path(venue: GeckoTerminalVenue, symbol: str, timeframe: str = "minute") -> str:
    pool = venue.pools[symbol]
    return f"/networks/{pool.network}/pools/{pool.address}/ohlcv/{timeframe}"  # under api_root


def asking(venue: GeckoTerminalVenue, *calls: tuple[str, dict[str, str]]) -> list[Answer]:
    async def run() -> list[Answer]:
        async with venue, aiohttp.ClientSession(
                headers={"Accept": "application/json;version=20230302"}) as session:
            answers = []
            for path, params in calls:
                async with session.get(venue.api_root + path, params=params) as resp:
                    answers.append((resp.status, await resp.json()))
            return answers
    return asyncio.run(run())


def rows_frame(rows: list[list[float]], symbol: str) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["t", "open", "high", "low", "close", "volume"],
                         orient="row")
    return frame.sort("t").select(
        ts=pl.from_epoch(pl.col("t").cast(pl.Int64), time_unit="s").dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us"), symbol=pl.lit(symbol), open="open", high="high", low="low",
        close="close", volume="volume", vwap=pl.lit(None, pl.Float64),
        trades=pl.lit(None, pl.Int64), vendor=pl.lit("geckoterminal"), backfilled=pl.lit(False))


def test_responses_match_the_openapi_schema_and_the_contract() -> None:
    venue = GeckoTerminalVenue(clock=clock(), symbols=["BTC-USD", "SOL-USD", "BNB-USD"])
    url = ohlcv_path(venue, "BTC-USD")
    answers = asking(venue, (url, {}), (url, {"aggregate": "5", "limit": "1000"}),
                     (ohlcv_path(venue, "SOL-USD", "hour"), {"aggregate": "4"}),
                     (ohlcv_path(venue, "BNB-USD", "day"), {"before_timestamp": str(NOW_S)}),
                     (url, {"token": "quote", "currency": "token", "limit": "5"}))
    schema = geckoterminal_schema()
    for status, body in answers:
        assert status == 200
        assert_valid(body, schema)
        assert body["data"]["type"] == "ohlcv_request_response"
        assert {"address", "name", "symbol", "coingecko_coin_id"} == set(body["meta"]["base"])
        rows = body["data"]["attributes"]["ohlcv_list"]
        stamps = [r[0] for r in rows]
        assert stamps == sorted(stamps, reverse=True), "newest first"
        assert all(len(r) == 6 and isinstance(r[0], int) for r in rows)
    (_, default), (_, five), (_, hours), (_, days), (_, inverted) = answers
    newest = default["data"]["attributes"]["ohlcv_list"]
    assert len(newest) == 100 and newest[0][0] <= NOW_S < newest[0][0] + 60, "in progress"
    assert all(r[0] % 300 == 0 for r in five["data"]["attributes"]["ohlcv_list"])
    assert all(r[0] % 14_400 == 0 for r in hours["data"]["attributes"]["ohlcv_list"])
    assert all(r[0] < NOW_S for r in days["data"]["attributes"]["ohlcv_list"]), "strict <"
    assert inverted["data"]["attributes"]["ohlcv_list"][0][1] < 1 < newest[0][1]


def test_paging_backwards_with_before_timestamp_gives_exactly_the_truth() -> None:
    venue = GeckoTerminalVenue(clock=clock())
    url = ohlcv_path(venue, "SOL-USD")

    async def page_back() -> list[list[float]]:
        rows: list[list[float]] = []
        async with venue, aiohttp.ClientSession() as session:
            before = None
            while True:
                params = {"limit": "1000"} | ({"before_timestamp": str(before)} if before else {})
                async with session.get(venue.api_root + url, params=params) as resp:
                    page = (await resp.json())["data"]["attributes"]["ohlcv_list"]
                rows += page
                before = page[-1][0]  # the oldest row of the page
                if before <= NOW_S - 2 * 86_400:
                    return rows

    rows = [r for r in asyncio.run(page_back()) if r[0] + 60 <= NOW_S]  # drop the open bar
    truth = venue.truth("SOL-USD", Timeframe.M1, NOW - timedelta(days=2), NOW)
    served = rows_frame(rows, "SOL-USD").filter(pl.col("ts") >= NOW - timedelta(days=2))
    assert len(venue.requests()) == 3
    assert_frame_equal(served, truth)
    minutes = truth["ts"].diff().drop_nulls().dt.total_minutes()
    assert truth.height < 2 * 1440 and (minutes > 1).any(), "minutes without swaps are skipped"


def test_empty_intervals_are_filled_only_when_asked() -> None:
    windows = outage_windows(["BTC-USD"], NOW - timedelta(minutes=90), NOW, seed=4,
                             per_symbol=1, max_bars=5)
    venue = GeckoTerminalVenue(clock=clock(), faults=FaultPlan(outages=windows))
    url = ohlcv_path(venue, "BTC-USD")
    (_, skipped), (_, filled) = asking(venue, (url, {"limit": "90"}),
                                       (url, {"limit": "90", "include_empty_intervals": "true"}))
    lo, hi = (int(t.timestamp()) for t in windows["BTC-USD"][0])
    gap = [r for r in skipped["data"]["attributes"]["ohlcv_list"] if lo <= r[0] < hi]
    fill = [r for r in filled["data"]["attributes"]["ohlcv_list"] if lo <= r[0] < hi]
    assert gap == [] and len(fill) == (hi - lo) // 60
    assert all(r[5] == 0 and r[1] == r[2] == r[3] == r[4] for r in fill)
    assert venue.truth("BTC-USD", Timeframe.M1, NOW - timedelta(hours=2), NOW).filter(
        pl.col("ts").dt.epoch("s").is_between(lo, hi, closed="left")).is_empty()
    assert venue.faults(FaultKind.OUTAGE)[0].detail["withheld"] == (hi - lo) // 60


def test_thirty_calls_a_minute_then_429_and_errors_in_jsonapi_shape() -> None:
    venue = GeckoTerminalVenue(clock=clock())
    url = ohlcv_path(venue, "BTC-USD")
    bad = [(url.replace(venue.pools["BTC-USD"].address, "0xdead"), {}),
           (url, {"aggregate": "2"}), (url, {"limit": "1001"})]
    answers = asking(venue, *bad, *[(url, {"limit": "1"})] * 28)
    (missing, _), (aggregate, _), (limit, error) = answers[:3]
    assert (missing, aggregate, limit) == (404, 400, 400)
    assert error["errors"][0]["status"] == "400"
    assert [s for s, _ in answers[3:]] == [200] * 27 + [429]  # the 31st call in the minute
    body = answers[-1][1]
    assert body["status"]["error_code"] == 429 and "Rate Limit" in body["status"][
        "error_message"]
    assert len(venue.faults(FaultKind.LIMIT)) == 1

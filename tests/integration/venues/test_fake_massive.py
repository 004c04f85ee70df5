"""The fake Massive venue speaks the aggregates contract and the real `massive` SDK reads it."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import aiohttp
import polars as pl
import pytest
from massive import RESTClient
from massive.exceptions import BadResponse
from polars.testing import assert_frame_equal
from venue_contracts import NOW, assert_valid, clock, massive_schema

from raytrade.core.types import Timeframe
from raytrade.venues import FaultKind, FaultPlan, MassiveVenue, outage_windows, running

KEY = "massive-test-key"
SESSION_START = datetime(2024, 3, 11, 4, tzinfo=UTC)  # Monday 00:00 New York (after DST)
AGGS = "/v2/aggs/ticker/{}/range/{}/{}/{}/{}"


def sdk_frame(aggs: list[Any], symbol: str) -> pl.DataFrame:
    """Turn the SDK's Agg objects into canonical bars (the minimal honest conversion)."""
    frame = pl.DataFrame({
        "ts": [a.timestamp for a in aggs], "open": [a.open for a in aggs],
        "high": [a.high for a in aggs], "low": [a.low for a in aggs],
        "close": [a.close for a in aggs], "volume": [a.volume for a in aggs],
        "vwap": [a.vwap for a in aggs], "trades": [a.transactions for a in aggs]})
    return frame.with_columns(
        ts=pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
        symbol=pl.lit(symbol), vendor=pl.lit("massive"), backfilled=pl.lit(False),
    ).select("ts", "symbol", "open", "high", "low", "close", "volume", "vwap", "trades",
             "vendor", "backfilled")


async def _get_all(venue: MassiveVenue, paths: list[str], **headers: str
                   ) -> list[tuple[int, Any]]:
    async with aiohttp.ClientSession(headers=headers) as session:
        out = []
        for path in paths:
            async with session.get(venue.base_url + path) as resp:
                out.append((resp.status, await resp.json()))
        return out


def test_every_response_matches_the_openapi_schema_of_the_aggregates_operation() -> None:
    paths = [AGGS.format("AAPL", 1, "minute", "2024-03-11", "2024-03-12") + "?limit=120",
             AGGS.format("AAPL", 5, "minute", "2024-03-11", "2024-03-13") + "?sort=desc",
             AGGS.format("MSFT", 1, "day", "2024-01-01", "2024-03-13") + "?adjusted=false",
             AGGS.format("SPY", 1, "hour", "2024-03-09", "2024-03-10"),  # a weekend: no bars
             AGGS.format("NOPE", 1, "minute", "2024-03-11", "2024-03-11")]

    async def run() -> list[tuple[int, Any]]:
        async with MassiveVenue(clock=clock(), api_key=KEY) as venue:
            return await _get_all(venue, paths, Authorization=f"Bearer {KEY}")

    answers = asyncio.run(run())
    schema = massive_schema()
    for status, body in answers:
        assert status == 200
        assert_valid(body, schema)
        assert len(body["request_id"]) == 32 and body["status"] == "OK"
        assert body["resultsCount"] == len(body.get("results", []))
    first, desc, daily, weekend, unknown = (b for _, b in answers)
    assert first["resultsCount"] == 120 and first["next_url"].startswith("http://127.0.0.1:")
    cursor = first["next_url"].split("cursor=")[1]
    assert base64.urlsafe_b64decode(cursor + "==").decode() == \
        "limit=120&sort=asc&adjusted=true"
    stamps = [r["t"] for r in desc["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {datetime.fromtimestamp(r["t"] / 1000, UTC).hour for r in daily["results"]} == {4, 5}
    assert "results" not in weekend and "results" not in unknown  # omitted, not empty


def test_sdk_pages_through_next_url_to_exactly_the_truth() -> None:
    with running(MassiveVenue(clock=clock(), api_key=KEY)) as venue:
        client = RESTClient(api_key=KEY, base=venue.base_url, retries=0)
        aggs = list(client.list_aggs("AAPL", 1, "minute", "2024-03-11", "2024-03-13", limit=400))
        daily = list(client.list_aggs("AAPL", 1, "day", "2024-02-01", "2024-03-13", limit=7))
        truth = venue.truth("AAPL", Timeframe.M1, SESSION_START, NOW)
        daily_truth = venue.truth("AAPL", Timeframe.D1, datetime(2024, 2, 1, 5, tzinfo=UTC), NOW)
        pages = len(venue.requests())
    assert pages >= 3 + 4  # 1170 minutes in pages of 400; ~28 sessions in pages of 7
    assert truth.height > 1000
    assert_frame_equal(sdk_frame(aggs, "AAPL"), truth)
    assert_frame_equal(sdk_frame(daily, "AAPL"), daily_truth)
    gaps = truth["ts"].diff().drop_nulls().dt.total_minutes()
    assert (gaps.filter(gaps < 60) > 1).any(), "a minute without trades is a gap, not a bar"


def test_sorting_descending_pages_backwards_to_the_same_bars() -> None:
    with running(MassiveVenue(clock=clock(), api_key=KEY)) as venue:
        client = RESTClient(api_key=KEY, base=venue.base_url, retries=0)
        aggs = list(client.list_aggs("MSFT", 5, "minute", "2024-03-11", "2024-03-12",
                                     sort="desc", limit=500))
        truth = venue.truth("MSFT", Timeframe.M5, SESSION_START,
                            datetime(2024, 3, 13, 4, tzinfo=UTC))  # to 2024-03-12, inclusive
    assert len(venue.requests()) > 1
    assert_frame_equal(sdk_frame(aggs[::-1], "MSFT"), truth)


def test_a_bad_key_is_a_401_with_massives_body_and_the_query_key_works() -> None:
    path = AGGS.format("AAPL", 1, "minute", "2024-03-11", "2024-03-11")
    with running(MassiveVenue(clock=clock(), api_key=KEY)) as venue:
        with pytest.raises(BadResponse, match="Unknown API Key"):
            list(RESTClient(api_key="wrong", base=venue.base_url, retries=0)
                 .list_aggs("AAPL", 1, "minute", "2024-03-11", "2024-03-11"))
        (status, body), = asyncio.run(_get_all(venue, [f"{path}?apiKey={KEY}&limit=50"]))
        (bad, error), = asyncio.run(_get_all(venue, [f"{path}?apiKey=nope"]))
        logged = [r.path for r in venue.requests()]
    assert status == 200 and body["resultsCount"] == 50
    assert bad == 401 and error["status"] == "ERROR" and error["error"] == "Unknown API Key"
    assert all("nope" not in p and KEY not in p for p in logged), "keys are redacted in the log"


def test_outage_windows_are_absent_from_pages_and_truth_and_logged() -> None:
    windows = outage_windows(["AAPL"], datetime(2024, 3, 11, 14, 30, tzinfo=UTC),
                             datetime(2024, 3, 11, 20, tzinfo=UTC), seed=3, max_bars=20)
    plan = FaultPlan(outages=windows)
    with running(MassiveVenue(clock=clock(), api_key=KEY, faults=plan)) as venue, \
            running(MassiveVenue(clock=clock(), api_key=KEY)) as honest:
        aggs = list(RESTClient(api_key=KEY, base=venue.base_url, retries=0)
                    .list_aggs("AAPL", 1, "minute", "2024-03-11", "2024-03-11"))
        truth = venue.truth("AAPL", Timeframe.M1, SESSION_START, NOW)
        full = honest.truth("AAPL", Timeframe.M1, SESSION_START, NOW)
        logged = venue.faults(FaultKind.OUTAGE)
    served = sdk_frame(aggs, "AAPL")
    inside = pl.any_horizontal(pl.col("ts").is_between(lo, hi, closed="left") for lo, hi in
                               windows["AAPL"])
    assert served.filter(inside).is_empty() and truth.filter(inside).is_empty()
    assert_frame_equal(truth, full.filter(~inside))
    assert {(r.detail["start"], r.detail["end"]) for r in logged} == {
        (lo.isoformat(), hi.isoformat()) for lo, hi in windows["AAPL"]}
    assert sum(int(r.detail["withheld"]) for r in logged) == full.filter(inside).height > 0
    assert all((r.symbol, r.endpoint, r.status, r.at) == ("AAPL", "aggs", 200, NOW)
               for r in logged)


def test_the_sdk_silently_stops_paging_on_a_truncated_page() -> None:
    """SDK quirk worth knowing: `list_aggs` logs undecodable JSON and ends the iteration, so a
    client must check coverage itself rather than trust a clean return."""
    plan = FaultPlan(endpoints={"aggs": {FaultKind.TRUNCATED_JSON: 1.0}})
    with running(MassiveVenue(clock=clock(), api_key=KEY, faults=plan)) as venue:
        aggs = list(RESTClient(api_key=KEY, base=venue.base_url, retries=0)
                    .list_aggs("AAPL", 1, "minute", "2024-03-11", "2024-03-11"))
    assert aggs == [] and len(venue.faults(FaultKind.TRUNCATED_JSON)) == 1

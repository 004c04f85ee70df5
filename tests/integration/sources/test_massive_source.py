"""The Massive adapter, through the real `massive` SDK, against the fake Massive venue."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from venue_harness import (
    NOW,
    PER_REQUEST,
    SleepRecorder,
    assert_equals_truth,
    assert_retry_after_honoured,
    clock,
    fast_rate,
    fast_retry,
    plan,
)

from raytrade.core.errors import PermanentError, TransientError
from raytrade.core.types import Timeframe
from raytrade.sources.base import CredentialsError
from raytrade.sources.massive import MassiveSource
from raytrade.venues import FaultKind, FaultPlan, MassiveVenue, outage_windows

KEY = "test-key"
START = NOW - timedelta(days=3)  # Monday to Wednesday: three sessions of minute bars


def source(venue: MassiveVenue, sleep: SleepRecorder, key: str = KEY, attempts: int = 10,
           page_limit: int = 300) -> MassiveSource:
    return MassiveSource(SecretStr(key), base_url=venue.base_url, clock=venue.clock,
                         retry=fast_retry(sleep, attempts), rate=fast_rate(),
                         page_limit=page_limit)


async def fetch(faults: FaultPlan | None, symbol: str = "AAPL",
                timeframe: Timeframe = Timeframe.M1, start: datetime = START,
                end: datetime = NOW, **kw: object):  # type: ignore[no-untyped-def]
    sleep = SleepRecorder()
    async with MassiveVenue(faults=faults, clock=clock(), api_key=KEY) as venue:
        bars = await source(venue, sleep, **kw).fetch_bars(  # type: ignore[arg-type]
            symbol, timeframe, start, end)
        return bars, venue.truth(symbol, timeframe, start, end), venue, sleep


@pytest.mark.parametrize("kind", sorted(PER_REQUEST - {FaultKind.BAN}))
def test_bars_equal_the_truth_under_each_fault(kind: FaultKind) -> None:
    bars, truth, venue, sleep = asyncio.run(fetch(plan([kind], 0.4)))
    assert venue.faults(kind), f"no {kind} was injected: pick another seed"
    assert len(venue.requests()) > 3  # pagination through next_url was exercised
    assert_equals_truth(bars, truth)
    assert_retry_after_honoured(venue, sleep)


def test_mixed_faults_and_outages_leave_exactly_the_truth() -> None:
    outages = outage_windows(["AAPL"], START + timedelta(hours=14), NOW, seed=1)
    bars, truth, venue, _ = asyncio.run(fetch(plan(PER_REQUEST, 0.2, seed=11, outages=outages)))
    assert_equals_truth(bars, truth)
    assert venue.faults(FaultKind.OUTAGE)
    for lo, hi in outages["AAPL"]:
        assert bars.filter((bars["ts"] >= lo) & (bars["ts"] < hi)).is_empty()


def test_persistent_server_errors_give_up_as_transient_after_the_budget() -> None:
    faults = FaultPlan(rates={FaultKind.SERVER_ERROR: 1.0})
    with pytest.raises(TransientError, match="after 3 failed attempts"):
        asyncio.run(fetch(faults, attempts=3))


def test_bad_key_fails_fast_as_permanent_without_the_key_anywhere(
        caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-wrong-5e1c4e7"

    async def run() -> int:
        async with MassiveVenue(clock=clock(), api_key=KEY) as venue:
            with pytest.raises(CredentialsError) as info:
                await source(venue, SleepRecorder(), key=secret).fetch_bars(
                    "AAPL", Timeframe.M1, START, NOW)
            err = info.value
            assert isinstance(err, PermanentError)
            assert "massive" in str(err) and "AAPL" in str(err)
            assert "RAYTRADE_MASSIVE_API_KEY" in str(err)
            assert secret not in str(err) and secret not in repr(err)
            return len(venue.requests())
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(run()) == 1
    assert secret not in caplog.text


def test_unknown_ticker_is_an_empty_answer_as_on_the_real_service() -> None:
    # Massive answers 200 without `results` for a ticker it does not know; no error to raise.
    async def run() -> tuple[int, int]:
        async with MassiveVenue(clock=clock(), api_key=KEY) as venue:
            bars = await source(venue, SleepRecorder()).fetch_bars("ZZZZ", Timeframe.M1,
                                                                   START, NOW)
            return bars.height, len(venue.requests())
    assert asyncio.run(run()) == (0, 1)


def test_daily_bars_open_at_new_york_midnight_across_the_dst_change() -> None:
    start, end = datetime(2024, 3, 4, tzinfo=UTC), NOW
    bars, truth, _, _ = asyncio.run(fetch(None, timeframe=Timeframe.D1, start=start, end=end))
    assert_equals_truth(bars, truth)
    hours = {ts.day: ts.hour for ts in bars["ts"]}
    assert hours[8] == 5 and hours[11] == 4  # EST Friday, EDT Monday


def test_the_sdk_alone_would_silently_drop_an_unparsable_page() -> None:
    # Why the adapter hooks the SDK's JSON decoder: left alone, `list_aggs` ends quietly on a
    # page that is not JSON and returns what it had. The adapter retries that page instead.
    from massive import RESTClient

    async def run() -> tuple[int, int]:
        faults = FaultPlan(endpoints={"aggs": {FaultKind.INVALID_JSON: 1.0}})
        async with MassiveVenue(faults=faults, clock=clock(), api_key=KEY) as venue:
            client = RESTClient(api_key=KEY, base=venue.base_url, retries=0)
            aggs = await asyncio.to_thread(lambda: list(client.list_aggs(
                "AAPL", 1, "minute", START, NOW - timedelta(milliseconds=1), limit=300)))
            return len(aggs), venue.truth("AAPL", Timeframe.M1, START, NOW).height
    got, truth = asyncio.run(run())
    assert got == 0 < truth

"""The GeckoTerminal adapter (aiohttp, paging backwards) against the fake GeckoTerminal venue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from venue_harness import (
    NOW,
    PER_REQUEST,
    SleepRecorder,
    assert_equals_truth,
    assert_retry_after_honoured,
    fast_rate,
    fast_retry,
    plan,
)

from raytrade.config.collect import PoolRef
from raytrade.core.clock import FakeClock
from raytrade.core.errors import PermanentError
from raytrade.core.types import Timeframe
from raytrade.sources.base import UnknownSymbolError
from raytrade.sources.geckoterminal import GeckoTerminalSource
from raytrade.venues import FaultKind, FaultPlan, GeckoTerminalVenue, outage_windows, pool_for

SYMBOL = "ETH-USD"


def pools(*symbols: str) -> dict[str, PoolRef]:
    return {s: PoolRef(network=pool_for(s).network, address=pool_for(s).address)
            for s in symbols}


def source(venue: GeckoTerminalVenue, sleep: SleepRecorder, page_limit: int = 500,
           mapping: dict[str, PoolRef] | None = None) -> GeckoTerminalSource:
    return GeckoTerminalSource(mapping or pools(SYMBOL), base_url=venue.api_root,
                               clock=venue.clock, retry=fast_retry(sleep), rate=fast_rate(),
                               page_limit=page_limit)


async def fetch(faults: FaultPlan | None, days: int = 2, now: datetime = NOW,
                page_limit: int = 500):  # type: ignore[no-untyped-def]
    sleep = SleepRecorder()
    start = NOW - timedelta(days=days)
    async with GeckoTerminalVenue(faults=faults, clock=FakeClock(now),
                                  calls_per_minute=None) as venue:
        bars = await source(venue, sleep, page_limit).fetch_bars(SYMBOL, Timeframe.M1, start,
                                                                now)
        return bars, venue.truth(SYMBOL, Timeframe.M1, start, now), venue, sleep


@pytest.mark.parametrize("kind", sorted(PER_REQUEST - {FaultKind.BAN}))
def test_bars_equal_the_truth_under_each_fault(kind: FaultKind) -> None:
    bars, truth, venue, sleep = asyncio.run(fetch(plan([kind], 0.4)))
    assert venue.faults(kind), f"no {kind} was injected: pick another seed"
    assert_equals_truth(bars, truth)
    assert_retry_after_honoured(venue, sleep)


def test_three_days_with_mixed_faults_and_outages_leave_exactly_the_truth() -> None:
    outages = outage_windows([SYMBOL], NOW - timedelta(days=3), NOW, seed=4)
    bars, truth, venue, _ = asyncio.run(fetch(plan(PER_REQUEST, 0.2, seed=9, outages=outages),
                                              days=3, page_limit=1000))
    assert_equals_truth(bars, truth)
    assert venue.faults(FaultKind.OUTAGE)
    assert bars["ts"].is_sorted()  # newest-first pages come out oldest first


def test_the_candle_in_progress_is_dropped() -> None:
    now = NOW + timedelta(seconds=20)
    bars, truth, *_ = asyncio.run(fetch(None, days=1, now=now))
    assert_equals_truth(bars, truth)
    assert bars["ts"].max() < NOW


def test_wrong_pool_address_fails_fast_as_unknown_symbol() -> None:
    async def run() -> int:
        async with GeckoTerminalVenue(clock=FakeClock(NOW)) as venue:
            wrong = {SYMBOL: PoolRef(network="eth", address="0xdeadbeef")}
            with pytest.raises(UnknownSymbolError) as info:
                await source(venue, SleepRecorder(), mapping=wrong).fetch_bars(
                    SYMBOL, Timeframe.M1, NOW - timedelta(hours=1), NOW)
            assert isinstance(info.value, PermanentError)
            assert "0xdeadbeef" in str(info.value) and "pools mapping" in str(info.value)
            return len(venue.requests())
    assert asyncio.run(run()) == 1


def test_default_client_rate_stays_under_the_keyless_limit() -> None:
    # 30 calls a minute on the venue; the client's default limit lets 5 through at once and
    # then one every 2.4 s, so a short backfill of 4 pages never meets a 429.
    async def run() -> tuple[int, int]:
        async with GeckoTerminalVenue(clock=FakeClock(NOW)) as venue:
            src = GeckoTerminalSource(pools(SYMBOL), base_url=venue.api_root, clock=venue.clock,
                                      retry=fast_retry(SleepRecorder()), page_limit=1000)
            bars = await src.fetch_bars(SYMBOL, Timeframe.M1, NOW - timedelta(days=2), NOW)
            return len(venue.faults(FaultKind.LIMIT)), bars.height
    refused, height = asyncio.run(run())
    assert refused == 0 and height > 2000

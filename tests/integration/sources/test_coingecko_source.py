"""The CoinGecko adapter (aiohttp) against the fake CoinGecko venue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import polars as pl
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

from raytrade.core.types import Timeframe
from raytrade.sources.base import CredentialsError, UnknownSymbolError
from raytrade.sources.coingecko import CoinGeckoSource, Plan
from raytrade.venues import CoinGeckoVenue, FaultKind, FaultPlan

KEY = "cg-test-key"


def source(venue: CoinGeckoVenue, sleep: SleepRecorder, key: str | None = KEY,
           plan_name: Plan = "demo", **kw: object) -> CoinGeckoSource:
    return CoinGeckoSource(SecretStr(key) if key else None, plan=plan_name,
                           base_url=venue.api_root, clock=venue.clock,
                           retry=fast_retry(sleep), rate=fast_rate(), **kw)  # type: ignore[arg-type]


async def fetch(faults: FaultPlan | None, timeframe: Timeframe, start: datetime,
                end: datetime):  # type: ignore[no-untyped-def]
    sleep = SleepRecorder()
    async with CoinGeckoVenue(faults=faults, clock=clock(), api_key=KEY) as venue:
        bars = await source(venue, sleep).fetch_bars("BTC-USD", timeframe, start, end)
        return bars, venue.truth("BTC-USD", timeframe, start, end), venue, sleep


@pytest.mark.parametrize("kind", sorted(PER_REQUEST - {FaultKind.BAN}))
def test_hourly_history_equals_the_truth_under_each_fault(kind: FaultKind) -> None:
    # Ten range calls (one a day) of hourly samples, each made into an hourly bar. The window
    # ends a day before now: CoinGecko answers a range ending now with 5-minute samples.
    end = NOW - timedelta(days=1)
    bars, truth, venue, sleep = asyncio.run(fetch(plan([kind], 0.4), Timeframe.H1,
                                                  end - timedelta(days=10), end))
    assert venue.faults(kind), f"no {kind} was injected: pick another seed"
    assert_equals_truth(bars, truth)
    assert bars["volume"].null_count() == bars.height  # 24-hour volumes are not bar volumes
    assert_retry_after_honoured(venue, sleep)


def test_last_day_of_five_minute_bars_from_samples_equals_the_truth() -> None:
    last = NOW - timedelta(minutes=5)
    bars, truth, venue, _ = asyncio.run(fetch(plan(PER_REQUEST, 0.3, seed=3), Timeframe.M5,
                                              NOW - timedelta(days=1), NOW))
    assert {r.endpoint for r in venue.requests()} == {"market_chart"}
    assert bars.height == 288  # every window of the day has its sample: no gap
    # The venue's truth stops one window early: it cuts samples at `now - 5m`, so the window
    # [23:55, 24:00), closed at now and sampled at 23:55:xx, is missing there (reported).
    assert_equals_truth(bars.filter(pl.col("ts") < last), truth)
    assert bars["ts"].max() == last


def test_bad_key_fails_fast_as_permanent_without_the_key() -> None:
    secret = "cg-wrong-91f3"

    async def run() -> int:
        async with CoinGeckoVenue(clock=clock(), api_key=KEY) as venue:
            with pytest.raises(CredentialsError) as info:
                await source(venue, SleepRecorder(), key=secret).fetch_bars(
                    "BTC-USD", Timeframe.M5, NOW - timedelta(hours=2), NOW)
            assert secret not in str(info.value) and secret not in repr(info.value)
            assert "RAYTRADE_COINGECKO_API_KEY" in str(info.value)
            return len(venue.requests())
    assert asyncio.run(run()) == 1


def test_pro_key_sent_to_the_demo_host_is_named_as_such() -> None:
    async def run() -> str:
        async with CoinGeckoVenue(clock=clock(), api_key=KEY) as venue:
            with pytest.raises(CredentialsError) as info:
                await source(venue, SleepRecorder(), plan_name="pro").fetch_bars(
                    "BTC-USD", Timeframe.M5, NOW - timedelta(hours=2), NOW)
            return str(info.value)
    message = asyncio.run(run())
    assert "10010" in message and "pro-api.coingecko.com" in message


def test_unknown_coin_fails_fast_as_unknown_symbol() -> None:
    async def run() -> int:
        async with CoinGeckoVenue(clock=clock(), api_key=KEY) as venue:
            src = source(venue, SleepRecorder(), coin_ids={"ZZZ": "no-such-coin"})
            with pytest.raises(UnknownSymbolError, match="ZZZ-USD"):
                await src.fetch_bars("ZZZ-USD", Timeframe.M5, NOW - timedelta(hours=2), NOW)
            return len(venue.requests())
    assert asyncio.run(run()) == 1


def test_keyless_public_api_works_without_a_key_header() -> None:
    async def run() -> int:
        async with CoinGeckoVenue(clock=clock(), api_key=None) as venue:
            bars = await source(venue, SleepRecorder(), key=None).fetch_bars(
                "ETH-USD", Timeframe.M5, NOW - timedelta(hours=2), NOW)
            return bars.height
    assert asyncio.run(run()) == 24

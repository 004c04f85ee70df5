"""The Binance adapter, through python-binance's AsyncClient, against the fake Binance venue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import polars as pl
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

from raytrade.core.clock import FakeClock
from raytrade.core.errors import PermanentError
from raytrade.core.types import Timeframe
from raytrade.sources.base import UnknownSymbolError
from raytrade.sources.binance import BinanceSource
from raytrade.sources.symbols import BinanceExchange
from raytrade.venues import BinanceVenue, FaultKind, FaultPlan, outage_windows


def source(venue: BinanceVenue, sleep: SleepRecorder, page_limit: int = 1000
           ) -> BinanceSource:
    exchange = BinanceExchange.US if venue.us else BinanceExchange.COM
    return BinanceSource(exchange, base_url=venue.base_url, clock=venue.clock,
                         retry=fast_retry(sleep), rate=fast_rate(), page_limit=page_limit)


async def fetch(faults: FaultPlan | None, symbol: str = "BTC-USDT", days: int = 1,
                now: datetime = NOW, page_limit: int = 300, **venue_kw: object
                ):  # type: ignore[no-untyped-def]
    sleep = SleepRecorder()
    start = NOW - timedelta(days=days)
    async with BinanceVenue(faults=faults, clock=FakeClock(now),
                            **venue_kw) as venue:  # type: ignore[arg-type]
        bars = await source(venue, sleep, page_limit).fetch_bars(symbol, Timeframe.M1, start,
                                                                now)
        return bars, venue.truth(symbol, Timeframe.M1, start, now), venue, sleep


@pytest.mark.parametrize("kind", sorted(PER_REQUEST))
def test_bars_equal_the_truth_under_each_fault(kind: FaultKind) -> None:
    bars, truth, venue, sleep = asyncio.run(fetch(plan([kind], 0.4)))
    assert venue.faults(kind), f"no {kind} was injected: pick another seed"
    assert_equals_truth(bars, truth)
    assert_retry_after_honoured(venue, sleep)


def test_three_days_with_mixed_faults_and_outages_leave_exactly_the_truth() -> None:
    start = NOW - timedelta(days=3)
    outages = outage_windows(["BTC-USDT"], start, NOW, seed=2)
    bars, truth, *_ = asyncio.run(fetch(plan(PER_REQUEST, 0.2, seed=5, outages=outages),
                                        days=3, page_limit=1000))
    assert_equals_truth(bars, truth)
    assert bars.height == 3 * 1440 - sum((hi - lo) // timedelta(minutes=1)
                                         for lo, hi in outages["BTC-USDT"])


def test_the_still_open_kline_is_dropped() -> None:
    now = NOW + timedelta(seconds=30)  # the venue serves the 00:00 kline, 30 s old
    bars, truth, *_ = asyncio.run(fetch(None, now=now))
    assert_equals_truth(bars, truth)
    assert bars["ts"].max() == NOW - timedelta(minutes=1)


def test_binance_us_serves_the_usd_book_with_its_own_volumes_and_zero_volume_klines() -> None:
    async def run() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        start = NOW - timedelta(hours=6)
        async with BinanceVenue(us=True, sparse={"BTC-USD": 0.6},
                                clock=FakeClock(NOW)) as venue:
            src = source(venue, SleepRecorder())
            usd = await src.fetch_bars("BTC-USD", Timeframe.M1, start, NOW)
            usdt = await src.fetch_bars("BTC-USDT", Timeframe.M1, start, NOW)
            return usd, usdt, venue.truth("BTC-USD", Timeframe.M1, start, NOW)
    usd, usdt, truth = asyncio.run(run())
    assert_equals_truth(usd, truth)
    assert set(usd["vendor"]) == {"binance_us"}
    quiet = usd.filter(pl.col("volume") == 0)
    assert quiet.height > 0.4 * usd.height  # thin book: zero-volume klines kept as bars
    assert quiet["vwap"].null_count() == quiet.height
    assert usd["volume"].sum() != pytest.approx(usdt["volume"].sum())  # never spliced


def test_usd_pair_on_binance_com_is_refused_fast_pointing_to_binance_us() -> None:
    async def run() -> int:
        async with BinanceVenue(clock=FakeClock(NOW)) as venue:
            with pytest.raises(UnknownSymbolError) as info:
                await source(venue, SleepRecorder()).fetch_bars(
                    "BTC-USD", Timeframe.M1, NOW - timedelta(hours=1), NOW)
            assert isinstance(info.value, PermanentError)
            message = str(info.value)
            assert "BTC-USD" in message and "binance_us" in message and "BTCUSDT" not in message
            return len(venue.requests())
    assert asyncio.run(run()) == 1

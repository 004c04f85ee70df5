"""Acceptance of issue 7: with every fault type injected on 20% of requests, collecting three
days of bars for three symbols from each fake venue and then gap filling ends with zero missing
and zero duplicate bars against the venue's ground truth; every outage window is either filled
from a fallback source (and marked so) or recorded as a gap. Real SDKs, real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import SecretStr
from sqlalchemy import Engine

from raytrade.config.collect import PoolRef
from raytrade.core.clock import FakeClock
from raytrade.core.types import Timeframe, asset_class_of
from raytrade.data.gaps import expected_timestamps
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.collector import Collector
from raytrade.live.gapfill import fill_gaps
from raytrade.sources.base import MarketDataSource
from raytrade.sources.binance import BinanceSource
from raytrade.sources.coingecko import CoinGeckoSource
from raytrade.sources.geckoterminal import GeckoTerminalSource
from raytrade.sources.massive import MassiveSource
from raytrade.sources.retry import RateLimit, RetryPolicy
from raytrade.sources.symbols import BinanceExchange
from raytrade.store.market import gaps
from raytrade.venues import (
    BinanceVenue,
    CoinGeckoVenue,
    FaultKind,
    FaultPlan,
    GeckoTerminalVenue,
    MassiveVenue,
    Venue,
)

pytestmark = pytest.mark.parametrize("database_url", ["server"], indirect=True)
NOW = datetime(2024, 3, 14, tzinfo=UTC)  # a Thursday: three NYSE sessions in the window
CLIENT_TIMEOUT_S = 0.5
EVERY_FAULT = [k for k in FaultKind if k not in (FaultKind.OUTAGE, FaultKind.LIMIT)]


async def _no_sleep(seconds: float) -> None:
    return None


def _retry() -> RetryPolicy:
    return RetryPolicy(attempts=12, initial_delay=0.0, max_delay=0.0, jitter=0.0,
                       retry_after_cap=5.0, timeout=CLIENT_TIMEOUT_S, sleep=_no_sleep)


RATE = RateLimit(per_minute=600_000, burst=1000)


def _faults(seed: int, outages: dict[str, list[tuple[datetime, datetime]]]) -> FaultPlan:
    return FaultPlan(seed=seed, rates={k: 0.2 / len(EVERY_FAULT) for k in EVERY_FAULT},
                     outages=outages, retry_after_s=1, slow_s=0.05,
                     timeout_s=2 * CLIENT_TIMEOUT_S)


def _window(start: datetime, day: int, hour: int, minutes: int) -> tuple[datetime, datetime]:
    begin = start + timedelta(days=day, hours=hour)
    return begin, begin + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Case:
    """A primary venue and its symbols, and the fallback venue (if any) for gap filling."""

    name: str
    timeframe: Timeframe
    symbols: tuple[str, ...]
    primary: Callable[[FaultPlan, FakeClock], Venue]
    source: Callable[[Any, FakeClock], MarketDataSource]
    fallback: Callable[[FaultPlan, FakeClock], Venue] | None = None
    fallback_source: Callable[[Any, FakeClock], MarketDataSource] | None = None
    fallback_outage: str | None = None  # a symbol whose outage the fallback shares
    span: timedelta = timedelta(days=3)
    window_bars: int = 240  # bars per collector request: enough requests to see every fault

    @property
    def start(self) -> datetime:
        return NOW - self.span


def _gecko_source(venue: Any, clock: FakeClock) -> MarketDataSource:
    pools = {s: PoolRef(network=p.network, address=p.address) for s, p in venue.pools.items()}
    return GeckoTerminalSource(pools, base_url=venue.api_root, clock=clock, retry=_retry(),
                               rate=RATE)


CASES = [
    Case("binance", Timeframe.M1, ("BTC-USDT", "ETH-USDT", "SOL-USDT"),
         lambda f, c: BinanceVenue(symbols=("BTC-USDT", "ETH-USDT", "SOL-USDT"), faults=f,
                                   clock=c),
         lambda v, c: BinanceSource(BinanceExchange.COM, base_url=v.base_url, clock=c,
                                    retry=_retry(), rate=RATE),
         lambda f, c: GeckoTerminalVenue(symbols=("BTC-USDT", "ETH-USDT", "SOL-USDT"),
                                         faults=f, clock=c, calls_per_minute=None),
         _gecko_source, fallback_outage="SOL-USDT"),
    Case("geckoterminal", Timeframe.M1, ("BTC-USD", "SOL-USD", "ETH-USD"),
         lambda f, c: GeckoTerminalVenue(symbols=("BTC-USD", "SOL-USD", "ETH-USD"), faults=f,
                                         clock=c, calls_per_minute=None),
         _gecko_source,
         # Binance.US lists no ETH-USD: that symbol's outage stays a recorded gap.
         lambda f, c: BinanceVenue(symbols=("BTC-USD", "SOL-USD"), us=True, faults=f, clock=c),
         lambda v, c: BinanceSource(BinanceExchange.US, base_url=v.base_url, clock=c,
                                    retry=_retry(), rate=RATE)),
    Case("massive", Timeframe.M1, ("AAPL", "MSFT", "SPY"),
         lambda f, c: MassiveVenue(symbols=("AAPL", "MSFT", "SPY"), faults=f, clock=c),
         lambda v, c: MassiveSource(SecretStr(v.api_key), base_url=v.base_url, clock=c,
                                    retry=_retry(), rate=RATE)),
    Case("coingecko", Timeframe.M5, ("BTC-USD", "ETH-USD", "SOL-USD"),
         lambda f, c: CoinGeckoVenue(symbols=("BTC-USD", "ETH-USD", "SOL-USD"), faults=f,
                                     clock=c),
         lambda v, c: CoinGeckoSource(SecretStr(v.api_key), base_url=v.api_root, clock=c,
                                      retry=_retry(), rate=RATE),
         # CoinGecko has 5-minute samples only for the last day (hourly before that).
         span=timedelta(hours=22), window_bars=12),
]


def _outages(case: Case) -> dict[str, list[tuple[datetime, datetime]]]:
    # Inside a NYSE session for equities (15:00-16:30 UTC is 10:00-11:30 in New York).
    days = max(case.span.days, 1)
    return {s: [_window(case.start, i % days, 15 if days > 1 else 3 + 5 * i, 90)]
            for i, s in enumerate(case.symbols)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_collect_then_fill_ends_with_nothing_missing_or_duplicated(
        case: Case, engine: Engine, tmp_path: Path) -> None:
    asyncio.run(_scenario(case, engine, Lake(tmp_path / "lake")))


async def _scenario(case: Case, engine: Engine, lake: Lake) -> None:
    clock = FakeClock(NOW)  # every venue and source of the case shares it
    outages = _outages(case)
    shared = {s: w for s, w in outages.items() if s == case.fallback_outage}
    primary = case.primary(_faults(11, outages), clock)
    fallback = case.fallback(_faults(12, shared), clock) if case.fallback else None
    async with primary:
        if fallback is not None:
            await fallback.start()
        try:
            for symbol in case.symbols:
                await _collect_and_fill(case, symbol, primary, fallback, clock, engine, lake,
                                        outages[symbol])
        finally:
            if fallback is not None:
                await fallback.stop()
    injected = {f.kind for f in primary.faults()}
    assert len(injected) >= 4, f"too few fault kinds were injected to judge: {injected}"


async def _collect_and_fill(case: Case, symbol: str, primary: Venue, fallback: Venue | None,
                            clock: FakeClock, engine: Engine, lake: Lake,
                            outages: list[tuple[datetime, datetime]]) -> None:
    key = PartitionKey(case.name, case.timeframe, symbol)
    source = case.source(primary, clock)
    start = case.start
    collector = Collector(source, key, lake=lake, engine=engine, clock=clock, start=start,
                          settle=timedelta(0), max_window_bars=case.window_bars)
    await collector.catch_up()
    # The next poll, one bar later, asks again for the newest bars, which vendors revise.
    clock.advance(case.timeframe.duration)
    await collector.catch_up()
    backups = ([case.fallback_source(fallback, clock)]
               if fallback is not None and case.fallback_source else [])
    report = await fill_gaps(key, start, NOW, lake=lake, engine=engine, primary=source,
                             fallbacks=backups)

    bars = lake.scan(key, start, NOW).collect()
    assert bars["ts"].is_duplicated().sum() == 0
    expected = expected_timestamps(asset_class_of(symbol), case.timeframe, start, NOW)
    recorded = [g for g in gaps(engine, key) if g.open]
    present = set(bars["ts"].to_list())
    assert present <= set(expected.to_list())  # nothing off the market's calendar
    # Zero missing: every expected bar is in the lake or inside a recorded, open gap.
    missing = [t for t in expected.to_list() if t not in present]
    assert all(any(g.start <= t < g.end for g in recorded) for t in missing), missing[:5]
    # What the primary served equals its truth, revised bars at their final value.
    truth = primary.truth(symbol, case.timeframe, start, NOW)
    served = bars.filter(~pl.col("backfilled"))
    lost = truth.filter(~pl.col("ts").is_in(served["ts"].implode()))
    assert lost.is_empty(), (lost["ts"].to_list(), [(g.start, g.end, g.tried) for g in recorded])
    assert_frame_equal(served, truth)
    # Outage windows: filled from the fallback (marked so) or recorded, never silently empty.
    for begin, end in outages:
        inside = bars.filter(pl.col("ts").is_between(begin, end, closed="left"))
        wanted = expected.filter(expected.is_between(begin, end, closed="left"))
        if inside.height:
            assert inside.height == wanted.len() and fallback is not None
            assert inside["backfilled"].all() and set(inside["vendor"]) == {fallback.vendor}
            assert inside["volume"].null_count() == inside.height  # another market's volume
            theirs = fallback.truth(symbol, case.timeframe, begin, end)
            assert_frame_equal(inside.select("ts", "open", "high", "low", "close"),
                               theirs.select("ts", "open", "high", "low", "close"))
        else:
            assert any(g.start <= begin and end <= g.end for g in recorded), (begin, recorded)
    assert report.missing >= sum(1 for _ in outages)

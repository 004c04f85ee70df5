"""A collector keeps one lake partition (source, symbol, timeframe) filled as bars close.

Each step asks the source for the bars between the stored watermark and the last closed bar,
upserts them into the lake (idempotent: a re-sent bar is unchanged, a revised one replaces it)
and only then advances the watermark in the store. A crash between the two leaves the
watermark behind, so the next step fetches the same window again: nothing is lost and, since
the lake upsert is keyed by bar time, nothing is duplicated. Missing bars inside a fetched
window are left to the gap filler, which finds them against the market's calendar.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from raytrade.core.clock import Clock
from raytrade.core.errors import ExternalError, PermanentError
from raytrade.core.types import AssetClass, Timeframe, asset_class_of
from raytrade.data.gaps import NEW_YORK
from raytrade.data.lake import Lake, PartitionKey
from raytrade.sources.base import MarketDataSource
from raytrade.store.market import advance_watermark, record_collector_error, watermark
from raytrade.store.session import Engine

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def closed_before(now: datetime, timeframe: Timeframe, asset_class: AssetClass) -> datetime:
    """Return the open time of the bar in progress at `now`: every bar before it has closed.
    US equities' daily bars open at midnight New York time; everything else on UTC multiples."""
    if timeframe is Timeframe.D1 and asset_class is AssetClass.EQUITY:
        local = now.astimezone(ZoneInfo(NEW_YORK))
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    step = timeframe.duration
    return EPOCH + ((now - EPOCH) // step) * step


@dataclass(frozen=True)
class StepReport:
    window: tuple[datetime, datetime] | None  # what was collected; None when nothing was due
    fetched: int
    added: int
    revised: int
    watermark: datetime


class Collector:
    """Plain class; `runtime` wraps it in a named, detached Ray actor with restarts."""

    def __init__(self, source: MarketDataSource, key: PartitionKey, *, lake: Lake,
                 engine: Engine, clock: Clock, start: datetime, settle: timedelta,
                 max_window_bars: int = 5000, revision_bars: int = 2) -> None:
        self.source, self.key, self.lake, self.engine = source, key, lake, engine
        self.clock, self.start, self.settle = clock, start, settle
        self.max_window = key.timeframe.duration * max_window_bars
        # Vendors revise their newest bars (a provisional close, corrected minutes later): each
        # step asks again for the last `revision_bars` bars before the watermark.
        self.lookback = key.timeframe.duration * revision_bars
        self.asset_class = asset_class_of(key.symbol)

    def watermark(self) -> datetime:
        return watermark(self.engine, self.key) or self.start

    async def step(self) -> StepReport:
        """Collect one window (at most `max_window_bars` bars) from the watermark on."""
        begin = self.watermark()
        due = closed_before(self.clock.now() - self.settle, self.key.timeframe,
                            self.asset_class)
        end = min(due, begin + self.max_window)
        if end <= begin:
            return StepReport(None, 0, 0, 0, begin)
        ask = max(begin - self.lookback, self.start)
        bars = await self.source.fetch_bars(self.key.symbol, self.key.timeframe, ask, end)
        bars = bars.filter(pl.col("ts").is_between(ask, end, closed="left"))
        added = revised = 0
        if bars.height:
            report = self.lake.upsert(bars, source=self.key.source,
                                      timeframe=self.key.timeframe,
                                      origin=f"{self.source.name} collector")
            added, revised = report.added, report.revised
        # Count the bars of [begin, end), not the upsert's `added`: a window replayed after a
        # crash between the write and the watermark finds its bars already stored (added 0),
        # and the watermark says which windows were counted. The lookback's bars were counted
        # by the step that first wrote them.
        window = bars.filter(pl.col("ts") >= begin).height
        stored = advance_watermark(self.engine, self.key, end, window)  # after the fsync
        return StepReport((begin, end), bars.height, added, revised, stored)

    async def catch_up(self) -> list[StepReport]:
        """Step until nothing closed is left to collect."""
        reports = []
        while (report := await self.step()).window is not None:
            reports.append(report)
        return reports

    def next_poll(self) -> datetime:
        """Return when the next bar will have closed and settled."""
        current = closed_before(self.clock.now(), self.key.timeframe, self.asset_class)
        return current + self.key.timeframe.duration + self.settle

    async def run(self, stop: asyncio.Event,
                  sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        """Collect until `stop` is set: catch up, then poll aligned to bar closes. Transient
        failures are recorded and retried at the next poll; a permanent one ends the loop."""
        failures = 0
        while not stop.is_set():
            try:
                await self.catch_up()
                failures = 0
            except PermanentError as exc:
                record_collector_error(self.engine, self.key, f"{type(exc).__name__}: {exc}")
                raise
            except ExternalError as exc:
                failures += 1
                record_collector_error(self.engine, self.key, f"{type(exc).__name__}: {exc}")
                log.warning("collector %s: %s (attempt %d)", self.key, exc, failures)
            wait = max((self.next_poll() - self.clock.now()).total_seconds(), 0.0)
            if failures:
                wait = min(wait, 2.0 ** failures, 60.0)
            await _wait(stop, wait, sleep)


async def _wait(stop: asyncio.Event, seconds: float,
                sleep: Callable[[float], Awaitable[None]] | None) -> None:
    if sleep is not None:
        await sleep(seconds)
        return
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

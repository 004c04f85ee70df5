"""Gap filling: find the bars a partition is missing against its market's calendar (crypto
24/7; US equities by NYSE sessions and holidays, from `exchange_calendars`) and backfill them.

The partition's own source is asked again first (a late or flaky response is not a gap); then
each fallback source in order. Backfilled bars keep the vendor that supplied them and are marked
`backfilled`; a fallback trades a different market (another venue, USD vs USDT), so its volume,
VWAP and trade count are not spliced into this partition: they are left null. Nothing is
forward-filled. Every missing window is recorded in the store with what each source returned,
so a window that no source could fill stays a recorded gap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from raytrade.core.errors import ExternalError
from raytrade.core.types import asset_class_of
from raytrade.data.gaps import expected_timestamps, missing_windows
from raytrade.data.lake import Lake, PartitionKey
from raytrade.sources.base import MarketDataSource
from raytrade.store.market import record_gap
from raytrade.store.session import Engine

log = logging.getLogger(__name__)
NOT_SPLICED = ("volume", "vwap", "trades")


@dataclass(frozen=True)
class WindowFill:
    start: datetime
    end: datetime  # exclusive
    expected: int
    filled: int
    tried: dict[str, int | str]  # source -> bars it supplied, or the error it raised

    @property
    def complete(self) -> bool:
        return self.filled == self.expected


@dataclass(frozen=True)
class GapFillReport:
    key: PartitionKey
    windows: tuple[WindowFill, ...]

    @property
    def missing(self) -> int:
        return sum(w.expected for w in self.windows)

    @property
    def filled(self) -> int:
        return sum(w.filled for w in self.windows)


async def fill_gaps(key: PartitionKey, start: datetime, end: datetime, *, lake: Lake,
                    engine: Engine, primary: MarketDataSource | None,
                    fallbacks: Sequence[MarketDataSource]) -> GapFillReport:
    """Backfill the partition's missing bars in [start, end) and record every window."""
    present = lake.scan(key, start, end).select("ts").collect()["ts"]
    expected = expected_timestamps(asset_class_of(key.symbol), key.timeframe, start, end)
    fills = []
    for first, last in missing_windows(present, expected):
        window_end = last + key.timeframe.duration
        wanted = expected.filter(expected.is_between(first, window_end, closed="left"))
        fill = await _fill_window(key, first, window_end, wanted, lake, primary, fallbacks)
        record_gap(engine, key, first, window_end, bars=fill.expected, filled_bars=fill.filled,
                   tried=dict(fill.tried))
        fills.append(fill)
    return GapFillReport(key, tuple(fills))


async def _fill_window(key: PartitionKey, start: datetime, end: datetime, wanted: pl.Series,
                       lake: Lake, primary: MarketDataSource | None,
                       fallbacks: Sequence[MarketDataSource]) -> WindowFill:
    remaining = wanted
    tried: dict[str, int | str] = {}
    sources = [(primary, False)] if primary is not None else []
    sources += [(source, True) for source in fallbacks]
    for source, is_fallback in sources:
        if remaining.is_empty() or source is None:
            break
        label = f"{source.name} (fallback)" if is_fallback else source.name
        try:
            bars = await source.fetch_bars(key.symbol, key.timeframe, start, end)
        except ExternalError as exc:
            tried[label] = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("gap fill %s %s..%s from %s: %s", key, start, end, source.name, exc)
            continue
        bars = bars.filter(pl.col("ts").is_in(remaining.implode()))
        if is_fallback:
            bars = bars.with_columns(pl.lit(True).alias("backfilled"),
                                     *(pl.lit(None, dtype=bars.schema[c]).alias(c)
                                       for c in NOT_SPLICED))
        tried[label] = bars.height
        if bars.height:
            lake.upsert(bars, source=key.source, timeframe=key.timeframe,
                        origin=f"gap fill from {source.name}")
            remaining = remaining.filter(~remaining.is_in(bars["ts"].implode()))
    return WindowFill(start, end, wanted.len(), wanted.len() - remaining.len(), tried)

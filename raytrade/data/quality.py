"""Data quality figures that gate training: coverage against the market's calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from raytrade.core.types import Timeframe, asset_class_of
from raytrade.data.gaps import expected_timestamps


@dataclass(frozen=True)
class Coverage:
    """How complete a series of bars is between its first and last bar (or a given window)."""

    first: datetime | None
    last: datetime | None
    bars: int  # bars present
    expected: int  # bars a complete feed has on the market's calendar
    on_calendar: int  # present bars that the calendar expects

    @property
    def ratio(self) -> float:
        return self.on_calendar / self.expected if self.expected else 0.0


def coverage(ts: pl.Series, symbol: str, timeframe: Timeframe,
             start: datetime | None = None, end: datetime | None = None) -> Coverage:
    """Return coverage of the open times `ts` over [start, end), by default first..last bar."""
    first: datetime | None = ts.min() if not ts.is_empty() else None  # type: ignore[assignment]
    last: datetime | None = ts.max() if not ts.is_empty() else None  # type: ignore[assignment]
    lo = start or first
    hi = end or (last + timeframe.duration if last is not None else None)
    if lo is None or hi is None:
        return Coverage(None, None, 0, 0, 0)
    expected = expected_timestamps(asset_class_of(symbol), timeframe, lo, hi)
    on_calendar = int(ts.is_in(expected.implode()).sum())
    return Coverage(first, last, ts.len(), expected.len(), on_calendar)

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
    if ts.is_empty() and (start is None or end is None):
        return Coverage(None, None, 0, 0, 0)
    first: datetime = ts.min() if start is None else start  # type: ignore[assignment]
    last_bar: datetime | None = ts.max()  # type: ignore[assignment]
    stop = end if end is not None else last_bar + timeframe.duration  # type: ignore[operator]
    expected = expected_timestamps(asset_class_of(symbol), timeframe, first, stop)
    on_calendar = int(ts.is_in(expected.implode()).sum()) if not ts.is_empty() else 0
    return Coverage(ts.min() if not ts.is_empty() else None,  # type: ignore[arg-type]
                    last_bar, ts.len(), expected.len(), on_calendar)

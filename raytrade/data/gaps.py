"""Market calendars: which bar open times a complete feed has, and where bars are missing.

Crypto trades 24/7: every bar of the timeframe's grid, aligned to the UTC epoch. US equities
follow the NYSE calendar (`exchange_calendars` "XNYS": holidays and early closes). Intraday
equity bars sit on the same epoch grid (as Massive's aggregates do) and count when the bar
[ts, ts + timeframe) overlaps the regular session [open, close): 5m bars run 09:30..15:55 New
York, 78 a full day. Daily equity bars are stamped at midnight America/New_York of the session
date, converted to UTC (04:00 or 05:00 UTC), as Massive stamps them.
"""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, date, datetime, timedelta

import exchange_calendars as xcals
import numpy as np
import polars as pl

from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.schema import TS_DTYPE

NEW_YORK = "America/New_York"
_US_PER_MINUTE = 60_000_000
_CALENDAR_BLOCK_YEARS = 10  # calendars are built for whole decades, so a few cover any range


def expected_timestamps(
    asset_class: AssetClass, timeframe: Timeframe, start: datetime, end: datetime
) -> pl.Series:
    """Return the bar open times in [start, end) that a complete feed has, as Datetime(us, UTC)."""
    lo, hi = _epoch_us(start, "start"), _epoch_us(end, "end")
    if hi <= lo:
        return _ts_series(np.empty(0, dtype=np.int64))
    if asset_class is AssetClass.CRYPTO:
        step = timeframe.minutes * _US_PER_MINUTE
        first = -(-lo // step) * step  # ceil onto the epoch grid
        return _ts_series(np.arange(first, hi, step, dtype=np.int64))
    # one day of margin each side: a UTC instant can fall on the neighbouring New York date
    sessions = nyse_sessions(_utc_date(start) - timedelta(days=1),
                             _utc_date(end) + timedelta(days=1))
    if timeframe is Timeframe.D1:
        stamps = sessions["session"].cast(pl.Datetime("us")).dt.replace_time_zone(NEW_YORK)
        ts = stamps.dt.convert_time_zone("UTC").dt.epoch("us").to_numpy()
    else:
        ts = _session_bars(sessions, timeframe)
    return _ts_series(ts[(ts >= lo) & (ts < hi)])


def nyse_sessions(first: date, last: date) -> pl.DataFrame:
    """Return NYSE regular sessions with dates in [first, last]: session, open, close (UTC)."""
    block = _CALENDAR_BLOCK_YEARS
    top = max(first, last).year // block * block + block - 1
    sched = _schedule(first.year // block * block, top)
    return sched.filter(pl.col("session").is_between(first, last))  # empty if last < first


def missing_windows(actual: pl.Series, expected: pl.Series) -> list[tuple[datetime, datetime]]:
    """Return maximal runs of expected open times absent from `actual` as (first, last) opens.

    Runs are consecutive in `expected`, not in wall time: an equity gap from 15:55 to the next
    session's 09:30 bar is one window. Timestamps in `actual` that are not expected are ignored.
    """
    for name, series in (("actual", actual), ("expected", expected)):
        if not isinstance(series.dtype, pl.Datetime) or series.dtype.time_zone is None:
            raise InputError(f"{name} timestamps have dtype {series.dtype}; expected a "
                             "timezone-aware Datetime")
    exp = expected.cast(TS_DTYPE).unique().sort()
    missing = (~exp.is_in(actual.cast(TS_DTYPE).implode())).to_numpy()
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    firsts: list[datetime] = exp.gather(starts).to_list()
    lasts: list[datetime] = exp.gather(stops).to_list()
    return list(zip(firsts, lasts, strict=True))


@functools.lru_cache(maxsize=16)
def _schedule(first_year: int, last_year: int) -> pl.DataFrame:
    """Build the XNYS schedule for whole years; cached per process (the frame is never mutated).

    `exchange_calendars` defaults to about 20 years back from today, so the bounds are explicit.
    """
    with warnings.catch_warnings():
        # exchange_calendars trips pandas deprecation warnings internally; nothing we can act on
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31")
        sched = cal.schedule
        sessions = sched.index.to_numpy(dtype="datetime64[D]")
        opens = sched["open"].to_numpy(dtype="datetime64[us]").astype(np.int64)
        closes = sched["close"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    return pl.DataFrame({
        "session": pl.Series(sessions, dtype=pl.Date),
        "open": _ts_series(opens),
        "close": _ts_series(closes),
    })


def _session_bars(sessions: pl.DataFrame, timeframe: Timeframe) -> np.ndarray:
    """Return epoch-grid bar opens (us) whose bar overlaps each session's [open, close)."""
    step = timeframe.minutes * _US_PER_MINUTE
    opens = sessions["open"].dt.epoch("us").to_numpy()
    closes = sessions["close"].dt.epoch("us").to_numpy()
    first = opens // step * step  # the bar that contains the open
    last = (closes - 1) // step * step  # the last bar opening before the close
    counts = (last - first) // step + 1
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    bars: np.ndarray = np.repeat(first, counts) + offsets * step
    return bars


def as_utc(moment: datetime, name: str) -> datetime:
    """Return `moment` in UTC; refuse a naive datetime (it names no instant) as `InputError`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError(f"{name} {moment} is naive; pass a timezone-aware (UTC) datetime")
    return moment.astimezone(UTC)


def _epoch_us(moment: datetime, name: str) -> int:
    delta = as_utc(moment, name) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _ts_series(epoch_us: np.ndarray) -> pl.Series:
    return pl.Series("ts", np.asarray(epoch_us, dtype=np.int64)).cast(TS_DTYPE)


__all__ = ["NEW_YORK", "as_utc", "expected_timestamps", "missing_windows", "nyse_sessions"]

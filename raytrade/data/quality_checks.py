"""The vectorised checks behind a quality report: each a pure function of one partition's bars.

Row checks (OHLC consistency, prices, volume, provenance) look at every stored row. Sequence
checks (outlier returns, stale runs) look at the bars ordered by open time with duplicate
timestamps dropped, since a second row at the same instant is not a move of the market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.data.gaps import as_utc
from raytrade.data.schema import PRICE_COLUMNS, TS_DTYPE

# Robust scale of log returns, local so volatility clusters and the intraday pattern are not
# outliers: the median absolute deviation over blocks of _BLOCK bars, then the median of
# _BLOCKS neighbouring blocks (about 48 bars of context), so a burst of bad ticks shorter than
# half a block cannot inflate the scale it is judged by.
_BLOCK = 16
_BLOCKS = 3
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma
_MEANAD_TO_SIGMA = 1.2533  # mean absolute deviation of a normal is 0.7979 sigma


@dataclass(frozen=True)
class Gap:
    """Missing bars [start, end): `bars` counts calendar bars only (no nights or holidays)."""

    start: datetime  # open time of the first missing bar
    end: datetime  # close time of the last missing bar
    bars: int


@dataclass(frozen=True)
class BarIssue:
    """One row that breaks an OHLC rule, with its prices as stored."""

    ts: datetime
    rule: str
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class Outlier:
    """A log close-to-close return ending at bar `ts`, `z` robust deviations from the median."""

    ts: datetime
    log_return: float
    z: float


@dataclass(frozen=True)
class StaleRun:
    """Consecutive flat bars (open = high = low = close) at one unchanged price."""

    start: datetime  # open time of the first bar of the run
    bars: int
    price: float


def checked(bars: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Return one symbol's bars with `ts` as Datetime(us, UTC), or raise `InputError`."""
    missing = [c for c in ("ts", *PRICE_COLUMNS) if c not in bars.columns]
    if missing:
        raise InputError(f"{symbol} bars lack columns {missing} needed for a quality report")
    dtype = bars.schema["ts"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise InputError(f"{symbol} bars have `ts` of dtype {dtype}; expected Datetime(us, UTC)")
    if "symbol" in bars.columns and bars.select((pl.col("symbol") != symbol).any()).item():
        raise InputError(f"bars for a {symbol} quality report hold other symbols too; "
                         "report on one partition at a time")
    return bars if dtype == TS_DTYPE else bars.with_columns(pl.col("ts").cast(TS_DTYPE))


def in_window(bars: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """Return the rows with open times in [start, end); either bound may be open."""
    if start is not None:
        bars = bars.filter(pl.col("ts") >= as_utc(start, "start"))
    if end is not None:
        bars = bars.filter(pl.col("ts") < as_utc(end, "end"))
    return bars


def by_time(bars: pl.DataFrame) -> pl.DataFrame:
    """Return the rows ordered by `ts`, keeping the first row at each open time."""
    if not bars["ts"].is_sorted():
        bars = bars.sort("ts", maintain_order=True)
    stamps = bars["ts"].dt.epoch("us").to_numpy()
    first = np.concatenate(([True], stamps[1:] != stamps[:-1]))
    return bars if first.all() else bars.filter(pl.Series(first))


def find_gaps(expected: pl.Series, present: np.ndarray, timeframe: Timeframe) -> tuple[Gap, ...]:
    """Return maximal runs of sorted `expected` open times whose `present` flag is false.

    Runs are consecutive on the calendar, not in wall time (as `gaps.missing_windows`): an
    equity gap from 15:55 to the next session's 09:30 bar is one gap of calendar bars.
    """
    edges = np.diff(np.concatenate(([0], (~present).astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # one past the last missing bar
    firsts: list[datetime] = expected.gather(starts).to_list()
    lasts: list[datetime] = expected.gather(stops - 1).to_list()
    return tuple(Gap(first, last + timeframe.duration, int(n))
                 for first, last, n in zip(firsts, lasts, stops - starts, strict=True))


_OHLC_RULES: tuple[tuple[str, pl.Expr], ...] = (
    ("high < low", pl.col("high") < pl.col("low")),
    ("high < max(open, close)", pl.col("high") < pl.max_horizontal("open", "close")),
    ("low > min(open, close)", pl.col("low") > pl.min_horizontal("open", "close")),
)


def ohlc_issues(bars: pl.DataFrame, examples: int) -> tuple[int, tuple[BarIssue, ...]]:
    """Return how many rows break an OHLC rule, and the first `examples` of them by time."""
    rule = pl.lit(None, dtype=pl.String)
    for name, broken in reversed(_OHLC_RULES):  # the first rule listed wins
        rule = pl.when(broken).then(pl.lit(name)).otherwise(rule)
    flagged = bars.select("ts", "open", "high", "low", "close", rule=rule).filter(
        pl.col("rule").is_not_null())
    first = flagged.sort("ts").head(examples)
    return flagged.height, tuple(BarIssue(**row) for row in first.iter_rows(named=True))


def price_counts(bars: pl.DataFrame) -> tuple[int, int]:
    """Return rows with a price <= 0 and rows with a NaN or infinite price."""
    prices = [pl.col(c) for c in ("open", "high", "low", "close")]
    row = bars.select(
        non_positive=pl.any_horizontal(p <= 0 for p in prices).sum(),
        non_finite=pl.any_horizontal(~p.is_finite() for p in prices).sum(),
    ).row(0)
    return int(row[0] or 0), int(row[1] or 0)


def outlier_returns(series: pl.DataFrame, timeframe: Timeframe, adjacent_by_calendar: bool,
                    threshold: float, worst: int) -> tuple[int, tuple[Outlier, ...]]:
    """Return how many returns lie `threshold` or more robust z from the median, and the worst.

    `series` is sorted by unique `ts` with a `calendar_pos` column (index on the market's
    calendar, null off it). A return counts only between neighbouring calendar bars that are
    one bar apart in wall time (any two sessions in a row for daily equities, with
    `adjacent_by_calendar`): moves across a gap or overnight span more than one bar and would
    be outliers of the gap, not of the data. Zero returns (no trade, a stale feed) carry no
    information about the scale and are left out of it.
    """
    step = pl.col("calendar_pos").diff() == 1
    if not adjacent_by_calendar:
        step = step & (pl.col("ts").diff() == timeframe.duration)
    log_close = pl.when(pl.col("close").is_finite() & (pl.col("close") > 0)).then(
        pl.col("close").log())
    r = series.select(pl.when(step).then(log_close.diff())).to_series().to_numpy()
    moved = np.isfinite(r) & (r != 0)  # nulls came out as NaN
    if not moved.any():
        return 0, ()
    center = float(np.median(r[moved]))
    dev = np.where(moved, np.abs(r - center), np.nan)
    fallback = _global_scale(dev[moved])
    if fallback == 0.0:
        return 0, ()
    with np.errstate(invalid="ignore"):
        z = (r - center) / _local_scale(dev, fallback)
        flagged = np.flatnonzero(np.abs(z) >= threshold)  # NaN compares false
    top = flagged[np.argsort(-np.abs(z[flagged]), kind="stable")[:worst]]
    stamps: list[datetime] = series["ts"].gather(top).to_list()
    return flagged.size, tuple(Outlier(ts, float(r[i]), float(z[i]))
                               for ts, i in zip(stamps, top, strict=True))


def _global_scale(dev: np.ndarray) -> float:
    """Return sigma from the MAD, or from the mean absolute deviation when over half are equal."""
    mad = float(np.median(dev))
    return mad * _MAD_TO_SIGMA if mad > 0 else float(dev.mean()) * _MEANAD_TO_SIGMA


def _local_scale(dev: np.ndarray, fallback: float) -> np.ndarray:
    """Return a sigma per return from the MAD of nearby deviations (NaN: none); else `fallback`."""
    per_block = _row_medians(_rows(dev, _BLOCK))
    padded = np.concatenate(([np.nan] * (_BLOCKS // 2), per_block, [np.nan] * (_BLOCKS // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _BLOCKS)
    smooth = _row_medians(windows) * _MAD_TO_SIGMA
    smooth = np.where(smooth > 0, smooth, fallback)  # NaN compares false
    out: np.ndarray = np.repeat(smooth, _BLOCK)[:dev.size]
    return out


def _rows(values: np.ndarray, width: int) -> np.ndarray:
    """Return `values` as rows of `width`, the last row padded with NaN."""
    pad = np.full(-values.size % width, np.nan)
    return np.concatenate((values, pad)).reshape(-1, width)


def _row_medians(rows: np.ndarray) -> np.ndarray:
    """Return the median of each row ignoring NaN (NaN for a row of NaN); vectorised."""
    ordered = np.sort(rows, axis=1)  # NaN sorts last
    valid = (~np.isnan(ordered)).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum(valid - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (valid // 2)[:, None].clip(max=rows.shape[1] - 1),
                              axis=1)[:, 0]
    return np.where(valid > 0, (low + high) / 2, np.nan)


def stale_runs(series: pl.DataFrame, min_bars: int) -> tuple[int, int, StaleRun | None]:
    """Return bars in runs of >= `min_bars` flat bars at one price, the run count, the longest.

    `series` is sorted by unique `ts`. Runs follow the rows, not wall time: a frozen feed that
    also drops bars still repeats its price from one stored bar to the next.
    """
    o, h, low, c = (pl.col(name) for name in ("open", "high", "low", "close"))
    is_flat = (o == h) & (h == low) & (low == c)
    marks = series.select(flat=is_flat, repeat=is_flat & is_flat.shift(1) & (c == c.shift(1)))
    flat = marks["flat"].to_numpy()
    repeat = marks["repeat"].fill_null(False).to_numpy()[1:]  # bar i+1 repeats flat bar i
    edges = np.diff(np.concatenate(([0], repeat.astype(np.int8), [0])))
    firsts = np.flatnonzero(edges == 1)  # row of the first bar of each run
    lengths = np.flatnonzero(edges == -1) - firsts + 1
    if lengths.size == 0:
        if not flat.any():
            return 0, 0, None
        firsts, lengths = np.flatnonzero(flat)[:1], np.ones(1, dtype=np.int64)
    stale = lengths >= min_bars
    at = int(np.argmax(lengths))  # the earliest of the longest runs
    row = int(firsts[at])
    longest = StaleRun(series["ts"][row], int(lengths[at]), float(series["close"][row]))
    return int(lengths[stale].sum()), int(stale.sum()), longest


def shares(bars: pl.DataFrame) -> tuple[float, float, float]:
    """Return the shares of rows with a volume, with volume > 0, and from a backfill."""
    if bars.is_empty():
        return 0.0, 0.0, 0.0
    volume = pl.col("volume") if "volume" in bars.columns else pl.lit(None, dtype=pl.Float64)
    backfilled = (pl.col("backfilled") if "backfilled" in bars.columns
                  else pl.lit(False)).fill_null(False)
    row = bars.select(
        reported=volume.is_not_null().mean(),
        traded=(volume > 0).fill_null(False).mean(),
        backfilled=backfilled.mean(),
    ).row(0)
    return float(row[0]), float(row[1]), float(row[2])


def vendor_counts(bars: pl.DataFrame) -> tuple[tuple[str, int], ...]:
    """Return (vendor, rows) pairs, most rows first; rows without a vendor count as `unknown`."""
    if "vendor" not in bars.columns or bars.is_empty():
        return ()
    counts = (bars["vendor"].fill_null("unknown").value_counts(name="rows")
              .sort(["rows", "vendor"], descending=[True, False]))
    return tuple((str(v), int(n)) for v, n in counts.iter_rows())


"""Data quality figures that gate training: coverage on the market's calendar, and a full report.

`coverage` is what the runner and gate tier 1 read; `quality_report` adds what else is wrong
with one partition (gaps, duplicates, OHLC, prices, outlier returns, stale runs, volume and
provenance) and is stored as JSON in `data_coverage`. Everything here is a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe, asset_class_of
from raytrade.data.gaps import as_utc, expected_timestamps
from raytrade.data.quality_checks import (
    BarIssue,
    Gap,
    Outlier,
    StaleRun,
    by_time,
    checked,
    find_gaps,
    in_window,
    ohlc_issues,
    outlier_returns,
    price_counts,
    shares,
    stale_runs,
    vendor_counts,
)
from raytrade.data.schema import PRICE_COLUMNS, TS_DTYPE

# Flat bars at one price for about an hour (and at least two bars) mean a feed stopped moving:
# a liquid market never prints an hour of zero-range minutes, nor two zero-range hours.
DEFAULT_STALE_RUN: dict[Timeframe, int] = {
    Timeframe.M1: 60,
    Timeframe.M5: 12,
    Timeframe.M15: 4,
    Timeframe.H1: 2,
    Timeframe.H4: 2,
    Timeframe.D1: 2,
}
DEFAULT_OUTLIER_Z = 8.0
_EXAMPLES = 5  # OHLC examples and worst outliers kept in a report


@dataclass(frozen=True)
class Coverage:
    """How complete a series of bars is between its first and last bar (or a given window)."""

    first: datetime | None
    last: datetime | None
    bars: int  # bars present
    expected: int  # bars a complete feed has on the market's calendar
    on_calendar: int  # distinct present open times that the calendar expects

    @property
    def ratio(self) -> float:
        return self.on_calendar / self.expected if self.expected else 0.0


def coverage(ts: pl.Series, symbol: str, timeframe: Timeframe,
             start: datetime | None = None, end: datetime | None = None) -> Coverage:
    """Return coverage of the open times `ts` over [start, end), by default first..last bar."""
    return _calendar(ts, symbol, timeframe, start, end)[0]


@dataclass(frozen=True)
class QualityReport:
    """What is right and wrong with one partition's bars over [start, end)."""

    symbol: str
    timeframe: Timeframe
    start: datetime | None  # the window judged; None only for no bars and no window
    end: datetime | None
    coverage: Coverage
    gaps: tuple[Gap, ...]  # chronological
    duplicates: int  # rows beyond the first at an open time
    ohlc_inconsistent: int
    ohlc_examples: tuple[BarIssue, ...]  # earliest first
    non_positive_prices: int  # rows with open, high, low or close <= 0
    non_finite_prices: int  # rows with a NaN or infinite price
    outlier_z: float
    outliers: int  # returns at least `outlier_z` robust deviations from the median
    worst_outliers: tuple[Outlier, ...]  # largest |z| first
    stale_run: int
    stale_bars: int  # bars in runs of at least `stale_run` flat bars at one price
    stale_runs: int
    longest_stale: StaleRun | None  # longest run of flat bars at one price, whatever its length
    volume_reported_share: float  # rows whose volume is not null
    volume_traded_share: float  # rows with volume > 0: the bars volume features can use
    backfilled_share: float
    vendors: tuple[tuple[str, int], ...]  # (vendor, rows), most rows first

    @property
    def missing_bars(self) -> int:
        return sum(gap.bars for gap in self.gaps)

    def worst_gaps(self, n: int = _EXAMPLES) -> tuple[Gap, ...]:
        """Return the `n` largest gaps by missing bars, earliest first among equals."""
        return tuple(sorted(self.gaps, key=lambda g: (-g.bars, g.start))[:n])

    def as_dict(self, max_gaps: int | None = None) -> dict[str, Any]:
        """Return the report as JSON-ready values (ISO datetimes, no NaN) for a JSONB column.

        With `max_gaps`, keep only that many of the largest gaps (still in time order);
        `gaps.count` and `gaps.missing_bars` always describe all of them.
        """
        kept = self.gaps if max_gaps is None else sorted(self.worst_gaps(max_gaps),
                                                         key=lambda g: g.start)
        cov = self.coverage
        return {
            "symbol": self.symbol, "timeframe": self.timeframe.value,
            "start": _iso(self.start), "end": _iso(self.end),
            "coverage": {"first": _iso(cov.first), "last": _iso(cov.last), "bars": cov.bars,
                         "expected": cov.expected, "on_calendar": cov.on_calendar,
                         "ratio": cov.ratio},
            "gaps": {"count": len(self.gaps), "missing_bars": self.missing_bars,
                     "windows": [{"start": _iso(g.start), "end": _iso(g.end), "bars": g.bars}
                                 for g in kept]},
            "duplicates": self.duplicates,
            "ohlc": {"inconsistent": self.ohlc_inconsistent,
                     "examples": [{"ts": _iso(b.ts), "rule": b.rule, "open": _num(b.open),
                                   "high": _num(b.high), "low": _num(b.low),
                                   "close": _num(b.close)} for b in self.ohlc_examples]},
            "prices": {"non_positive": self.non_positive_prices,
                       "non_finite": self.non_finite_prices},
            "outliers": {"threshold_z": self.outlier_z, "count": self.outliers,
                         "worst": [{"ts": _iso(o.ts), "log_return": o.log_return, "z": o.z}
                                   for o in self.worst_outliers]},
            "stale": {"min_run": self.stale_run, "bars": self.stale_bars,
                      "runs": self.stale_runs, "longest": None if self.longest_stale is None
                      else {"start": _iso(self.longest_stale.start),
                            "bars": self.longest_stale.bars,
                            "price": _num(self.longest_stale.price)}},
            "volume": {"reported_share": self.volume_reported_share,
                       "traded_share": self.volume_traded_share},
            "backfilled_share": self.backfilled_share,
            "vendors": dict(self.vendors),
        }

    def summary(self) -> str:
        """Return one line for a terminal or a log."""
        cov = self.coverage
        worst = self.worst_gaps(1)
        gaps = f"{len(self.gaps):,} gaps" + (f" (worst {worst[0].bars:,} bars)" if worst else "")
        vendors = ", ".join(f"{v} {n:,}" for v, n in self.vendors) or "none"
        return (f"{self.symbol} {self.timeframe.value}: coverage {_percent(cov.ratio)} of "
                f"{cov.expected:,} expected bars, {gaps}, {self.duplicates:,} duplicates, "
                f"{self.ohlc_inconsistent:,} OHLC inconsistent, {self.non_positive_prices:,} "
                f"non-positive, {self.outliers:,} outliers (|z| >= {self.outlier_z:g}), "
                f"{self.stale_bars:,} stale bars, volume {_percent(self.volume_reported_share)} "
                f"reported / {_percent(self.volume_traded_share)} traded, "
                f"{_percent(self.backfilled_share)} backfilled; vendors {vendors}")


def quality_report(bars: pl.DataFrame, symbol: str, timeframe: Timeframe,
                   start: datetime | None = None, end: datetime | None = None, *,
                   outlier_z: float = DEFAULT_OUTLIER_Z,
                   stale_run: int | None = None) -> QualityReport:
    """Report on one symbol's bars over [start, end) (by default their first..last bar).

    Rows outside the window are ignored. Outliers are log close-to-close returns between
    neighbouring bars whose robust z-score (against the median and a local MAD, see
    `quality_checks.outlier_returns`) reaches `outlier_z`. `stale_run` defaults to
    `DEFAULT_STALE_RUN` for the timeframe. `bars` needs `ts` and the prices; `volume`,
    `vendor` and `backfilled` count as absent (null volume, unknown vendor, not backfilled)
    when the frame lacks them.
    """
    min_run = DEFAULT_STALE_RUN[timeframe] if stale_run is None else stale_run
    if min_run < 2:
        raise InputError(f"stale_run is {min_run}; a run of repeated prices needs >= 2 bars")
    if not outlier_z > 0:
        raise InputError(f"outlier_z is {outlier_z}; it must be a positive number of deviations")
    bars = in_window(checked(bars, symbol), start, end)
    series = by_time(bars.select("ts", *PRICE_COLUMNS))  # only what the sequence checks read
    cov, expected, pos, present = _calendar(series["ts"], symbol, timeframe, start, end)
    cov = replace(cov, bars=bars.height)  # rows, duplicates included, as `coverage` counts
    series = series.with_columns(calendar_pos=pl.Series(pos).replace(-1, None))
    daily_equity = (timeframe is Timeframe.D1
                    and asset_class_of(symbol) is AssetClass.EQUITY)
    ohlc_count, ohlc_first = ohlc_issues(bars, _EXAMPLES)
    non_positive, non_finite = price_counts(bars)
    n_outliers, worst = outlier_returns(series, timeframe, daily_equity, outlier_z, _EXAMPLES)
    stale, runs, longest = stale_runs(series, min_run)
    reported, traded, backfilled = shares(bars)
    lo = as_utc(start, "start") if start is not None else cov.first
    hi = (as_utc(end, "end") if end is not None
          else cov.last + timeframe.duration if cov.last is not None else None)
    return QualityReport(
        symbol=symbol, timeframe=timeframe, start=lo, end=hi, coverage=cov,
        gaps=find_gaps(expected, present, timeframe), duplicates=bars.height - series.height,
        ohlc_inconsistent=ohlc_count, ohlc_examples=ohlc_first,
        non_positive_prices=non_positive, non_finite_prices=non_finite,
        outlier_z=outlier_z, outliers=n_outliers, worst_outliers=worst,
        stale_run=min_run, stale_bars=stale, stale_runs=runs, longest_stale=longest,
        volume_reported_share=reported, volume_traded_share=traded,
        backfilled_share=backfilled, vendors=vendor_counts(bars))


def coverage_message(report: QualityReport, minimum: float, gaps: int = 3) -> str:
    """Return one sentence quoting coverage against `minimum` and the worst `gaps` gaps."""
    cov = report.coverage
    if cov.expected == 0:
        return (f"no {report.symbol} {report.timeframe.value} bars are expected on the "
                "market's calendar in the window, so its coverage cannot be measured")
    verdict = "is below" if cov.ratio < minimum else "meets"
    worst = ", ".join(_gap_text(g) for g in report.worst_gaps(gaps)) or "none"
    return (f"coverage {_percent(cov.ratio, minimum)} of {cov.expected:,} expected bars "
            f"{verdict} the experiment's minimum {minimum * 100:g}%; worst gaps: {worst}")


def volume_usable(report: QualityReport, minimum: float) -> bool:
    """Return whether at least `minimum` of the bars carry traded volume (volume > 0).

    Zero-volume bars are real bars (a sparse market that did not trade) but say nothing about
    volume, so volume features need the share of bars with volume > 0, not just non-null.
    """
    return report.coverage.bars > 0 and report.volume_traded_share >= minimum


def _calendar(ts: pl.Series, symbol: str, timeframe: Timeframe, start: datetime | None,
              end: datetime | None) -> tuple[Coverage, pl.Series, np.ndarray, np.ndarray]:
    """Return coverage, the expected open times, the index in them of each of `ts` in
    ascending order (-1 if off the calendar) and whether each expected open time is present."""
    first: datetime | None = ts.min() if not ts.is_empty() else None  # type: ignore[assignment]
    last: datetime | None = ts.max() if not ts.is_empty() else None  # type: ignore[assignment]
    lo = start or first
    hi = end or (last + timeframe.duration if last is not None else None)
    if lo is None or hi is None:
        none = np.empty(0, dtype=np.int64)
        return Coverage(None, None, 0, 0, 0), pl.Series("ts", [], TS_DTYPE), none, none > 0
    expected = expected_timestamps(asset_class_of(symbol), timeframe, lo, hi)
    grid = expected.dt.epoch("us").to_numpy()
    stamps = ts.cast(TS_DTYPE).dt.epoch("us").to_numpy()
    if not ts.is_sorted():
        stamps = np.sort(stamps)  # a binary search per stamp is several times faster in order
    pos = np.searchsorted(grid, stamps)
    hit = pos < grid.size
    hit[hit] = grid[pos[hit]] == stamps[hit]
    pos = np.where(hit, pos, -1)
    present = np.zeros(grid.size, dtype=bool)
    present[pos[hit]] = True
    cov = Coverage(first, last, ts.len(), expected.len(), int(present.sum()))
    return cov, expected, pos, present


def _gap_text(gap: Gap) -> str:
    start, end = gap.start.strftime("%Y-%m-%d %H:%M"), gap.end.strftime("%Y-%m-%d %H:%M")
    if start[:10] == end[:10]:
        end = end[11:]
    return f"{start}–{end} UTC ({gap.bars:,} bar{'s' if gap.bars != 1 else ''})"


def _percent(share: float, versus: float | None = None) -> str:
    """Format a share with one decimal, more when rounding would hide it is below `versus`."""
    for digits in range(1, 5):
        text = f"{share * 100:.{digits}f}"
        if versus is None or share >= versus or float(text) < versus * 100:
            return f"{text}%"
    return f"{text}%"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _num(value: float) -> float | None:
    return value if np.isfinite(value) else None  # JSONB has no NaN or infinity


__all__ = [
    "DEFAULT_OUTLIER_Z", "DEFAULT_STALE_RUN", "BarIssue", "Coverage", "Gap", "Outlier",
    "QualityReport", "StaleRun", "coverage", "coverage_message", "quality_report",
    "volume_usable",
]

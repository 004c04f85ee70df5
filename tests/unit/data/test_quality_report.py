"""Quality reports: gaps, duplicates, OHLC, prices, outliers, stale runs, volume, provenance."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.data.quality import (
    DEFAULT_STALE_RUN,
    Coverage,
    Gap,
    QualityReport,
    coverage,
    coverage_message,
    quality_report,
    volume_usable,
)
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.data.schema import conform, empty_bars

COMPLETE = SimulatorSpec(seed=3, missing_rate=0.0, outages_per_year=0.0)
DAY = datetime(2024, 1, 3, tzinfo=UTC)
M1 = Timeframe.M1


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sample(symbol: str, start: datetime, end: datetime, timeframe: Timeframe = M1,
           spec: SimulatorSpec = COMPLETE) -> pl.DataFrame:
    return simulate_bars(symbol, timeframe, start, end, spec)


def drop(bars: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return bars.filter(~pl.col("ts").is_between(start, end, closed="left"))


def set_rows(bars: pl.DataFrame, rows: list[int] | range, **values: object) -> pl.DataFrame:
    """Return `bars` with the given columns overwritten on the given row numbers."""
    hit = pl.int_range(pl.len()).is_in(list(rows))
    return bars.with_columns(**{
        name: pl.when(hit).then(value if isinstance(value, pl.Expr) else pl.lit(value))
        .otherwise(pl.col(name)) for name, value in values.items()})


def report(bars: pl.DataFrame, symbol: str = "BTC-USD", timeframe: Timeframe = M1,
           start: datetime | None = None, end: datetime | None = None,
           **options: float) -> QualityReport:
    return quality_report(bars, symbol, timeframe, start, end, **options)  # type: ignore[arg-type]


# --- coverage and gaps -------------------------------------------------------------------------

def test_crypto_gaps_are_listed_in_time_order_with_bar_counts_and_worst_first() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(days=1))
    for start, minutes in ((DAY, 10), (DAY.replace(hour=4), 300), (DAY.replace(hour=12), 1),
                           (DAY.replace(hour=20), 5)):
        bars = drop(bars, start, start + timedelta(minutes=minutes))
    rep = report(bars, start=DAY, end=DAY + timedelta(days=1))
    assert rep.gaps == (Gap(DAY, DAY.replace(minute=10), 10),  # before the first bar present
                        Gap(DAY.replace(hour=4), DAY.replace(hour=9), 300),
                        Gap(DAY.replace(hour=12), DAY.replace(hour=12, minute=1), 1),
                        Gap(DAY.replace(hour=20), DAY.replace(hour=20, minute=5), 5))
    assert [g.bars for g in rep.worst_gaps(3)] == [300, 10, 5]
    assert (rep.coverage.expected, rep.coverage.on_calendar, rep.missing_bars) == (1440, 1124, 316)
    assert rep.coverage.ratio == pytest.approx(1124 / 1440)


def test_equity_gaps_count_only_session_minutes_over_a_holiday_and_an_early_close() -> None:
    # Wed 2024-11-27 full session, Thu Thanksgiving closed, Fri 11-29 closes at 13:00 New York
    start, end = utc(11, 27), utc(12, 3)
    bars = sample("AAPL", start, end)
    assert bars.height == 390 + 210 + 390
    # missing from Wed 15:00 New York (20:00 UTC) to Mon 10:00 New York (15:00 UTC)
    holed = drop(bars, utc(11, 27, 20), utc(12, 2, 15))
    rep = report(holed, "AAPL", start=start, end=end)
    assert rep.gaps == (Gap(utc(11, 27, 20), utc(12, 2, 15), 60 + 210 + 30),)
    assert rep.coverage.expected == 990
    assert rep.coverage.on_calendar == 990 - 300


def test_equity_window_without_a_session_expects_no_bars_and_says_so() -> None:
    thanksgiving = report(empty_bars(), "AAPL", start=utc(11, 28, 5), end=utc(11, 29, 5))
    assert thanksgiving.coverage.expected == 0 and thanksgiving.gaps == ()
    assert coverage_message(thanksgiving, 0.95).startswith("no AAPL 1m bars are expected")


def test_rows_outside_the_window_are_ignored() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=3))
    bars = set_rows(bars, [10], high=0.0)  # a bad row before the window
    rep = report(bars, start=DAY + timedelta(hours=1), end=DAY + timedelta(hours=2))
    assert (rep.coverage.bars, rep.coverage.expected, rep.gaps) == (60, 60, ())
    assert rep.ohlc_inconsistent == rep.non_positive_prices == 0


# --- duplicates, ordering, OHLC and prices ----------------------------------------------------

def test_duplicates_are_counted_and_do_not_inflate_coverage_or_change_other_figures() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=6))
    clean = report(bars)
    dupes = pl.concat([bars, bars[[5]], bars[[5]], bars[[100]]]).sample(
        fraction=1.0, shuffle=True, seed=1)  # duplicated and out of order
    rep = report(dupes)
    assert rep.duplicates == 3 and clean.duplicates == 0
    assert (rep.coverage.bars, rep.coverage.on_calendar) == (363, 360)
    assert rep.coverage.ratio == 1.0
    assert (rep.gaps, rep.outliers, rep.stale_bars) == (clean.gaps, clean.outliers, 0)
    assert rep.worst_outliers == clean.worst_outliers


def test_ohlc_violations_are_counted_with_the_earliest_examples_and_their_rule() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=2))
    def middle(row: int) -> float:  # strictly between open and close, so one rule breaks
        return float(bars["open"][row] + bars["close"][row]) / 2

    row = bars.row(50, named=True)
    bars = set_rows(bars, [50], high=row["low"], low=row["high"])  # high < low
    bars = set_rows(bars, [7], high=middle(7))  # high below max(open, close), above low
    bars = set_rows(bars, [90], low=middle(90))  # low above min(open, close), below high
    rep = report(bars)
    assert rep.ohlc_inconsistent == 3
    assert [(b.ts, b.rule) for b in rep.ohlc_examples] == [
        (DAY + timedelta(minutes=7), "high < max(open, close)"),
        (DAY + timedelta(minutes=50), "high < low"),
        (DAY + timedelta(minutes=90), "low > min(open, close)")]
    assert report(sample("BTC-USD", DAY, DAY + timedelta(hours=2))).ohlc_inconsistent == 0


def test_non_positive_and_non_finite_prices_are_counted_and_stored_as_json_nulls() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=2))
    bars = set_rows(bars, [3], low=0.0)
    bars = set_rows(bars, [40], close=-1.0, low=-1.0)
    bars = set_rows(bars, [70], high=float("nan"), low=float("nan"))
    rep = report(bars)
    assert (rep.non_positive_prices, rep.non_finite_prices) == (2, 1)
    assert all(math.isfinite(o.z) for o in rep.worst_outliers)
    stored = json.loads(json.dumps(rep.as_dict(), allow_nan=False))  # JSONB refuses NaN
    assert stored["prices"] == {"non_positive": 2, "non_finite": 1}


# --- outlier returns ---------------------------------------------------------------------------

def test_a_planted_20_sigma_return_is_flagged_and_fat_tailed_returns_are_rarely_flagged() -> None:
    start = utc(3, 4)
    bars = sample("BTC-USD", start, start + timedelta(days=7), spec=SimulatorSpec(seed=1))
    clean = report(bars)
    returns = bars["close"].log().diff().drop_nulls()
    assert (returns.kurtosis() or 0.0) > 3  # fat tails: excess kurtosis, t(5) shocks and clustering
    assert clean.outliers <= bars.height / 1000  # a global MAD flags about 1 bar in 800 here
    k = bars.height // 2
    jump = math.exp(20 * float(returns.std()))  # type: ignore[arg-type]
    shifted = bars.with_columns(pl.when(pl.int_range(pl.len()) >= k).then(pl.col(c) * jump)
                                .otherwise(pl.col(c)) for c in ("open", "high", "low", "close"))
    rep = report(shifted)
    assert rep.outliers == clean.outliers + 1
    assert rep.worst_outliers[0].ts == bars["ts"][k]
    assert rep.worst_outliers[0].z > 2 * max((abs(o.z) for o in clean.worst_outliers),
                                             default=8.0)


def test_a_volatility_regime_change_is_not_an_outlier_but_a_jump_within_it_is() -> None:
    rng = np.random.default_rng(7)
    sigma = np.repeat([0.0005, 0.005], 3000)  # volatility rises tenfold halfway
    log_close = np.log(100) + np.cumsum(rng.standard_normal(6000) * sigma)
    log_close[4500:] += 20 * 0.005  # a 20-sigma move in the volatile half
    close = np.exp(log_close)
    frame = pl.DataFrame({"ts": [DAY + timedelta(minutes=i) for i in range(6000)],
                          "open": close, "high": close * 1.0001, "low": close * 0.9999,
                          "close": close})
    rep = report(conform(frame, symbol="BTC-USD", vendor="test"))
    assert rep.outliers == 1
    assert rep.worst_outliers[0].ts == DAY + timedelta(minutes=4500)


def test_returns_across_gaps_and_overnight_are_not_scored_but_daily_equity_weekends_are() -> None:
    bars = sample("AAPL", utc(3, 4), utc(3, 9))  # Monday to Friday, 1-minute
    # an overnight jump (all of Tuesday's prices doubled) and a return across a 2-hour gap
    tuesday = (pl.col("ts") >= utc(3, 5)) & (pl.col("ts") < utc(3, 6))
    jumped = bars.with_columns(pl.when(tuesday).then(pl.col(c) * 2).otherwise(pl.col(c))
                               for c in ("open", "high", "low", "close"))
    holed = drop(jumped, utc(3, 7, 15), utc(3, 7, 17))
    late = (pl.col("ts") >= utc(3, 7, 17)) & (pl.col("ts") < utc(3, 8))
    holed = holed.with_columns(pl.when(late).then(pl.col(c) * 1.5).otherwise(pl.col(c))
                               for c in ("open", "high", "low", "close"))
    jumps = {utc(3, 5, 14, 30), utc(3, 6, 14, 30), utc(3, 7, 17)}
    scored = {o.ts for o in report(holed, "AAPL").worst_outliers}
    assert scored.isdisjoint(jumps)  # a log(2) move would be the worst of all, were it scored
    days = sample("AAPL", utc(1, 1), utc(7, 1), Timeframe.D1)
    monday = days["ts"].dt.weekday().to_list().index(1, 20)
    crashed = set_rows(days, range(monday, days.height), **{
        c: pl.col(c) * 0.2 for c in ("open", "high", "low", "close")})
    rep = report(crashed, "AAPL", Timeframe.D1)
    assert [o.ts for o in rep.worst_outliers[:1]] == [days["ts"][monday]]


# --- stale prices, volume and provenance -------------------------------------------------------

def test_a_run_of_flat_bars_at_one_price_is_stale_from_the_timeframes_minimum_run() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=6))
    price = bars["close"][99]
    flat = {c: price for c in ("open", "high", "low", "close")}
    frozen = set_rows(bars, range(100, 190), **flat)  # 90 flat bars, the last close repeated
    rep = report(frozen)
    assert DEFAULT_STALE_RUN[M1] == 60
    assert (rep.stale_bars, rep.stale_runs) == (90, 1)
    assert rep.longest_stale is not None
    assert (rep.longest_stale.start, rep.longest_stale.bars) == (bars["ts"][100], 90)
    short = report(set_rows(bars, range(100, 159), **flat))  # 59 bars: below the minimum
    assert (short.stale_bars, short.longest_stale and short.longest_stale.bars) == (0, 59)
    assert report(set_rows(bars, range(100, 159), **flat), stale_run=30).stale_bars == 59
    moving = set_rows(frozen, [145], **{c: price * 1.01 for c in flat})  # one print moves it
    assert (report(moving).stale_bars, report(moving).stale_runs) == (0, 0)


def test_sparse_zero_volume_bars_lower_the_traded_share_and_refuse_volume_features() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(days=2))
    quiet = np.random.default_rng(5).random(bars.height) < 0.7
    quiet[0] = False
    # a Binance.US-style sparse book: no trade means a zero-volume kline flat at the last close
    last_trade = pl.Series(np.where(quiet, np.nan, bars["close"].to_numpy())).fill_nan(None)
    last = last_trade.forward_fill()
    sparse = bars.with_columns(
        **{c: pl.when(pl.Series(quiet)).then(last).otherwise(pl.col(c))
           for c in ("open", "high", "low", "close")},
        volume=pl.when(pl.Series(quiet)).then(0.0).otherwise(pl.col("volume")))
    rep = report(sparse)
    assert rep.volume_reported_share == 1.0
    assert rep.volume_traded_share == pytest.approx(1 - quiet.mean())
    assert not volume_usable(rep, 0.5) and volume_usable(rep, 0.25)
    assert volume_usable(report(bars), 0.99)
    assert rep.outliers <= 3  # zero returns do not collapse the scale to nothing
    no_volume = report(set_rows(bars, range(0, bars.height, 4), volume=None))
    assert no_volume.volume_reported_share == no_volume.volume_traded_share == 0.75


def test_backfilled_share_and_vendor_counts_come_from_the_rows() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(minutes=100))
    filled = set_rows(bars, range(40, 65), backfilled=True, vendor="geckoterminal")
    rep = report(filled)
    assert rep.backfilled_share == 0.25
    assert rep.vendors == (("sample", 75), ("geckoterminal", 25))
    assert report(bars).backfilled_share == 0.0


# --- messages and storage ----------------------------------------------------------------------

def test_coverage_message_quotes_the_coverage_and_the_worst_gaps() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(days=6))
    for start, minutes in ((DAY.replace(hour=4), 300), (DAY + timedelta(days=1, hours=23), 120),
                           (DAY + timedelta(days=3, hours=6), 30), (DAY.replace(hour=13), 2)):
        bars = drop(bars, start, start + timedelta(minutes=minutes))
    rep = report(bars, start=DAY, end=DAY + timedelta(days=6))
    assert coverage_message(rep, 0.99) == (
        "coverage 94.8% of 8,640 expected bars is below the experiment's minimum 99%; worst "
        "gaps: 2024-01-03 04:00–09:00 UTC (300 bars), 2024-01-04 23:00–2024-01-05 01:00 UTC "
        "(120 bars), 2024-01-06 06:00–06:30 UTC (30 bars)")
    assert "meets the experiment's minimum 90%" in coverage_message(rep, 0.9)


def test_coverage_message_never_rounds_a_shortfall_up_to_the_minimum() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(minutes=10_000))
    rep = report(drop(bars, DAY, DAY + timedelta(minutes=51)), start=DAY,
                 end=DAY + timedelta(minutes=10_000))
    assert coverage_message(rep, 0.995).startswith(
        "coverage 99.49% of 10,000 expected bars is below the experiment's minimum 99.5%; "
        "worst gaps: 2024-01-03 00:00–00:51 UTC (51 bars)")


def test_as_dict_is_json_ready_and_summary_is_one_line() -> None:
    bars = drop(sample("BTC-USD", DAY, DAY + timedelta(days=1)), DAY.replace(hour=4),
                DAY.replace(hour=5))
    bars = drop(bars, DAY.replace(hour=8), DAY.replace(hour=8, minute=4))
    rep = report(bars, start=DAY, end=DAY + timedelta(days=1))
    stored = json.loads(json.dumps(rep.as_dict(), allow_nan=False))
    assert stored["coverage"]["expected"] == 1440 and stored["timeframe"] == "1m"
    assert stored["gaps"]["windows"][0] == {"start": "2024-01-03T04:00:00+00:00",
                                            "end": "2024-01-03T05:00:00+00:00", "bars": 60}
    capped = rep.as_dict(max_gaps=1)["gaps"]
    assert (capped["count"], capped["missing_bars"], len(capped["windows"])) == (2, 64, 1)
    assert stored["vendors"] == {"sample": 1376}
    line = rep.summary()
    assert "\n" not in line
    assert line.startswith("BTC-USD 1m: coverage 95.6% of 1,440 expected bars, 2 gaps")


def test_coverage_keeps_its_meaning_for_the_runner() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=1))
    cov = coverage(pl.concat([bars["ts"], bars["ts"][:5]]), "BTC-USD", M1, DAY,
                   DAY + timedelta(hours=2))
    assert (cov.bars, cov.expected, cov.on_calendar, cov.ratio) == (65, 120, 60, 0.5)
    assert report(bars, start=DAY, end=DAY + timedelta(hours=2)).coverage == Coverage(
        cov.first, cov.last, 60, 120, 60)


def test_empty_bars_over_a_window_are_one_gap_and_no_volume() -> None:
    empty = empty_bars()
    rep = report(empty, start=DAY, end=DAY + timedelta(hours=1))
    assert rep.gaps == (Gap(DAY, DAY + timedelta(hours=1), 60),)
    assert rep.coverage.ratio == 0.0 and not volume_usable(rep, 0.0)
    assert report(empty).coverage.expected == 0


def test_mixed_symbols_naive_windows_and_bad_options_are_refused() -> None:
    bars = sample("BTC-USD", DAY, DAY + timedelta(hours=1))
    with pytest.raises(InputError, match="other symbols"):
        report(bars, "ETH-USD")
    with pytest.raises(InputError, match="naive"):
        report(bars, start=datetime(2024, 1, 3))
    with pytest.raises(InputError, match="stale_run"):
        report(bars, stale_run=1)

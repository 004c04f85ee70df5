"""Calendars: the bar open times a complete feed has, and the windows where bars are missing."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.gaps import expected_timestamps, missing_windows, nyse_sessions

NY = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def new_york_dates(ts: pl.Series) -> dict[date, int]:
    counts = ts.dt.convert_time_zone("America/New_York").dt.date().value_counts()
    return dict(zip(counts["ts"].to_list(), counts["count"].to_list(), strict=True))


def test_crypto_has_every_bar_of_a_leap_year_on_the_epoch_grid() -> None:
    ts = expected_timestamps(AssetClass.CRYPTO, Timeframe.M1, utc(2024, 1, 1), utc(2025, 1, 1))
    assert ts.dtype == pl.Datetime("us", "UTC")
    assert ts.len() == 366 * 24 * 60
    assert ts.diff().drop_nulls().unique().to_list() == [timedelta(minutes=1)]


def test_crypto_start_off_the_grid_rounds_up_and_end_is_exclusive() -> None:
    ts = expected_timestamps(AssetClass.CRYPTO, Timeframe.H4, utc(2024, 1, 1, 0, 1),
                             utc(2024, 1, 2, 8))
    assert ts.to_list() == [utc(2024, 1, 1, h) for h in (4, 8, 12, 16, 20)] + [
        utc(2024, 1, 2, 0), utc(2024, 1, 2, 4)]


def test_equity_5m_session_has_78_bars_from_0930_to_1555_new_york() -> None:
    ts = expected_timestamps(AssetClass.EQUITY, Timeframe.M5, utc(2024, 7, 1), utc(2024, 7, 2))
    local = ts.dt.convert_time_zone("America/New_York").to_list()
    assert len(local) == 78
    assert (local[0].hour, local[0].minute) == (9, 30)
    assert (local[-1].hour, local[-1].minute) == (15, 55)


def test_equity_calendar_skips_weekends_and_holidays_and_shortens_early_closes() -> None:
    ts = expected_timestamps(AssetClass.EQUITY, Timeframe.M5, utc(2024, 12, 20), utc(2024, 12, 31))
    per_day = new_york_dates(ts)
    assert date(2024, 12, 25) not in per_day  # Christmas
    assert date(2024, 12, 21) not in per_day and date(2024, 12, 22) not in per_day  # weekend
    assert per_day[date(2024, 12, 24)] == 42  # early close at 13:00
    assert per_day[date(2024, 12, 23)] == 78
    thanksgiving = new_york_dates(expected_timestamps(
        AssetClass.EQUITY, Timeframe.M1, utc(2024, 11, 28), utc(2024, 11, 30)))
    assert thanksgiving == {date(2024, 11, 29): 210}


def test_equity_session_follows_daylight_saving_in_utc() -> None:
    winter = expected_timestamps(AssetClass.EQUITY, Timeframe.M15, utc(2024, 3, 8), utc(2024, 3, 9))
    summer = expected_timestamps(AssetClass.EQUITY, Timeframe.M15, utc(2024, 3, 11),
                                 utc(2024, 3, 12))
    assert winter[0] == utc(2024, 3, 8, 14, 30)
    assert summer[0] == utc(2024, 3, 11, 13, 30)
    assert winter.len() == summer.len() == 26


@pytest.mark.parametrize(("day", "opens"), [
    (date(2024, 1, 10), [12, 16, 20]),  # EST: session 14:30-21:00 UTC
    (date(2024, 7, 10), [12, 16]),  # EDT: session 13:30-20:00 UTC; the 20:00 bar is after close
])
def test_equity_4h_bars_overlapping_the_session_count(day: date, opens: list[int]) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    ts = expected_timestamps(AssetClass.EQUITY, Timeframe.H4, start, start + timedelta(days=1))
    assert [t.hour for t in ts.to_list()] == opens
    hourly = expected_timestamps(AssetClass.EQUITY, Timeframe.H1, start, start + timedelta(days=1))
    assert hourly.len() == 7  # 09:00..15:00 New York, the first bar half inside the session


def test_equity_daily_bars_are_stamped_at_new_york_midnight() -> None:
    ts = expected_timestamps(AssetClass.EQUITY, Timeframe.D1, utc(2024, 1, 1), utc(2025, 1, 1))
    assert ts.len() == 252
    assert ts[0] == datetime(2024, 1, 2, tzinfo=NY)
    assert ts.filter(ts.dt.month() == 7)[0] == utc(2024, 7, 1, 4)
    local = ts.dt.convert_time_zone("America/New_York")
    assert (local.dt.hour() == 0).all() and (local.dt.minute() == 0).all()


def test_sessions_are_seamless_across_calendar_blocks() -> None:
    sessions = nyse_sessions(date(2009, 12, 28), date(2010, 1, 6))["session"].to_list()
    assert sessions == [date(2009, 12, d) for d in (28, 29, 30, 31)] + [
        date(2010, 1, d) for d in (4, 5, 6)]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InputError, match="naive"):
        expected_timestamps(AssetClass.CRYPTO, Timeframe.M5, datetime(2024, 1, 1),
                            utc(2024, 1, 2))


def test_empty_when_end_is_not_after_start() -> None:
    assert expected_timestamps(AssetClass.EQUITY, Timeframe.M5, utc(2024, 1, 3),
                               utc(2024, 1, 3)).is_empty()


def test_missing_windows_are_maximal_runs_of_absent_expected_bars() -> None:
    expected = expected_timestamps(AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1),
                                   utc(2024, 1, 2))
    absent = {0, 5, 6, 7, 23}
    actual = pl.Series([t for i, t in enumerate(expected.to_list()) if i not in absent])
    assert missing_windows(actual.cast(pl.Datetime("us", "UTC")), expected) == [
        (utc(2024, 1, 1, 0), utc(2024, 1, 1, 0)),
        (utc(2024, 1, 1, 5), utc(2024, 1, 1, 7)),
        (utc(2024, 1, 1, 23), utc(2024, 1, 1, 23)),
    ]
    assert missing_windows(expected, expected) == []


def test_missing_windows_join_the_close_and_next_open_and_ignore_unexpected_bars() -> None:
    expected = expected_timestamps(AssetClass.EQUITY, Timeframe.M5, utc(2024, 7, 1),
                                   utc(2024, 7, 3))
    last_of_day, first_of_next = utc(2024, 7, 1, 19, 55), utc(2024, 7, 2, 13, 30)
    present = expected.filter(~expected.is_in([last_of_day, first_of_next]))
    stray = pl.Series([utc(2024, 7, 1, 22)]).cast(pl.Datetime("us", "UTC"))
    assert missing_windows(pl.concat([present, stray]), expected) == [
        (last_of_day, first_of_next)]


def test_missing_windows_refuse_naive_timestamps() -> None:
    naive = pl.Series([datetime(2024, 1, 1)])
    with pytest.raises(InputError, match="timezone-aware"):
        missing_windows(naive, naive)


def test_a_year_of_one_minute_crypto_bars_is_fast() -> None:
    began = time.perf_counter()
    expected = expected_timestamps(AssetClass.CRYPTO, Timeframe.M1, utc(2024, 1, 1),
                                   utc(2025, 1, 1))
    keep = np.random.default_rng(0).random(expected.len()) > 0.001
    windows = missing_windows(expected.filter(pl.Series(keep)), expected)
    elapsed = time.perf_counter() - began
    assert len(windows) > 400
    assert elapsed < 1.0, f"took {elapsed:.2f} s"

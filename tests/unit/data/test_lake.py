"""The lake: idempotent, order-independent upserts; revisions replace; atomic files; range reads."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from bars_factory import make_bars
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raytrade.core.errors import DataError, InputError
from raytrade.core.types import Timeframe
from raytrade.data.atomic import atomic_write
from raytrade.data.lake import Lake, PartitionKey

KEY = PartitionKey("sample", Timeframe.M5, "BTC-USD")
TRUTH = pl.concat([make_bars(400), make_bars(400, symbol="ETH-USD", price=50.0)])


def _read_all(lake: Lake, symbol: str = "BTC-USD") -> pl.DataFrame:
    return lake.scan(PartitionKey("sample", Timeframe.M5, symbol)).collect().sort("ts")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(st.integers(0, 399), st.integers(1, 150), st.booleans()),
                        min_size=1, max_size=6),
       order=st.randoms(use_true_random=False))
def test_random_overlapping_batches_in_any_order_give_the_deduplicated_union(
    tmp_path_factory: pytest.TempPathFactory, batches: list[tuple[int, int, bool]], order: object
) -> None:
    lake = Lake(tmp_path_factory.mktemp("lake"))
    slices = [TRUTH.filter(pl.col("symbol") == ("ETH-USD" if eth else "BTC-USD"))
              .slice(start, length) for start, length, eth in batches]
    order.shuffle(slices)  # type: ignore[attr-defined]
    for batch in slices:
        lake.upsert(batch, source="sample", timeframe=Timeframe.M5)
    for batch in slices:  # and once more: idempotent
        lake.upsert(batch, source="sample", timeframe=Timeframe.M5)
    expected = pl.concat(slices).unique(subset=["symbol", "ts"]).sort(["symbol", "ts"])
    got = pl.concat([_read_all(lake, s) for s in ("BTC-USD", "ETH-USD")]).sort(["symbol", "ts"])
    assert got.equals(expected)


def test_same_bars_twice_are_one_row_each(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bars = make_bars(30)
    first = lake.upsert(bars, source="sample", timeframe=Timeframe.M5)
    second = lake.upsert(bars, source="sample", timeframe=Timeframe.M5)
    assert (first.added, first.unchanged) == (30, 0)
    assert (second.added, second.revised, second.unchanged) == (0, 0, 30)
    assert _read_all(lake).equals(bars)


def test_a_revised_bar_replaces_the_stored_one(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bars = make_bars(10)
    lake.upsert(bars, source="sample", timeframe=Timeframe.M5)
    revision = bars.slice(4, 1).with_columns(close=pl.lit(104.5), backfilled=pl.lit(True))
    report = lake.upsert(revision, source="sample", timeframe=Timeframe.M5)
    stored = _read_all(lake)
    assert report.revised == 1 and stored.height == 10
    assert stored["close"][4] == 104.5 and stored["backfilled"][4]


def test_bars_land_in_month_files_and_range_reads_prune_by_time(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(make_bars(48), source="sample", timeframe=Timeframe.M5)  # spans Jan 31 -> Feb 1
    files = sorted(p.name for p in lake.partition_dir(KEY).glob("*.parquet"))
    assert files == ["month=2024-01.parquet", "month=2024-02.parquet"]
    feb = datetime(2024, 2, 1, tzinfo=UTC)
    window = lake.scan(KEY, feb, feb + timedelta(minutes=30)).collect()
    assert window["ts"].to_list() == [feb + timedelta(minutes=5 * i) for i in range(6)]
    plan = lake.scan(KEY, feb, feb + timedelta(minutes=30)).explain()
    assert "2024-01" not in plan  # January's file is not even opened


def test_invalid_bars_never_reach_the_lake(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bad = make_bars(5).with_columns(low=pl.col("high") + 1)
    with pytest.raises(DataError, match="high < low"):
        lake.upsert(bad, source="sample", timeframe=Timeframe.M5)
    assert lake.partitions() == []


@pytest.mark.parametrize("source", ["../etc", "Binance", ""])
def test_source_names_cannot_escape_the_lake(tmp_path: Path, source: str) -> None:
    with pytest.raises(InputError, match="source"):
        Lake(tmp_path).upsert(make_bars(2), source=source, timeframe=Timeframe.M5)


def test_origin_is_recorded_in_the_files(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(make_bars(5), source="sample", timeframe=Timeframe.M5, origin="simulator seed 1")
    lake.upsert(make_bars(5, start=datetime(2024, 1, 31, 23, tzinfo=UTC)), source="sample",
                timeframe=Timeframe.M5, origin="imported from x.csv")
    assert lake.origin(KEY) == "simulator seed 1; imported from x.csv"


def test_exception_mid_write_leaves_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def half_write(handle: object) -> None:
        handle.write(b"ne")  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_write)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


CRASHING_WRITER = """
import os, signal, sys
from pathlib import Path
from raytrade.data.atomic import atomic_write

def write_then_die(handle):
    handle.write(Path(sys.argv[2]).read_bytes())  # the whole new file reaches the temporary...
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # ...and the process dies before the rename

atomic_write(Path(sys.argv[1]), write_then_die)
"""


def test_killed_writer_leaves_previous_file_intact_and_lake_recovers(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    before = make_bars(20)
    lake.upsert(before, source="sample", timeframe=Timeframe.M5)
    newer = make_bars(20).with_columns(close=pl.col("close") + 0.5)
    newer.write_parquet(tmp_path / "newer.parquet")
    target = lake.partition_dir(KEY) / "month=2024-01.parquet"
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(target),
                           str(tmp_path / "newer.parquet")], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert _read_all(lake).equals(before)  # the crash changed nothing a reader can see
    leftovers = [p for p in lake.partition_dir(KEY).iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the crash should have left its temporary behind"
    lake.upsert(newer, source="sample", timeframe=Timeframe.M5)
    assert _read_all(lake).equals(newer)
    assert not [p for p in lake.partition_dir(KEY).iterdir() if p.name.endswith(".tmp")]

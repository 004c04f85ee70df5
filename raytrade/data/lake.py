"""The Parquet bar lake: `{root}/bars/source=S/timeframe=T/symbol=X/month=YYYY-MM.parquet`.

Upserts are idempotent (a bar is keyed by symbol and open time; writing it twice keeps one row,
a revised bar replaces the old one) and atomic per file. Reads are polars LazyFrames over only
the months a window touches, with the time filter pushed down into the Parquet scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from raytrade.config.experiment import SOURCE_PATTERN
from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe, is_canonical_symbol
from raytrade.data.atomic import atomic_write, exclusive, remove_stale_temporaries
from raytrade.data.schema import BAR_COLUMNS, BAR_SCHEMA, validate_bars

SOURCE_NAME = re.compile(SOURCE_PATTERN)  # the same rule as an experiment's data.source
ORIGIN_KEY = b"raytrade.origin"
MONTH = re.compile(r"^month=(\d{4}-\d{2})\.parquet$")
DICTIONARY = ("symbol", "vendor")  # the string columns: one value, or a few, per file


@dataclass(frozen=True)
class PartitionKey:
    source: str
    timeframe: Timeframe
    symbol: str


@dataclass(frozen=True)
class UpsertReport:
    added: int  # bars whose open time was not in the lake
    revised: int  # bars that replaced a different stored bar
    unchanged: int  # bars identical to what was stored
    months: int  # month files touched


class Lake:
    """A directory of canonical bars. One writer per partition; any number of readers."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()

    def partition_dir(self, key: PartitionKey) -> Path:
        _check_key(key)
        return (self.root / "bars" / f"source={key.source}" / f"timeframe={key.timeframe}"
                / f"symbol={key.symbol}")

    def upsert(self, bars: pl.DataFrame, *, source: str, timeframe: Timeframe,
               origin: str = "") -> UpsertReport:
        """Validate `bars` (any symbols) and merge them into their month files."""
        validate_bars(bars)
        totals = [0, 0, 0, 0]
        keyed = bars.with_columns(_month=pl.col("ts").dt.truncate("1mo"))  # UTC months
        for (symbol, month), chunk in keyed.group_by(["symbol", "_month"], maintain_order=True):
            key = PartitionKey(source, timeframe, str(symbol))
            counts = self._merge_month(key, f"{month:%Y-%m}", chunk.drop("_month"), origin)
            totals = [a + b for a, b in zip(totals, (*counts, 1), strict=True)]
        return UpsertReport(*totals)

    def _merge_month(self, key: PartitionKey, month: str, new: pl.DataFrame,
                     origin: str) -> tuple[int, int, int]:
        directory = self.partition_dir(key)
        path = directory / f"month={month}.parquet"
        with exclusive(directory):
            remove_stale_temporaries(directory)
            if not path.exists():  # validated bars are in strictly increasing time already
                atomic_write(path, _parquet_writer(new, _join_origins(origin)))
                return new.height, 0, 0
            old = pl.read_parquet(path)
            matched = new.join(old, on="ts", how="inner", suffix="_old")
            same = pl.all_horizontal(
                pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in BAR_COLUMNS if c != "ts")
            unchanged = matched.filter(same).height
            revised = matched.height - unchanged
            added = new.height - matched.height
            if added or revised:  # else the file already holds exactly these bars
                merged = (pl.concat([old, new])
                          .unique(subset=["ts"], keep="last", maintain_order=True).sort("ts"))
                atomic_write(path, _parquet_writer(merged, _join_origins(_origin(path), origin)))
        return added, revised, unchanged

    def scan(self, key: PartitionKey, start: datetime | None = None,
             end: datetime | None = None) -> pl.LazyFrame:
        """Return the bars of one partition in [start, end) as a LazyFrame (maybe empty)."""
        files = [p for month, p in self._month_files(key) if _month_in(month, start, end)]
        if not files:
            return pl.LazyFrame(schema=dict(BAR_SCHEMA))
        frame = pl.scan_parquet(files, hive_partitioning=False)
        if start is not None:
            frame = frame.filter(pl.col("ts") >= start)
        if end is not None:
            frame = frame.filter(pl.col("ts") < end)
        return frame

    def partitions(self) -> list[PartitionKey]:
        found = []
        for path in sorted((self.root / "bars").glob("source=*/timeframe=*/symbol=*")):
            source = path.parent.parent.name.removeprefix("source=")
            timeframe = path.parent.name.removeprefix("timeframe=")
            symbol = path.name.removeprefix("symbol=")
            if timeframe in Timeframe.__members__.values() and any(path.glob("month=*.parquet")):
                found.append(PartitionKey(source, Timeframe(timeframe), symbol))
        return found

    def origin(self, key: PartitionKey) -> str:
        """Return where the partition's bars came from, as recorded by their writers."""
        origins = [_origin(path) for _, path in self._month_files(key)]
        return _join_origins(*origins)

    def _month_files(self, key: PartitionKey) -> list[tuple[str, Path]]:
        directory = self.partition_dir(key)
        if not directory.is_dir():
            return []
        months = ((MONTH.match(p.name), p) for p in sorted(directory.iterdir()))
        return [(m.group(1), p) for m, p in months if m]


def _check_key(key: PartitionKey) -> None:
    if not SOURCE_NAME.match(key.source):
        raise InputError(f"source {key.source!r} is not a lower-case source name such as binance")
    if not is_canonical_symbol(key.symbol):
        raise InputError(f"symbol {key.symbol!r} is not canonical (AAPL, BTC-USD)")


def _month_in(month: str, start: datetime | None, end: datetime | None) -> bool:
    if start is not None and month < start.strftime("%Y-%m"):
        return False
    return end is None or month <= end.strftime("%Y-%m")


def _parquet_writer(frame: pl.DataFrame, origin: str) -> _Writer:
    table = frame.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           ORIGIN_KEY: origin.encode()})
    return _Writer(table)


@dataclass(frozen=True)
class _Writer:
    table: pa.Table

    def __call__(self, handle: BinaryIO) -> None:
        # Dictionary pages only for the repeated strings: on month-sized files, trying them on
        # prices first doubled the write time and made the file larger.
        pq.write_table(self.table, handle, compression="zstd", use_dictionary=list(DICTIONARY))


def _origin(path: Path) -> str:
    metadata: dict[bytes, bytes] = pq.read_schema(path).metadata or {}
    return metadata.get(ORIGIN_KEY, b"").decode()


def _join_origins(*origins: str) -> str:
    parts = [p for origin in origins for p in origin.split("; ") if p]
    return "; ".join(dict.fromkeys(parts))

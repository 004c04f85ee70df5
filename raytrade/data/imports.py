"""A user's own bars (CSV or Parquet) onto the canonical schema, with what was fixed said."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from raytrade.core.errors import DataError, InputError
from raytrade.data.schema import conform, validate_bars

# Column names we accept for each canonical column, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "datetime", "date", "open_time", "t"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "vwap": ("vwap", "vw"),
    "trades": ("trades", "n", "trade_count"),
}


@dataclass(frozen=True)
class ImportedBars:
    bars: pl.DataFrame
    rows_read: int
    reordered: int  # rows that were out of time order and were sorted into place


def read_bars_file(path: Path, *, symbol: str, vendor: str) -> ImportedBars:
    """Read a CSV or Parquet file of one symbol's bars and return validated canonical bars."""
    raw = _read(path)
    renamed = raw.rename(_column_map(raw.columns, path))
    bars = conform(renamed, symbol=symbol, vendor=vendor)
    reordered = int((bars["ts"].diff().dt.total_microseconds() < 0).sum())
    bars = bars.sort("ts")
    try:
        validate_bars(bars)
    except DataError as exc:
        raise DataError(f"{path}: {exc.rule}", symbol=exc.symbol, ts=exc.ts) from None
    return ImportedBars(bars, raw.height, reordered)


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None
    raise InputError(f"{path}: expected a .csv or .parquet file")


def _column_map(columns: list[str], path: Path) -> dict[str, str]:
    mapping: dict[str, str] = {}
    lowered = {c.lower().strip(): c for c in columns}
    for canonical, names in ALIASES.items():
        match = next((lowered[n] for n in names if n in lowered), None)
        if match is not None:
            mapping[match] = canonical
    missing = [c for c in ("ts", "open", "high", "low", "close") if c not in mapping.values()]
    if missing:
        raise InputError(f"{path}: no column for {', '.join(missing)} (found columns "
                         f"{', '.join(columns)}; accepted names: "
                         + "; ".join(f"{k}: {'/'.join(ALIASES[k])}" for k in missing) + ")")
    return mapping

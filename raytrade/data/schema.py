"""The canonical bar schema (DESIGN.md section 3) and the validator every writer calls.

A bar is identified by its open time `ts` (UTC, microseconds). Prices are Float64; `volume` is
null where a source has none (never zero-filled); `vendor` says who supplied the bar and
`backfilled` whether it came from a gap fill.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from raytrade.core.errors import DataError

TS_DTYPE = pl.Datetime("us", "UTC")

BAR_SCHEMA: Mapping[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "symbol": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "vwap": pl.Float64(),
    "trades": pl.Int64(),
    "vendor": pl.String(),
    "backfilled": pl.Boolean(),
}
BAR_COLUMNS: tuple[str, ...] = tuple(BAR_SCHEMA)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_NON_NULL: tuple[str, ...] = ("ts", "symbol", *PRICE_COLUMNS, "vendor", "backfilled")


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(BAR_SCHEMA))


def validate_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """Return `bars` unchanged if they obey the canonical schema, else raise `DataError`.

    Rules: exact columns and dtypes; UTC timestamps; no nulls where a value is required;
    timestamps strictly increasing per symbol (so no duplicates); positive prices; high >= low;
    non-negative volume.
    """
    _check_columns(bars)
    if bars.is_empty():
        return bars
    _check_nulls(bars)
    _check_order(bars)
    _check_first_violation(bars, pl.any_horizontal(pl.col(c) <= 0 for c in PRICE_COLUMNS),
                           "non-positive price (open, high, low and close must be > 0)")
    _check_first_violation(bars, ~pl.all_horizontal(pl.col(c).is_finite() for c in PRICE_COLUMNS),
                           "non-finite price")
    _check_first_violation(bars, pl.col("high") < pl.col("low"), "high < low")
    _check_first_violation(bars, pl.col("volume") < 0, "negative volume")
    return bars


def _check_columns(bars: pl.DataFrame) -> None:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    extra = [c for c in bars.columns if c not in BAR_SCHEMA]
    if missing or extra:
        raise DataError(f"columns differ from the canonical schema: missing {missing}, "
                        f"unexpected {extra}")
    ts_dtype = bars.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone is None:
        raise DataError("timestamps are naive; expected timezone-aware UTC (Datetime(us, UTC))")
    if isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone != "UTC":
        raise DataError(f"timestamps are in {ts_dtype.time_zone}; expected UTC")
    for name, dtype in BAR_SCHEMA.items():
        if bars.schema[name] != dtype:
            raise DataError(f"column {name} has dtype {bars.schema[name]}; expected {dtype}")


def _check_nulls(bars: pl.DataFrame) -> None:
    for name in REQUIRED_NON_NULL:
        nulls = bars.filter(pl.col(name).is_null())
        if nulls.height:
            row = nulls.row(0, named=True)
            raise DataError(f"null {name}", symbol=row["symbol"], ts=row["ts"])


def _check_order(bars: pl.DataFrame) -> None:
    if _ordered(bars):  # the common case, in one cheap pass; else find the first culprit
        return
    dupes = bars.filter(pl.struct("symbol", "ts").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        raise DataError("duplicate timestamp", symbol=row["symbol"], ts=row["ts"])
    prev = pl.col("ts").shift(1).over("symbol")
    flagged = bars.with_columns(_prev=prev).filter(pl.col("ts") <= pl.col("_prev"))
    if flagged.height:
        row = flagged.row(0, named=True)
        rule = f"timestamp out of order (comes after {row['_prev']})"
        raise DataError(rule, symbol=row["symbol"], ts=row["ts"])


def _ordered(bars: pl.DataFrame) -> bool:
    """Return True if each symbol's rows are one block in strictly increasing time."""
    symbol, ts = bars["symbol"], bars["ts"]
    same = (symbol == symbol.shift(1)).fill_null(False)
    blocks = int((~same).sum())
    return blocks == symbol.n_unique() and bool(((ts > ts.shift(1)) | ~same).fill_null(True).all())


def _check_first_violation(bars: pl.DataFrame, bad: pl.Expr, rule: str) -> None:
    flagged = bars.filter(bad.fill_null(False))
    if flagged.height:
        row = flagged.row(0, named=True)
        raise DataError(rule, symbol=row["symbol"], ts=row["ts"])


def sort_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """Return bars ordered by symbol then open time (the lake's order)."""
    return bars.sort(["symbol", "ts"])


def conform(
    frame: pl.DataFrame, *, symbol: str | None = None, vendor: str, backfilled: bool = False
) -> pl.DataFrame:
    """Cast a user's or vendor's frame onto the canonical schema; validation is separate.

    Accepts `ts` as a UTC datetime, a naive datetime (taken as UTC), an ISO string or epoch
    milliseconds. Optional columns (volume, vwap, trades) become null when absent.
    """
    if "ts" not in frame.columns:
        raise DataError("no `ts` column (bar open time)")
    missing_prices = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing_prices:
        raise DataError(f"missing price columns {missing_prices}")
    out = frame.with_columns(ts=_to_utc(frame["ts"]))
    if symbol is not None:
        out = out.with_columns(symbol=pl.lit(symbol))
    elif "symbol" not in out.columns:
        raise DataError("no `symbol` column and no symbol given")
    defaults = {"volume": pl.lit(None), "vwap": pl.lit(None), "trades": pl.lit(None)}
    out = out.with_columns(
        [v.alias(k) for k, v in defaults.items() if k not in out.columns]
        + [pl.lit(vendor).alias("vendor"), pl.lit(backfilled).alias("backfilled")]
    )
    return out.select(pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items())


def _to_utc(ts: pl.Series) -> pl.Series:
    dtype = ts.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return ts.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if dtype == pl.String:
        try:
            parsed = ts.str.to_datetime(time_unit="us", time_zone="UTC")
        except pl.exceptions.PolarsError as exc:
            raise DataError(f"cannot parse `ts` as a timestamp: {exc}") from None
        return parsed
    if dtype.is_integer():
        return pl.from_epoch(ts, time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    raise DataError(f"`ts` has dtype {dtype}; expected a datetime, ISO string or epoch ms")

"""The contract every market-data vendor adapter keeps, and what they share.

An adapter (`massive`, `binance`, `coingecko`, `geckoterminal`) turns one vendor's wire format
into canonical bars (`raytrade.data.schema`). Whatever the vendor sends, `fetch_bars` returns
bars in `[start, end)`, closed bars only (a bar still forming at the adapter's clock's `now`
is left out), sorted by open time, one row per open time (when a vendor sends a bar twice, the
copy that arrived last wins, so a revised bar in a later page replaces the earlier one),
`vendor` set to the adapter's `name` and `backfilled` false. Retrying and rate limiting are in
`raytrade.sources.retry`; credentials are masked by `raytrade.sources.redact`.

Errors follow `raytrade.core.errors`: `TransientError` (subclass `VendorUnavailableError`) when
retrying later may help, `PermanentError` (`UnknownSymbolError`, `CredentialsError`,
`VendorRefusedError`) when someone must change something first, `InputError` for a bad request
window. Each message names the vendor, the symbol and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import polars as pl

from raytrade.core.errors import InputError, PermanentError, TransientError
from raytrade.core.types import Timeframe
from raytrade.data.schema import BAR_SCHEMA, conform, validate_bars

# The columns a vendor parser produces before provenance is added (`conform` adds the rest).
RAW_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, dtype in BAR_SCHEMA.items()
    if name not in ("symbol", "vendor", "backfilled")
}


@runtime_checkable
class MarketDataSource(Protocol):
    """One vendor's historical bars, as canonical bars."""

    name: str  # the vendor, written into each bar's `vendor` column

    async def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> pl.DataFrame:
        """Return the closed canonical bars of `symbol` whose open time is in [start, end)."""
        ...


class PayloadError(ValueError):
    """A vendor payload does not have the documented shape; adapters retry it as transient."""


class VendorUnavailableError(TransientError):
    """A vendor did not answer usefully (429, 418, 5xx, timeout, unparsable body)."""

    def __init__(self, vendor: str, detail: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        self.vendor = vendor
        self.detail = detail
        self.retry_after = retry_after  # seconds the vendor asked us to wait, if it said
        self.status = status
        super().__init__(f"{vendor}: {detail}")


class UnknownSymbolError(PermanentError):
    """The vendor does not list the symbol, or no mapping to its identifier is configured."""

    def __init__(self, vendor: str, symbol: str, fix: str) -> None:
        self.vendor, self.symbol = vendor, symbol
        super().__init__(f"{vendor} cannot serve symbol {symbol}: {fix}")


class CredentialsError(PermanentError):
    """The vendor rejected the API key (missing, wrong, or for another plan or host)."""

    def __init__(self, vendor: str, symbol: str, detail: str, fix: str) -> None:
        self.vendor, self.symbol = vendor, symbol
        super().__init__(f"{vendor} rejected the credentials while fetching {symbol} "
                         f"({detail}); {fix}")


class VendorRefusedError(PermanentError):
    """Any other refusal that repeating the same request will not change (4xx)."""

    def __init__(self, vendor: str, symbol: str, detail: str, fix: str) -> None:
        self.vendor, self.symbol = vendor, symbol
        super().__init__(f"{vendor} refused the request for {symbol} ({detail}); {fix}")


def utc_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Return the window as UTC datetimes; refuse naive or reversed windows."""
    for label, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(f"{label} {value} is naive; pass a timezone-aware UTC datetime")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end < start:
        raise InputError(f"end {end} is before start {start}")
    return start, end


def align_down(moment: datetime, step: timedelta) -> datetime:
    """Return the latest multiple of `step` since the Unix epoch at or before `moment`."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // step) * step


def raw_frame(ts_ms: Sequence[int], columns: Mapping[str, Sequence[object]]) -> pl.DataFrame:
    """Build a frame of `RAW_SCHEMA` from epoch-millisecond open times and value columns.

    Values may be numbers or numeric strings (Binance sends strings); absent columns are null.
    Raises `PayloadError` when a value does not parse.
    """
    height = len(ts_ms)
    ms = pl.Series("ts", ts_ms, dtype=pl.Int64, strict=False)
    series = [pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC")
              .dt.cast_time_unit("us")]
    try:
        for name, dtype in RAW_SCHEMA.items():
            if name == "ts":
                continue
            values = columns.get(name)
            if values is None:
                series.append(pl.Series(name, [None] * height, dtype=dtype))
            else:
                series.append(pl.Series(name, values, strict=False).cast(dtype))
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
        raise PayloadError(f"a bar value does not parse as a number ({exc})") from None
    return pl.DataFrame(series)


def finalize_bars(
    raw: pl.DataFrame, *, symbol: str, vendor: str, timeframe: Timeframe, start: datetime,
    end: datetime, now: datetime, bar_end: pl.Expr | None = None,
) -> pl.DataFrame:
    """Turn parsed rows (in arrival order) into the canonical bars `fetch_bars` promises.

    `bar_end` is the close time of each bar; by default `ts + timeframe`. A bar is kept when
    its open is in [start, end) and it closed at or before `now`; of rows sharing an open time
    the last to arrive wins. The result is validated (`DataError` names the first bad bar).
    """
    bars = conform(raw, symbol=symbol, vendor=vendor, backfilled=False)
    closes = bar_end if bar_end is not None else pl.col("ts") + timeframe.duration
    bars = bars.filter((pl.col("ts") >= start) & (pl.col("ts") < end) & (closes <= now))
    bars = bars.unique(subset="ts", keep="last", maintain_order=True).sort("ts")
    return validate_bars(bars)

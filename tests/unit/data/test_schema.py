"""The validator rejects every way bars can be wrong, naming symbol, timestamp and rule."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from bars_factory import make_bars

from raytrade.core.errors import DataError
from raytrade.data.schema import BAR_SCHEMA, conform, validate_bars


def test_good_bars_pass_unchanged() -> None:
    bars = make_bars(5)
    assert validate_bars(bars).equals(bars)
    assert dict(bars.schema) == dict(BAR_SCHEMA)


@pytest.mark.parametrize(("edit", "rule"), [
    (lambda b: b.with_columns(close=pl.col("close").cast(pl.Float32)), "column close has dtype"),
    (lambda b: b.with_columns(ts=pl.col("ts").dt.replace_time_zone(None)), "naive"),
    (lambda b: b.with_columns(ts=pl.col("ts").dt.convert_time_zone("America/New_York")),
     "America/New_York"),
    (lambda b: b.drop("vwap"), "missing ['vwap']"),
    (lambda b: b.with_columns(extra=pl.lit(1)), "unexpected ['extra']"),
])
def test_schema_violations_are_named(edit, rule: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=rule.replace("[", r"\[").replace("]", r"\]")):
        validate_bars(edit(make_bars(3)))


def _with_row(bars: pl.DataFrame, i: int, **values: object) -> pl.DataFrame:
    return bars.with_columns(
        [pl.when(pl.int_range(pl.len()) == i).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
         for k, v in values.items()])


@pytest.mark.parametrize(("values", "rule"), [
    ({"low": 105.0, "high": 95.0}, "high < low"),
    ({"open": 0.0}, "non-positive price"),
    ({"close": -1.0, "low": -2.0}, "non-positive price"),
    ({"volume": -5.0}, "negative volume"),
    ({"high": float("inf")}, "non-finite price"),
])
def test_row_rules_name_symbol_timestamp_and_rule(values: dict[str, float], rule: str) -> None:
    bars = _with_row(make_bars(4), 2, **values)
    with pytest.raises(DataError) as caught:
        validate_bars(bars)
    assert caught.value.rule.startswith(rule)
    assert caught.value.symbol == "BTC-USD"
    assert caught.value.ts == bars["ts"][2]
    assert "BTC-USD" in str(caught.value) and "2024-01-31 22:10" in str(caught.value)


def test_duplicate_timestamps_are_rejected() -> None:
    bars = make_bars(3)
    with pytest.raises(DataError, match="duplicate timestamp"):
        validate_bars(pl.concat([bars, bars.tail(1)]))


def test_out_of_order_timestamps_are_rejected() -> None:
    bars = make_bars(4)
    shuffled = pl.concat([bars.head(1), bars.slice(2, 1), bars.slice(1, 1), bars.tail(1)])
    with pytest.raises(DataError, match="out of order"):
        validate_bars(shuffled)


def test_same_timestamp_in_two_symbols_is_fine() -> None:
    both = pl.concat([make_bars(3), make_bars(3, symbol="ETH-USD")])
    validate_bars(both)


def test_null_price_is_rejected() -> None:
    bars = make_bars(3).with_columns(close=pl.when(pl.int_range(pl.len()) == 1)
                                     .then(None).otherwise(pl.col("close")))
    with pytest.raises(DataError, match="null close"):
        validate_bars(bars)


@pytest.mark.parametrize("ts", [
    ["2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"],
    [1704067200000, 1704067500000],
    [datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 0, 5)],
])
def test_conform_reads_iso_epoch_ms_and_naive_as_utc(ts: list[object]) -> None:
    frame = pl.DataFrame({"ts": ts, "open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0],
                          "close": [1.0, 2.0]})
    bars = validate_bars(conform(frame, symbol="AAPL", vendor="csv"))
    assert bars["ts"].to_list() == [datetime(2024, 1, 1, tzinfo=UTC),
                                    datetime(2024, 1, 1, 0, 5, tzinfo=UTC)]
    assert bars["volume"].null_count() == 2  # absent volume is null, never zero

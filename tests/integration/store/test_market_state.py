"""Market-data state in the store: watermarks only move forward, gaps are recorded once per
window and updated as they fill, and the newest quality report per partition is found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from raytrade.core.types import Timeframe
from raytrade.data.lake import PartitionKey
from raytrade.store.market import (
    advance_watermark,
    collector_states,
    gaps,
    latest_coverage,
    record_collector_error,
    record_coverage,
    record_gap,
    watermark,
)

KEY = PartitionKey("binance", Timeframe.M1, "BTC-USD")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_watermark_only_moves_forward_and_counts_bars(engine: Engine) -> None:
    assert watermark(engine, KEY) is None
    assert advance_watermark(engine, KEY, T0 + timedelta(minutes=10), 10) == T0 + timedelta(
        minutes=10)
    # A late, replayed write (a restart re-sending an old batch) never moves it back.
    assert advance_watermark(engine, KEY, T0 + timedelta(minutes=5), 0) == T0 + timedelta(
        minutes=10)
    advance_watermark(engine, KEY, T0 + timedelta(minutes=12), 2)
    record_collector_error(engine, KEY, "TransientError: 503 from binance")
    [state] = collector_states(engine)
    assert state.watermark == T0 + timedelta(minutes=12) and state.bars_written == 12
    assert state.last_error == "TransientError: 503 from binance"
    advance_watermark(engine, KEY, T0 + timedelta(minutes=13), 1)
    assert collector_states(engine)[0].last_error is None


def test_a_gap_is_recorded_once_per_window_and_updated_as_it_fills(engine: Engine) -> None:
    start, end = T0, T0 + timedelta(minutes=30)
    record_gap(engine, KEY, start, end, bars=30, filled_bars=0, tried={"geckoterminal": 0})
    record_gap(engine, KEY, start, end, bars=30, filled_bars=30,
               tried={"geckoterminal": 0, "coingecko": 30})
    [gap] = gaps(engine, KEY)
    assert not gap.open and gap.tried == {"geckoterminal": 0, "coingecko": 30}
    record_gap(engine, KEY, end, end + timedelta(minutes=5), bars=5, filled_bars=2, tried={})
    assert [g.start for g in gaps(engine, open_only=True)] == [end]


def test_the_newest_quality_report_per_partition(engine: Engine) -> None:
    other = PartitionKey("massive", Timeframe.D1, "AAPL")
    for i, key in enumerate((KEY, KEY, other)):
        record_coverage(engine, key, T0, T0 + timedelta(days=1), coverage=0.9 + i / 100,
                        expected=1440, bars=1300 + i, report={"n": i})
    latest = {key: report for key, report, _ in latest_coverage(engine)}
    assert latest == {KEY: {"n": 1}, other: {"n": 2}}

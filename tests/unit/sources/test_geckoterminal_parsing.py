"""GeckoTerminal pool candles (newest first, in seconds) become ascending canonical bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raytrade.core.types import Timeframe
from raytrade.sources.base import PayloadError, finalize_bars
from raytrade.sources.geckoterminal import next_before, ohlcv_to_raw, parse_ohlcv

T0 = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
S0 = int(T0.timestamp())


def payload(rows: list[list[float]]) -> dict[str, object]:
    return {"data": {"id": "x", "type": "ohlcv_request_response",
                     "attributes": {"ohlcv_list": rows}},
            "meta": {"base": {"symbol": "WETH"}, "quote": {"symbol": "USDT"}}}


NEWEST_FIRST = [
    [S0 + 180, 2355.81, 2356.40, 2354.97, 2356.02, 18422.51],  # still forming at `now`
    [S0 + 120, 2354.10, 2356.00, 2353.88, 2355.81, 40211.07],
    # S0 + 60 missing: no swap in that minute
    [S0, 2353.95, 2354.30, 2353.60, 2354.10, 9113.44],
]


def test_newest_first_rows_come_out_ascending_with_gaps_kept_and_open_candle_dropped() -> None:
    rows = parse_ohlcv(payload(NEWEST_FIRST))
    out = finalize_bars(ohlcv_to_raw(rows), symbol="WETH-USD", vendor="geckoterminal",
                        timeframe=Timeframe.M1, start=T0, end=T0 + timedelta(hours=1),
                        now=T0 + timedelta(minutes=3, seconds=30))
    assert out["ts"].to_list() == [T0, T0 + timedelta(minutes=2)]
    assert out["close"].to_list() == [2354.10, 2355.81]
    assert out["volume"].to_list() == [9113.44, 40211.07]


def test_timestamps_are_seconds_not_milliseconds() -> None:
    raw = ohlcv_to_raw(parse_ohlcv(payload(NEWEST_FIRST[2:])))
    assert raw["ts"].to_list() == [T0]


def test_paging_backwards_uses_the_oldest_timestamp_and_stops_when_stuck() -> None:
    assert next_before(NEWEST_FIRST, S0 + 240) == S0
    assert next_before([], S0) is None
    assert next_before([[S0, 1, 1, 1, 1, 1]], S0) is None  # inclusive boundary, nothing older


@pytest.mark.parametrize("body", [{}, {"data": {"attributes": {"ohlcv_list": "x"}}},
                                  payload([[S0, 1, 1, 1, 1]]), payload([[S0, "1", 1, 1, 1, 1]])])
def test_malformed_payload_is_a_payload_error(body: object) -> None:
    with pytest.raises(PayloadError):
        parse_ohlcv(body)


def test_extra_row_fields_are_ignored() -> None:
    rows = parse_ohlcv(payload([[S0, 1.0, 2.0, 0.5, 1.5, 10.0, 99]]))
    assert rows == [[S0, 1.0, 2.0, 0.5, 1.5, 10.0]]

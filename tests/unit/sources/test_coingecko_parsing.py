"""CoinGecko price samples become 5-minute bars honestly: empty windows are gaps, volume null."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from raytrade.core.clock import FakeClock
from raytrade.core.errors import PermanentError
from raytrade.core.types import Timeframe
from raytrade.sources.base import PayloadError, finalize_bars
from raytrade.sources.coingecko import (
    CoinGeckoSource,
    error_message,
    parse_prices,
    samples_to_bars,
)

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def ms(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


PAYLOAD = {
    "prices": [[ms(0.5), 100.0], [ms(2.2), 103.0], [ms(3.9), 99.0], [ms(4.8), 101.0],
               # nothing in [00:05, 00:10): a gap
               [ms(10.1), 102.0], [ms(12.0), None], [ms(14.99), 104.0],
               [ms(16.0), 105.0]],  # the 00:15 window is still open at `now` below
    "market_caps": [[ms(0.5), 1.0]],
    "total_volumes": [[ms(0.5), 18503322911.4]],
}


def bars(payload: object, now: datetime) -> pl.DataFrame:
    times, prices = parse_prices(payload)
    return finalize_bars(samples_to_bars(times, prices, Timeframe.M5), symbol="BTC-USD",
                         vendor="coingecko", timeframe=Timeframe.M5, start=T0,
                         end=T0 + timedelta(hours=1), now=now)


def test_samples_become_ohlc_per_window_stamped_at_window_open() -> None:
    out = bars(PAYLOAD, now=T0 + timedelta(minutes=17))
    assert out["ts"].to_list() == [T0, T0 + timedelta(minutes=10)]
    first = out.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (100, 103, 99, 101)
    second = out.row(1, named=True)
    assert (second["open"], second["high"], second["low"], second["close"]) == (102, 104, 102,
                                                                               104)


def test_window_without_samples_is_a_gap_not_a_forward_fill() -> None:
    out = bars(PAYLOAD, now=T0 + timedelta(minutes=17))
    assert T0 + timedelta(minutes=5) not in out["ts"].to_list()


def test_volume_is_null_because_total_volumes_is_a_24h_figure() -> None:
    out = bars(PAYLOAD, now=T0 + timedelta(minutes=17))
    assert out["volume"].null_count() == out.height
    assert out["vwap"].null_count() == out.height and out["trades"].null_count() == out.height


def test_window_still_open_at_now_is_left_out() -> None:
    assert bars(PAYLOAD, now=T0 + timedelta(minutes=19, seconds=59)).height == 2
    assert bars(PAYLOAD, now=T0 + timedelta(minutes=20)).height == 3


def test_a_repeated_sample_keeps_the_value_received_last() -> None:
    payload = {"prices": [[ms(1), 100.0], [ms(2), 110.0], [ms(1), 90.0]]}
    row = bars(payload, now=T0 + timedelta(hours=1)).row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"]) == (90, 110, 90, 110)


@pytest.mark.parametrize("payload", [[], {"prices": "x"}, {"prices": [[1]]},
                                     {"prices": [["a", 1.0]]}, {"prices": [[1, True]]}])
def test_malformed_payload_is_a_payload_error(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_prices(payload)


def test_all_three_error_shapes_are_read() -> None:
    assert error_message({"status": {"error_code": 429, "error_message": "slow down"}}) == \
        "429 slow down"
    assert error_message({"error": "coin not found"}) == "coin not found"
    assert error_message({"error_code": 10010, "status": {"error_message": "pro key"}}) == \
        "10010 pro key"
    assert error_message("nope") == ""


def test_recent_window_uses_one_days_1_call_and_history_uses_range_chunks() -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    source = CoinGeckoSource(base_url="http://127.0.0.1:9/api/v3", clock=FakeClock(now))
    recent = source._requests("bitcoin", "usd", now - timedelta(hours=6), now, now)
    assert recent == [("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "1"})]
    old = source._requests("bitcoin", "usd", now - timedelta(days=3), now - timedelta(days=1),
                           now)
    assert [p for p, _ in old] == ["/coins/bitcoin/market_chart/range"] * 2
    assert old[0][1]["from"] == str(int((now - timedelta(days=3)).timestamp()))
    assert old[-1][1]["to"] == str(int((now - timedelta(days=1)).timestamp()))


def test_one_minute_bars_are_refused_as_finer_than_the_samples() -> None:
    import asyncio

    source = CoinGeckoSource(base_url="http://127.0.0.1:9/api/v3", clock=FakeClock(T0))
    with pytest.raises(PermanentError, match="ask for 5m or longer"):
        asyncio.run(source.fetch_bars("BTC-USD", Timeframe.M1, T0, T0 + timedelta(hours=1)))

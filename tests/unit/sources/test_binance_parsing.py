"""Binance klines become canonical bars: strings parsed, open kline dropped, zero volume kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import polars as pl
import pytest

from raytrade.core.clock import FakeClock
from raytrade.core.errors import PermanentError, TransientError
from raytrade.core.types import Timeframe
from raytrade.sources.base import (
    CredentialsError,
    PayloadError,
    UnknownSymbolError,
    finalize_bars,
)
from raytrade.sources.binance import (  # the SDK's exception, imported without its warnings
    BinanceAPIException,
    BinanceSource,
    klines_to_raw,
    next_start,
    parse_klines,
    used_weight,
)
from raytrade.sources.symbols import BinanceExchange

T0 = datetime(2024, 1, 2, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)
MINUTE = 60_000


def kline(i: int, o: str, h: str, low: str, c: str, v: str, quote: str, n: int) -> list[object]:
    open_ms = MS0 + i * MINUTE
    return [open_ms, o, h, low, c, v, open_ms + MINUTE - 1, quote, n, "0", "0", "0"]


ROWS = [
    kline(0, "42283.58000000", "42318.20000000", "42270.01000000", "42301.99000000",
          "18.51234000", "783126.40123450", 611),
    kline(1, "42301.99000000", "42301.99000000", "42301.99000000", "42301.99000000",
          "0.00000000", "0.00000000", 0),
    kline(2, "42301.99000000", "42400.00000000", "42300.00000000", "42350.00000000",
          "2.00000000", "84700.00000000", 12),
]


def bars(rows: list[list[object]], now: datetime) -> pl.DataFrame:
    now_ms = int(now.timestamp() * 1000)
    return finalize_bars(klines_to_raw(parse_klines(rows), now_ms), symbol="BTC-USDT",
                         vendor="binance", timeframe=Timeframe.M1, start=T0,
                         end=T0 + timedelta(hours=1), now=now)


def test_string_prices_parse_exactly_and_vwap_is_quote_over_base_volume() -> None:
    out = bars(ROWS, now=T0 + timedelta(minutes=10))
    first = out.row(0, named=True)
    assert first["open"] == 42283.58 and first["high"] == 42318.2
    assert first["close"] == 42301.99 and first["volume"] == 18.51234
    assert first["trades"] == 611
    assert first["vwap"] == pytest.approx(783126.40123450 / 18.51234)
    assert first["ts"] == T0 and first["vendor"] == "binance" and not first["backfilled"]


def test_zero_volume_kline_is_kept_as_a_real_bar_with_null_vwap() -> None:
    out = bars(ROWS, now=T0 + timedelta(minutes=10))
    assert out.height == 3
    flat = out.row(1, named=True)
    assert flat["volume"] == 0.0 and flat["trades"] == 0 and flat["vwap"] is None
    assert flat["open"] == flat["close"] == 42301.99


def test_kline_still_open_at_now_is_dropped() -> None:
    # The third kline opens at 00:02 and closes at 00:02:59.999.
    at_close = T0 + timedelta(minutes=2, seconds=59, milliseconds=999)
    assert bars(ROWS, now=at_close).height == 2  # close time == now: still open
    assert bars(ROWS, now=at_close + timedelta(milliseconds=1)).height == 3


def test_revised_kline_received_later_wins_and_order_is_restored() -> None:
    revised = kline(0, "42283.58", "42318.2", "42270.01", "42299.00", "19.0", "800000", 620)
    out = bars([ROWS[2], ROWS[0], ROWS[1], revised], now=T0 + timedelta(minutes=10))
    assert out["ts"].to_list() == [T0 + timedelta(minutes=i) for i in range(3)]
    assert out.row(0, named=True)["close"] == 42299.0


@pytest.mark.parametrize("payload", [
    {"code": -1121}, [["x", "1"]], [[MS0, "1", "1", "1", "1", "1", "late", "0", 1]]])
def test_malformed_payload_is_a_payload_error(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_klines(payload)


def test_unparsable_price_string_is_a_payload_error() -> None:
    bad = kline(0, "n/a", "1", "1", "1", "1", "1", 1)
    with pytest.raises(PayloadError, match="does not parse"):
        klines_to_raw([bad], MS0 + 10 * MINUTE)


def test_next_start_moves_past_the_newest_open_even_when_rows_are_shuffled() -> None:
    assert next_start([ROWS[2], ROWS[0]], MS0, MINUTE) == MS0 + 3 * MINUTE
    assert next_start([], MS0, MINUTE) is None
    assert next_start([ROWS[0]], MS0 + 5 * MINUTE, MINUTE) is None  # no progress: stop


def test_used_weight_header_is_read_case_insensitively() -> None:
    assert used_weight({"x-mbx-used-weight-1m": "42"}) == 42
    assert used_weight({"X-MBX-USED-WEIGHT-1M": "oops"}) is None
    assert used_weight(None) is None


def _api_error(status: int, body: str, headers: dict[str, str] | None = None
               ) -> BinanceAPIException:
    return BinanceAPIException(SimpleNamespace(headers=headers or {}), status, body)


def _source(exchange: BinanceExchange = BinanceExchange.COM) -> BinanceSource:
    return BinanceSource(exchange, base_url="http://127.0.0.1:9",
                         clock=FakeClock(T0))


def test_invalid_symbol_on_binance_com_points_to_binance_us_not_usdt() -> None:
    err = _source()._refusal(_api_error(400, '{"code":-1121,"msg":"Invalid symbol."}'),
                             "BTC-USD", "BTCUSD")
    assert isinstance(err, UnknownSymbolError)
    assert "BTC-USD" in str(err) and "binance_us" in str(err)


def test_rate_limit_and_ban_are_transient_with_retry_after() -> None:
    for status in (429, 418):
        err = _source()._refusal(_api_error(status, '{"code":-1003,"msg":"Too much"}',
                                            {"Retry-After": "7"}), "BTC-USDT", "BTCUSDT")
        assert isinstance(err, TransientError)
        assert err.retry_after == 7.0  # type: ignore[attr-defined]


def test_bad_key_is_permanent_and_names_the_setting() -> None:
    err = _source()._refusal(
        _api_error(401, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions."}'),
        "BTC-USDT", "BTCUSDT")
    assert isinstance(err, CredentialsError) and isinstance(err, PermanentError)
    assert "RAYTRADE_BINANCE_API_KEY" in str(err)


def test_default_weight_limits_differ_between_venues() -> None:
    assert _source().weight_limit == 6000 and _source().name == "binance"
    us = _source(BinanceExchange.US)
    assert us.weight_limit == 1200 and us.name == "binance_us"


def test_weight_close_to_the_limit_waits_for_the_next_minute() -> None:
    import asyncio

    from raytrade.sources.retry import RetryPolicy

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    clock = FakeClock(T0 + timedelta(seconds=45))
    src = BinanceSource(BinanceExchange.US, base_url="http://127.0.0.1:9", clock=clock,
                        retry=RetryPolicy(sleep=sleep))  # 1200 a minute, 90% headroom: 1080
    src._note_weight({"X-MBX-USED-WEIGHT-1M": "1078"})
    asyncio.run(src._respect_weight())
    assert waits == []  # 1078 + 2 still fits
    src._note_weight({"x-mbx-used-weight-1m": "1079"})
    asyncio.run(src._respect_weight())
    assert waits == [pytest.approx(15.0)]  # to the next minute
    src._note_weight({"X-MBX-USED-WEIGHT-1M": "1190"})
    clock.advance(timedelta(minutes=1))  # a reading from an earlier minute no longer counts
    asyncio.run(src._respect_weight())
    assert len(waits) == 1

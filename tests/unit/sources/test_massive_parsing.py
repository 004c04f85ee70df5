"""Massive aggregates become canonical bars: gaps stay gaps, daily bars open at NY midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from massive.rest.models import Agg

from raytrade.core.types import Timeframe
from raytrade.sources.base import PayloadError, finalize_bars
from raytrade.sources.massive import (
    _Pages,
    _StrictJson,
    _UnparsablePage,
    aggs_to_raw,
    bar_end,
    error_text,
)


def agg(t: datetime, o: float, h: float, low: float, c: float, v: float = 100.0) -> Agg:
    # Through the SDK's own deserializer, with a field it does not know (ignored).
    return Agg.from_dict({"t": int(t.timestamp() * 1000), "o": o, "h": h, "l": low, "c": c,
                          "v": v, "vw": (h + low) / 2, "n": 7, "extra": "ignored"})


def bars(aggs: list[Agg], symbol: str, timeframe: Timeframe, start: datetime, end: datetime,
         now: datetime) -> pl.DataFrame:
    return finalize_bars(aggs_to_raw(aggs), symbol=symbol, vendor="massive",
                         timeframe=timeframe, start=start, end=end, now=now,
                         bar_end=bar_end(symbol, timeframe))


def test_missing_minutes_stay_gaps_not_zero_bars() -> None:
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    minutes = [0, 1, 3]  # no trade in minute 2: Massive sends no bar
    out = bars([agg(t0 + timedelta(minutes=m), 187.1, 187.2, 187.0, 187.15) for m in minutes],
               "AAPL", Timeframe.M1, t0, t0 + timedelta(minutes=5), now=t0 + timedelta(hours=1))
    assert out["ts"].to_list() == [t0 + timedelta(minutes=m) for m in minutes]
    assert out["volume"].to_list() == [100.0] * 3
    assert out["trades"].to_list() == [7] * 3
    assert out["vwap"].to_list() == [187.1] * 3


@pytest.mark.parametrize(("day", "utc_hour"), [
    (datetime(2024, 1, 2), 5),    # EST: midnight New York is 05:00 UTC
    (datetime(2024, 3, 8), 5),    # the Friday before DST starts
    (datetime(2024, 3, 11), 4),   # the Monday after: EDT, 04:00 UTC
    (datetime(2024, 11, 4), 5),   # after DST ends
])
def test_daily_bar_opens_at_new_york_midnight_in_utc(day: datetime, utc_hour: int) -> None:
    t = day.replace(hour=utc_hour, tzinfo=UTC)
    out = bars([agg(t, 10, 11, 9, 10.5)], "AAPL", Timeframe.D1, t - timedelta(days=1),
               t + timedelta(days=1), now=t + timedelta(days=2))
    assert out["ts"].to_list() == [t]


def test_daily_bar_on_the_23_hour_dst_day_closes_at_the_next_new_york_midnight() -> None:
    opens = datetime(2024, 3, 10, 5, tzinfo=UTC)   # Sunday 00:00 EST
    closes = datetime(2024, 3, 11, 4, tzinfo=UTC)  # Monday 00:00 EDT, 23 hours later
    one = [agg(opens, 10, 11, 9, 10.5)]
    window = (opens, opens + timedelta(days=2))
    assert bars(one, "AAPL", Timeframe.D1, *window, now=closes).height == 1
    assert bars(one, "AAPL", Timeframe.D1, *window,
                now=closes - timedelta(seconds=1)).height == 0


def test_crypto_daily_bar_closes_a_utc_day_later() -> None:
    t = datetime(2024, 3, 10, tzinfo=UTC)
    one = [agg(t, 10, 11, 9, 10.5)]
    assert bars(one, "BTC-USD", Timeframe.D1, t, t + timedelta(days=1),
                now=t + timedelta(days=1)).height == 1


def test_bars_outside_the_window_and_still_open_are_left_out() -> None:
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    aggs = [agg(t0 + timedelta(minutes=m), 1, 2, 0.5, 1.5) for m in range(-1, 6)]
    out = bars(aggs, "AAPL", Timeframe.M1, t0, t0 + timedelta(minutes=5),
               now=t0 + timedelta(minutes=4))  # the 00:04 bar is still forming
    assert out["ts"].to_list() == [t0 + timedelta(minutes=m) for m in range(4)]


def test_aggregate_without_prices_is_a_payload_error() -> None:
    broken = Agg.from_dict({"t": 1704205800000, "o": 1.0})
    with pytest.raises(PayloadError):
        aggs_to_raw([broken])


def test_error_text_reads_error_or_message() -> None:
    assert error_text(b'{"status":"ERROR","error":"Unknown API Key"}') == "Unknown API Key"
    assert error_text(b'{"status":"NOT_AUTHORIZED","message":"upgrade"}') == "upgrade"
    assert error_text(b"") == "(empty body)"
    assert error_text(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


def test_strict_json_raises_what_the_sdk_cannot_swallow_and_paces_next_pages() -> None:
    # The SDK catches ValueError while paginating and stops quietly; this must get through.
    assert not issubclass(_UnparsablePage, ValueError)
    paced: list[int] = []
    pages = _Pages(lambda: paced.append(1))
    hook = _StrictJson(pages)
    assert hook.loads('{"results": [], "next_url": "http://x/next"}')["results"] == []
    assert hook.loads('{"results": []}') == {"results": []}
    assert (pages.decoded, len(paced)) == (2, 1)
    with pytest.raises(_UnparsablePage):
        hook.loads('{"results": [')

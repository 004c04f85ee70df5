"""What every adapter returns: canonical, validated bars in [start, end), closed, deduplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raytrade.core.errors import DataError, InputError
from raytrade.core.types import Timeframe
from raytrade.data.schema import BAR_SCHEMA
from raytrade.sources.base import (
    MarketDataSource,
    align_down,
    finalize_bars,
    raw_frame,
    utc_window,
)
from raytrade.sources.binance import BinanceSource
from raytrade.sources.coingecko import CoinGeckoSource
from raytrade.sources.geckoterminal import GeckoTerminalSource
from raytrade.sources.massive import MassiveSource

T0 = datetime(2024, 1, 2, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)


def finalize(ts_minutes: list[int], closes: list[float], now_minutes: int = 60,
             lows: list[float] | None = None):  # type: ignore[no-untyped-def]
    raw = raw_frame([MS0 + m * 60_000 for m in ts_minutes],
                    {"open": closes, "high": closes, "low": lows or closes, "close": closes})
    return finalize_bars(raw, symbol="BTC-USD", vendor="acme", timeframe=Timeframe.M1,
                         start=T0, end=T0 + timedelta(minutes=10),
                         now=T0 + timedelta(minutes=now_minutes))


def test_result_has_the_canonical_schema_and_provenance() -> None:
    out = finalize([0, 1], [1.0, 2.0])
    assert dict(out.schema) == dict(BAR_SCHEMA)
    assert out["vendor"].to_list() == ["acme"] * 2
    assert out["backfilled"].to_list() == [False] * 2
    assert out["symbol"].to_list() == ["BTC-USD"] * 2


def test_window_is_half_open_and_late_copies_win() -> None:
    out = finalize([-1, 3, 0, 10, 3], [9.0, 1.0, 2.0, 9.0, 1.5])
    assert out["ts"].to_list() == [T0, T0 + timedelta(minutes=3)]
    assert out["close"].to_list() == [2.0, 1.5]


def test_empty_input_gives_empty_canonical_bars() -> None:
    out = finalize([], [])
    assert out.is_empty() and dict(out.schema) == dict(BAR_SCHEMA)


def test_broken_vendor_bars_are_refused_by_the_validator() -> None:
    with pytest.raises(DataError, match="high < low"):
        finalize([0], [1.0], lows=[2.0])


def test_windows_must_be_aware_and_ordered() -> None:
    with pytest.raises(InputError, match="naive"):
        utc_window(datetime(2024, 1, 1), T0)
    with pytest.raises(InputError, match="before start"):
        utc_window(T0, T0 - timedelta(days=1))


def test_align_down_uses_epoch_multiples() -> None:
    t = T0 + timedelta(minutes=7, seconds=3)
    assert align_down(t, timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_every_adapter_is_a_market_data_source() -> None:
    sources = [MassiveSource(None), BinanceSource(), CoinGeckoSource(),
               GeckoTerminalSource({})]
    for source in sources:
        assert isinstance(source, MarketDataSource)
    assert [s.name for s in sources] == ["massive", "binance", "coingecko", "geckoterminal"]

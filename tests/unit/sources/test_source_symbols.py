"""Canonical symbols map to each vendor's identifier without swapping one market for another."""

from __future__ import annotations

import pytest

from raytrade.core.errors import PermanentError
from raytrade.sources.base import UnknownSymbolError
from raytrade.sources.symbols import (
    DEFAULT_COINGECKO_IDS,
    BinanceExchange,
    PoolRef,
    binance_hint,
    binance_symbol,
    coingecko_coin,
    geckoterminal_pool,
    massive_ticker,
)


def test_massive_keeps_equity_tickers_and_prefixes_crypto_pairs() -> None:
    assert massive_ticker("AAPL") == "AAPL"
    assert massive_ticker("BRK.B") == "BRK.B"
    assert massive_ticker("BTC-USD") == "X:BTCUSD"


def test_binance_usd_pair_is_never_replaced_by_usdt() -> None:
    assert binance_symbol("BTC-USD", BinanceExchange.US) == "BTCUSD"
    assert binance_symbol("BTC-USD", BinanceExchange.COM) == "BTCUSD"
    assert binance_symbol("BTC-USDT", BinanceExchange.COM) == "BTCUSDT"
    assert binance_symbol("BTC-USDT", BinanceExchange.US) == "BTCUSDT"


def test_binance_hint_for_usd_on_binance_com_names_both_honest_alternatives() -> None:
    hint = binance_hint("BTC-USD", BinanceExchange.COM)
    assert "binance_us" in hint
    assert "BTC-USDT" in hint and "different market" in hint


def test_binance_refuses_equities_as_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="binance cannot serve symbol AAPL"):
        binance_symbol("AAPL", BinanceExchange.COM)


@pytest.mark.parametrize("symbol", ["btc-usd", "BTC/USD", "", "BTC-"])
def test_non_canonical_symbols_are_refused_with_a_hint(symbol: str) -> None:
    with pytest.raises(UnknownSymbolError, match="canonical symbol"):
        massive_ticker(symbol)


def test_coingecko_maps_base_to_coin_id_and_quote_to_vs_currency() -> None:
    assert coingecko_coin("BTC-USD", DEFAULT_COINGECKO_IDS) == ("bitcoin", "usd")
    assert coingecko_coin("ETH-EUR", DEFAULT_COINGECKO_IDS) == ("ethereum", "eur")
    assert coingecko_coin("PEPE-USD", {"PEPE": "pepe"}) == ("pepe", "usd")


def test_coingecko_unknown_base_says_how_to_configure_it() -> None:
    with pytest.raises(UnknownSymbolError, match=r"coin_ids=\{'ZZZ': '<id>'\}"):
        coingecko_coin("ZZZ-USD", DEFAULT_COINGECKO_IDS)


def test_geckoterminal_uses_only_the_configured_pool() -> None:
    pool = PoolRef(network="eth", address="0xpool")
    assert geckoterminal_pool("WETH-USD", {"WETH-USD": pool}) is pool
    with pytest.raises(UnknownSymbolError, match="no pool is configured for WBTC-USD"):
        geckoterminal_pool("WBTC-USD", {"WETH-USD": pool})


def test_pool_ref_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        PoolRef(network="eth", address="0xpool", chain="eth")  # type: ignore[call-arg]

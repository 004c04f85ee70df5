"""Canonical symbols (`AAPL`, `BTC-USD`) to each vendor's identifier, in one place.

No mapping substitutes one market for another: `BTC-USD` is the bitcoin/US-dollar book, and
on Binance it maps to `BTCUSD` (listed on Binance.US, not on Binance.com), never to `BTCUSDT`,
which is a different market with different prices and volumes. Asking a venue for a market it
does not list fails with an `UnknownSymbolError` that names the alternatives.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from raytrade.config.collect import PoolRef
from raytrade.core.types import SYMBOL_HINT, AssetClass, asset_class_of, is_canonical_symbol
from raytrade.sources.base import UnknownSymbolError

# Coin ids of the common bases; CoinGecko ids are names, not tickers (configurable per source).
DEFAULT_COINGECKO_IDS: Mapping[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "SOL": "solana",
    "XRP": "ripple",
    "ADA": "cardano",
    "DOGE": "dogecoin",
    "LTC": "litecoin",
    "AVAX": "avalanche-2",
    "LINK": "chainlink",
    "DOT": "polkadot",
}


class BinanceExchange(StrEnum):
    """Which exchange: Binance.com and Binance.US list different markets and limits."""

    COM = "binance"
    US = "binance_us"


def _canonical(vendor: str, symbol: str) -> None:
    if not is_canonical_symbol(symbol):
        raise UnknownSymbolError(vendor, symbol, f"{symbol!r} is not {SYMBOL_HINT}")


def split_pair(vendor: str, symbol: str) -> tuple[str, str]:
    """Return (base, quote) of a crypto pair such as BTC-USD."""
    _canonical(vendor, symbol)
    if asset_class_of(symbol) is not AssetClass.CRYPTO:
        raise UnknownSymbolError(vendor, symbol,
                                 f"{vendor} serves crypto pairs (BASE-QUOTE such as BTC-USD) only")
    base, quote = symbol.split("-")
    return base, quote


def massive_ticker(symbol: str) -> str:
    """Return Massive's ticker: equities as they are (AAPL), crypto pairs as X:BTCUSD."""
    _canonical("massive", symbol)
    if asset_class_of(symbol) is AssetClass.CRYPTO:
        base, quote = symbol.split("-")
        return f"X:{base}{quote}"
    return symbol


def binance_symbol(symbol: str, exchange: BinanceExchange) -> str:
    """Return the Binance market id: base and quote joined (BTC-USDT -> BTCUSDT).

    BTC-USD maps to BTCUSD on both venues; only Binance.US lists it. The quote is never
    swapped for a stablecoin: that would splice another market's prices and volumes.
    """
    base, quote = split_pair(exchange.value, symbol)
    return f"{base}{quote}"


def binance_hint(symbol: str, exchange: BinanceExchange) -> str:
    """Return what to try when `exchange` does not list `symbol`."""
    base, quote = symbol.split("-") if "-" in symbol else (symbol, "")
    if exchange is BinanceExchange.COM and quote == "USD":
        return (f"Binance.com lists no {symbol} book; use the binance_us source, or ask for "
                f"{base}-USDT, which is a different market (USDT, not USD)")
    return f"check that {exchange.value} lists {symbol}"


def coingecko_coin(symbol: str, ids: Mapping[str, str]) -> tuple[str, str]:
    """Return (coin id, vs_currency) for a pair: BTC-USD -> ("bitcoin", "usd")."""
    base, quote = split_pair("coingecko", symbol)
    coin = ids.get(base)
    if coin is None:
        raise UnknownSymbolError(
            "coingecko", symbol,
            f"no CoinGecko coin id is configured for {base}; pass coin_ids={{'{base}': '<id>'}} "
            "(the id in the coin's CoinGecko URL)")
    return coin, quote.lower()


def geckoterminal_pool(symbol: str, pools: Mapping[str, PoolRef]) -> PoolRef:
    """Return the configured pool that prices `symbol` on GeckoTerminal."""
    split_pair("geckoterminal", symbol)
    pool = pools.get(symbol)
    if pool is None:
        raise UnknownSymbolError(
            "geckoterminal", symbol,
            f"no pool is configured for {symbol}; add it to the source's pools mapping "
            "(network, pool address, priced token)")
    return pool

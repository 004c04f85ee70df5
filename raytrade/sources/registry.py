"""Build a source by name with its credentials from `Settings` (the only place keys come from).

`SOURCES` is an explicit table: a name used in experiment files, lake partitions
(`source=...`) and the `vendor` column, mapped to a builder. `base_url` points a source at
another host (a fake venue in tests, a proxy); everything else keeps the adapter's defaults
unless given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from raytrade.config.collect import PoolRef
from raytrade.config.settings import Settings
from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.sources.base import MarketDataSource
from raytrade.sources.binance import BinanceSource
from raytrade.sources.coingecko import CoinGeckoSource
from raytrade.sources.geckoterminal import GeckoTerminalSource
from raytrade.sources.massive import MassiveSource
from raytrade.sources.retry import RateLimit, RetryPolicy
from raytrade.sources.symbols import BinanceExchange


@dataclass(frozen=True)
class SourceOptions:
    """What a caller may set beyond the credentials; None keeps each adapter's default."""

    base_url: str | None = None
    clock: Clock | None = None
    retry: RetryPolicy | None = None
    rate: RateLimit | None = None  # e.g. lift Massive's free-plan 5 calls a minute
    pools: Mapping[str, PoolRef] = field(default_factory=dict)  # GeckoTerminal only
    coin_ids: Mapping[str, str] = field(default_factory=dict)  # CoinGecko only


def _massive(s: Settings, o: SourceOptions) -> MarketDataSource:
    return MassiveSource(s.massive_api_key, base_url=o.base_url, clock=o.clock, retry=o.retry,
                         rate=o.rate)


def _binance(exchange: BinanceExchange) -> Callable[[Settings, SourceOptions],
                                                    MarketDataSource]:
    def build(s: Settings, o: SourceOptions) -> MarketDataSource:
        return BinanceSource(exchange, base_url=o.base_url, api_key=s.binance_api_key,
                             clock=o.clock, retry=o.retry, rate=o.rate)
    return build


def _coingecko(s: Settings, o: SourceOptions) -> MarketDataSource:
    return CoinGeckoSource(s.coingecko_api_key, base_url=o.base_url, coin_ids=o.coin_ids,
                           clock=o.clock, retry=o.retry, rate=o.rate)


def _geckoterminal(s: Settings, o: SourceOptions) -> MarketDataSource:
    return GeckoTerminalSource(o.pools, base_url=o.base_url, clock=o.clock, retry=o.retry,
                               rate=o.rate)


SOURCES: Mapping[str, Callable[[Settings, SourceOptions], MarketDataSource]] = {
    "massive": _massive,
    "binance": _binance(BinanceExchange.COM),
    "binance_us": _binance(BinanceExchange.US),
    "coingecko": _coingecko,
    "geckoterminal": _geckoterminal,
}


def build_source(name: str, settings: Settings,
                 options: SourceOptions | None = None) -> MarketDataSource:
    """Return the source called `name`, with its key from `settings`."""
    builder = SOURCES.get(name)
    if builder is None:
        raise InputError(f"unknown source {name!r}; expected one of {sorted(SOURCES)}")
    options = options or SourceOptions()
    if options.base_url is None and settings.base_url(name) is not None:
        options = replace(options, base_url=settings.base_url(name))
    return builder(settings, options)

"""Fake vendor servers on loopback speaking the real wire formats, with fault injection.

Each venue is an aiohttp server on 127.0.0.1 (ephemeral port) serving slices of one seeded
ground truth (`raytrade.data.sample`) the way its vendor does, so the real SDKs run end to end
in tests; `truth()` is what an honest client should end up with. Venues import only `data` and
below: a fake never shares code with the client it fakes.
"""

from raytrade.venues.alpaca_trading import AlpacaTradingVenue
from raytrade.venues.binance import BinanceVenue
from raytrade.venues.binance_trading import BinanceTradingVenue
from raytrade.venues.coingecko import CoinGeckoVenue
from raytrade.venues.faults import (
           FaultKind,
           FaultLog,
           FaultPlan,
           FaultRecord,
           RequestRecord,
           outage_windows,
)
from raytrade.venues.geckoterminal import GeckoTerminalVenue, Pool, pool_for
from raytrade.venues.massive import MassiveVenue
from raytrade.venues.order_faults import OrderFault, OrderFaultPlan, OrderFaultRecord
from raytrade.venues.server import Venue, running

__all__ = ["AlpacaTradingVenue", "BinanceTradingVenue", "BinanceVenue", "CoinGeckoVenue",
           "FaultKind", "FaultLog", "FaultPlan", "FaultRecord", "GeckoTerminalVenue",
           "MassiveVenue", "OrderFault", "OrderFaultPlan", "OrderFaultRecord", "Pool",
           "RequestRecord", "Venue", "outage_windows", "pool_for", "running"]

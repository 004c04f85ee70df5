"""Brokers: one `Broker` Protocol (`base`), Alpaca and Binance through their SDKs, and a
simulated broker for sessions without keys. Vendor SDKs are imported only in `alpaca` and
`binance`; import those modules directly where they are needed."""

from raytrade.live.brokers.base import (
    Account,
    Broker,
    BrokerCredentialsError,
    BrokerRefusedError,
    BrokerUnavailableError,
    OrderRequest,
    OrderState,
    OrderStateUnknownError,
    OrderStatus,
    OrderType,
    Position,
    client_order_id,
)
from raytrade.live.brokers.simulated import Bar, SimulatedBroker

__all__ = ["Account", "Bar", "Broker", "BrokerCredentialsError", "BrokerRefusedError",
           "BrokerUnavailableError", "OrderRequest", "OrderState", "OrderStateUnknownError",
           "OrderStatus", "OrderType", "Position", "SimulatedBroker", "client_order_id"]

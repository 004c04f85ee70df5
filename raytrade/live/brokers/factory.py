"""The broker a session file names, built from the file and the environment's keys."""

from __future__ import annotations

from raytrade.config.session import BrokerSpec
from raytrade.config.settings import Settings
from raytrade.live.brokers.base import Broker
from raytrade.live.brokers.simulated import SimulatedBroker


def build_broker(spec: BrokerSpec, settings: Settings, *, capital: float, symbol: str,
                 fee_bps: float, slippage_bps: float) -> Broker:
    """Return the session's broker; `fee_bps` and `slippage_bps` (the experiment's costs) are
    the simulated broker's defaults. Vendor SDKs are imported only for their own kind."""
    url = str(spec.base_url).rstrip("/") if spec.base_url else None
    if spec.kind == "simulated":
        return SimulatedBroker(
            cash=capital, fee_bps=fee_bps if spec.fee_bps is None else spec.fee_bps,
            slippage_bps=slippage_bps if spec.slippage_bps is None else spec.slippage_bps)
    if spec.kind == "alpaca":
        from raytrade.live.brokers.alpaca import AlpacaBroker

        return AlpacaBroker.from_settings(settings, base_url=url)
    from raytrade.live.brokers.binance import TESTNET_URL, BinanceBroker

    return BinanceBroker.from_settings(settings, base_url=url or TESTNET_URL,
                                       quote=symbol.rsplit("-", 1)[-1], symbols=(symbol,))


__all__ = ["build_broker"]

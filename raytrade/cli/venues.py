"""`raytrade venues`: the four fake vendors on loopback, for a local sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from raytrade.cli.context import JsonFlag
from raytrade.cli.output import print_json, print_table, stdout
from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, asset_class_of
from raytrade.venues import (
    BinanceVenue,
    CoinGeckoVenue,
    FaultPlan,
    GeckoTerminalVenue,
    MassiveVenue,
    Venue,
)

DEFAULT_SYMBOLS = "AAPL,MSFT,SPY,BTC-USD,SOL-USD,BNB-USD"
DEFAULT_EQUITIES = ("AAPL", "MSFT", "SPY")
DEFAULT_CRYPTO = ("BTC-USD", "SOL-USD", "BNB-USD")


def venues(
    ctx: typer.Context,
    fault_rate: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of requests that get one injected fault.")] = 0.0,
    seed: Annotated[int, typer.Option(
        min=0, help="Seed of the injected faults and of the simulated markets.")] = 0,
    symbols: Annotated[str, typer.Option(
        help="Comma-separated canonical symbols: equities go to Massive, crypto (BASE-USD) to "
             "Binance, CoinGecko and GeckoTerminal.")] = DEFAULT_SYMBOLS,
    binance_us: Annotated[bool, typer.Option(
        "--binance-us", help="Run the Binance fake as Binance.US (USD pairs).")] = False,
    as_json: JsonFlag = False,
    duration: Annotated[float | None, typer.Option(
        hidden=True, help="Stop after this many seconds instead of waiting for Ctrl-C.")] = None,
) -> None:
    """Start fake Massive, Binance, CoinGecko and GeckoTerminal servers on 127.0.0.1 and print
    their addresses; they serve seeded bars in each vendor's wire format until Ctrl-C."""
    equities, crypto = _split(symbols)
    plan = FaultPlan(seed=seed, rate=fault_rate)
    spots = [f"{s.split('-')[0]}-USDT" for s in crypto] if not binance_us else list(crypto)
    fakes: list[Venue] = [
        MassiveVenue(symbols=equities, faults=plan, market_seed=seed),
        BinanceVenue(symbols=spots, us=binance_us, faults=plan, market_seed=seed),
        CoinGeckoVenue(symbols=crypto, faults=plan, market_seed=seed),
        GeckoTerminalVenue(symbols=crypto, faults=plan, market_seed=seed),
    ]
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: asyncio.run stops the fakes first
        asyncio.run(_serve(fakes, as_json=as_json, duration=duration))
    if not as_json:
        stdout.print("venues stopped")


def _split(symbols: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    try:
        classes = {s: asset_class_of(s) for s in names}
    except ValueError as exc:
        raise InputError(f"--symbols: {exc}") from None
    equities = tuple(s for s in names if classes[s] is AssetClass.EQUITY)
    crypto = tuple(s for s in names if classes[s] is AssetClass.CRYPTO)
    not_usd = [s for s in crypto if not s.endswith("-USD")]
    if not_usd:
        raise InputError(f"--symbols: crypto symbols are BASE-USD here (Binance serves "
                         f"BASE-USDT for them); got {not_usd}")
    return equities or DEFAULT_EQUITIES, crypto or DEFAULT_CRYPTO


async def _serve(fakes: Sequence[Venue], *, as_json: bool, duration: float | None) -> None:
    started: list[Venue] = []
    try:
        for fake in fakes:
            await fake.start()
            started.append(fake)
        _show(fakes, as_json=as_json)
        await asyncio.sleep(duration if duration is not None else float("inf"))
    finally:
        for fake in reversed(started):
            await fake.stop()


def _show(fakes: Sequence[Venue], *, as_json: bool) -> None:
    """Print each fake's address and the environment that points raytrade at it."""
    massive, binance, coingecko, gecko = fakes
    assert isinstance(massive, MassiveVenue) and isinstance(binance, BinanceVenue)
    assert isinstance(coingecko, CoinGeckoVenue) and isinstance(gecko, GeckoTerminalVenue)
    env = {
        "RAYTRADE_MASSIVE_BASE_URL": massive.base_url,
        "RAYTRADE_MASSIVE_API_KEY": massive.api_key,
        "RAYTRADE_BINANCE_BASE_URL": binance.base_url,
        "RAYTRADE_COINGECKO_BASE_URL": coingecko.api_root,
        "RAYTRADE_COINGECKO_API_KEY": coingecko.api_key or "",
        "RAYTRADE_GECKOTERMINAL_BASE_URL": gecko.api_root,
    }
    shown: dict[str, Any] = {
        "venues": {
            "massive": {"url": massive.base_url, "symbols": sorted(massive.markets)},
            binance.vendor: {"url": binance.api_url, "symbols": sorted(binance.markets)},
            "coingecko": {"url": coingecko.api_root, "coins": sorted(coingecko.markets)},
            "geckoterminal": {"url": gecko.api_root, "pools": {
                s: f"{p.network}/{p.address}" for s, p in gecko.pools.items()}},
        },
        "env": env,
    }
    if as_json:
        print_json(shown)
    else:
        print_table("fake venues on loopback (Ctrl-C stops them)", ["venue", "base URL", "serves"],
                    [(name, v["url"], ", ".join(v.get("symbols") or v.get("coins") or v["pools"]))
                     for name, v in shown["venues"].items()])
        for symbol, pool in gecko.pools.items():
            stdout.print(f"geckoterminal pool for {symbol}: {pool.network} {pool.address}",
                         highlight=False)
        stdout.print("point raytrade at them:")
        for key, value in env.items():
            stdout.print(f"  export {key}={value}", highlight=False)
    sys.stdout.flush()


__all__ = ["venues"]

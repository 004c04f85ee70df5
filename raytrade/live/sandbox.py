"""The sandbox: a fake venue, a collector and a paper session on one fast clock, in one process.

A fake Binance.US serves simulated BTC-USD 5-minute klines on 127.0.0.1; a collector keeps the
lake partition `sandbox/5m/BTC-USD` filled from it (its own source name, so sandbox bars never
mix with a real collector's); a paper session trades a promoted model on that partition with a
simulated broker (fills at the next bar's open). All three read one `ScaledClock`, so with
speed 60 a 5-minute bar closes every 5 wall-clock seconds. The fake market carries the effect
the quick-start model was trained on (the same simulator spec), so the model has something to
trade. The sandbox's time resumes from the partition's watermark, so a restart never finds its
own bars in the future.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from raytrade.config.session import SessionConfig
from raytrade.config.settings import Settings
from raytrade.core.clock import ScaledClock, SystemClock
from raytrade.core.types import Timeframe
from raytrade.data.lake import Lake, PartitionKey
from raytrade.data.sample import SimulatorSpec
from raytrade.live.brokers.factory import build_broker
from raytrade.live.collector import Collector
from raytrade.live.parity import Decision
from raytrade.live.trader import TICK, PaperTrader, PromotedModel
from raytrade.sources.binance import BinanceSource
from raytrade.sources.symbols import BinanceExchange
from raytrade.store import paper as store
from raytrade.store.market import watermark
from raytrade.store.session import Engine
from raytrade.venues import BinanceVenue
from raytrade.venues.markets import BarBook

SOURCE = "sandbox"  # the lake partition's source: sandbox bars stay apart from real ones
SYMBOL = "BTC-USD"
TIMEFRAME = Timeframe.M5
CAPITAL = 10_000.0
HISTORY_BARS = 50  # collected before the model's warm-up, so the first decision is fresh
POLL_WALL_SECONDS = 0.1  # how often the session looks for new bars, in wall-clock seconds
# The quick-start experiment's planted 1-hour momentum (what the model learnt), on seed 0's price
# level (seed 1 prices BTC-USD far below a cent, which reads badly in a demo).
MARKET = SimulatorSpec(seed=0, signal_strength=0.15, signal_lookback=12, missing_rate=0.0,
                       outages_per_year=0.0)


@dataclass(frozen=True)
class Fill:
    side: str
    qty: float
    price: float


@dataclass(frozen=True)
class BarLine:
    """What the sandbox shows of one decided bar."""

    decision: Decision
    close: float | None
    orders: tuple[str, ...]  # intents sent at this bar
    fills: tuple[Fill, ...]  # fills the broker reported while this bar was processed
    equity: float | None
    pnl: float | None


def session_config(name: str, run_id: int, *, capital: float = CAPITAL) -> SessionConfig:
    """Return the sandbox's session file: simulated broker, the sandbox partition, loose limits
    (the point is to watch the loop, not to be stopped by it)."""
    return SessionConfig.model_validate({
        "name": name, "description": "raytrade sandbox", "model": {"run_id": run_id},
        "broker": {"kind": "simulated"},
        "bars": {"source": SOURCE, "symbol": SYMBOL, "timeframe": str(TIMEFRAME)},
        "capital": capital,
        "risk": {"max_position_notional": capital, "max_daily_loss": capital / 2,
                 "stale_after_bars": 3, "max_orders_per_minute": 10},
        "parity_every_bars": 50})


def session_name(now: datetime) -> str:
    """Return a fresh session name per run (a name keys the store rows of one session file)."""
    return f"sandbox-{now:%Y%m%d-%H%M%S}"


def start_instant(engine: Engine) -> datetime:
    """Return where sandbox time starts: now, or later where a previous sandbox's fast clock
    left the partition's watermark (its bars would otherwise lie in the future)."""
    now = SystemClock().now()
    mark = watermark(engine, PartitionKey(SOURCE, TIMEFRAME, SYMBOL))
    return max(now, mark) if mark is not None else now


def fake_venue(clock: ScaledClock) -> BinanceVenue:
    """Return the fake Binance.US (BTC-USD) on loopback, its market the quick-start one."""
    venue = BinanceVenue(symbols=[SYMBOL], us=True, clock=clock)
    venue.book = BarBook(MARKET, venue.plan.outages)
    return venue


class Sandbox:
    """One sandbox run: start the venue, catch the collector up, then trade bar by bar."""

    def __init__(self, *, engine: Engine, lake: Lake, settings: Settings, model: PromotedModel,
                 run_id: int, clock: ScaledClock, name: str) -> None:
        self.engine, self.lake, self.settings, self.model = engine, lake, settings, model
        self.clock, self.cfg = clock, session_config(name, run_id)
        self.key = PartitionKey(SOURCE, TIMEFRAME, SYMBOL)
        self.venue = fake_venue(clock)
        self._filled: dict[str, float] = {}

    def collector(self) -> Collector:
        source = BinanceSource(BinanceExchange.US, base_url=self.venue.base_url, clock=self.clock)
        history = TIMEFRAME.duration * (self.model.loaded.pipeline.warmup + HISTORY_BARS)
        return Collector(source, self.key, lake=self.lake, engine=self.engine, clock=self.clock,
                         start=self.clock.now() - history, settle=timedelta(seconds=1))

    def trader(self) -> PaperTrader:
        costs = self.model.experiment.costs
        broker = build_broker(self.cfg.broker, self.settings, capital=self.cfg.capital,
                              symbol=SYMBOL, fee_bps=costs.fee_bps,
                              slippage_bps=costs.slippage_bps)
        return PaperTrader(self.cfg, engine=self.engine, lake=self.lake, broker=broker,
                           clock=self.clock, model=self.model)

    async def run(self, stop: asyncio.Event, show: Callable[[BarLine], None],
                  bars: int | None = None) -> None:
        """Run until `stop` is set (or `bars` bars are decided); stop everything on the way
        out, a cancellation (Ctrl-C) included."""
        async with self.venue:
            collector = self.collector()
            await collector.catch_up()
            trader = self.trader()
            collecting = asyncio.create_task(collector.run(stop, sleep=self._sleeper(stop)))
            try:
                await trader.start()
                await self._trade(trader, stop, show, bars)
            finally:
                stop.set()
                trader.stopped()
                await trader.broker.close()
                collecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collecting

    def _sleeper(self, stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
        async def sleep(seconds: float) -> None:  # seconds of sandbox time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.clock.wall_seconds(seconds))
        return sleep

    async def _trade(self, trader: PaperTrader, stop: asyncio.Event,
                     show: Callable[[BarLine], None], bars: int | None) -> None:
        decided = 0
        while not stop.is_set():
            before = len(trader.session.decisions)
            if await trader.step():
                fresh = trader.session.decisions[before:]
                for line in self._lines(trader, fresh):
                    show(line)
                decided += len(fresh)
                if bars is not None and decided >= bars:
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_WALL_SECONDS)

    def _lines(self, trader: PaperTrader, fresh: list[Decision]) -> list[BarLine]:
        if not fresh:
            return []
        closes = {row["ts"]: row["close"] for row in self.lake.scan(
            self.key, start=fresh[0].bar_time, end=fresh[-1].bar_time + TICK).collect()
            .iter_rows(named=True)}
        equity = {p.ts: p.equity for p in store.equity(self.engine, trader.session_id)}
        orders = store.orders(self.engine, trader.session_id)
        fills = tuple(self._new_fills(orders))
        lines = []
        for i, decision in enumerate(fresh):
            eq = equity.get(decision.bar_time)
            lines.append(BarLine(
                decision, closes.get(decision.bar_time),
                tuple(o.intent for o in orders if o.bar_time == decision.bar_time),
                fills if i == len(fresh) - 1 else (), eq,
                None if eq is None else eq - self.cfg.capital))
        return lines

    def _new_fills(self, orders: list[store.PaperOrder]) -> list[Fill]:
        found = []
        for o in orders:
            before = self._filled.get(o.client_order_id, 0.0)
            if o.filled_qty > before and o.avg_price is not None:
                found.append(Fill(o.side, o.filled_qty - before, o.avg_price))
            self._filled[o.client_order_id] = o.filled_qty
        return found


__all__ = ["BarLine", "Fill", "Sandbox", "fake_venue", "session_config", "session_name",
           "start_instant"]

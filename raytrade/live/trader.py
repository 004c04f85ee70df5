"""A paper session wired to its store, its bars and its broker: the loop a session actor runs.

Start (`start`): refuse a model without a passing gate row, load the promoted model and verify
its hashes (the FeaturePipeline is rebuilt from its stored metadata), record the session
(idempotent by name), replay its stored decisions, then reconcile with the broker before any
new order: every order the store holds open is looked up by its client order id; one that was
decided but never reached the broker is sent now (an exit always, an entry only while its bar
is fresh), else closed as never sent; if the broker's side still differs from the session's,
the broker's wins and a `reconcile` flag says so.

Then bar by bar from the collector's lake partition (`step`): a simulated broker sees the bar
(fills at its open), the session decides (write-ahead to the store, see `live.paper`), open
orders and fills are synced, equity is recorded, the drift test is updated, and every
`parity_every_bars` decisions parity is checked. A kill switch, a parity mismatch or a person
halts the session; the reason is the session row's, and a flag keeps it in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from raytrade.config.experiment import ExperimentConfig
from raytrade.config.session import SessionConfig
from raytrade.core.clock import Clock
from raytrade.core.errors import InputError
from raytrade.core.types import SessionStatus, Side
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live import risk
from raytrade.live.brokers.base import Broker, OrderRequest, OrderState, OrderStatus
from raytrade.live.brokers.simulated import Bar, SimulatedBroker
from raytrade.live.drift import DriftState, ReturnDrift
from raytrade.live.paper import PaperSession
from raytrade.live.parity import Decision, ParityReport
from raytrade.live.window import parity_window
from raytrade.registry import LoadedModel, load_promoted, loaded_from
from raytrade.store import paper as store
from raytrade.store.repository import assert_promotable
from raytrade.store.session import Engine

log = logging.getLogger(__name__)
TICK = timedelta(microseconds=1)


def limits_of(cfg: SessionConfig) -> risk.RiskLimits:
    return risk.RiskLimits(max_position_notional=cfg.risk.max_position_notional,
                           max_daily_loss=cfg.risk.max_daily_loss,
                           max_orders_per_minute=cfg.risk.max_orders_per_minute,
                           stale_after_intervals=cfg.risk.stale_after_bars)


@dataclass(frozen=True)
class PromotedModel:
    """A gate-passing model with what a session needs beside it."""

    loaded: LoadedModel
    experiment: ExperimentConfig
    test_returns: pl.Series


def load_for_session(engine: Engine, run_id: int) -> PromotedModel:
    """Refuse a run without a passing gate row; return its verified, rebuilt model."""
    assert_promotable(engine, run_id)
    promoted = load_promoted(engine, run_id)
    returns = pl.read_parquet(io.BytesIO(promoted.files["test_returns.parquet"]))
    return PromotedModel(loaded_from(promoted),
                         ExperimentConfig.model_validate_json(promoted.files["config.json"]),
                         returns.get_column("return"))


@dataclass(frozen=True)
class Reconciliation:
    """What a (re)start found and did before trading again."""

    restored: int  # decisions replayed from the store
    synced: int  # open orders whose state came from the broker
    resent: int  # decided, never sent, sent now
    abandoned: int  # decided, never sent, too late to send: closed as never sent
    broker_qty: float  # the broker's holding of the symbol after reconciling
    adopted: bool  # the session took the broker's side


class StoreJournal:
    """The session's journal in the store: decisions with their orders, then broker states."""

    def __init__(self, engine: Engine, session_id: int, clock: Clock) -> None:
        self.engine, self.session_id, self.clock = engine, session_id, clock

    def decided(self, decision: Decision, orders: Any) -> None:
        intents = [store.OrderIntent(o.client_order_id, intent, o.symbol, o.side.value, o.qty,
                                     o.notional) for intent, o in orders]
        store.record_decision(self.engine, self.session_id,
                              store.DecisionRecord(**asdict(decision)), intents)

    def submitted(self, state: OrderState) -> None:
        sync_state(self.engine, state, self.clock.now())


def sync_state(engine: Engine, state: OrderState, now: datetime) -> store.PaperOrder:
    """Store what the broker says of one order (fills included)."""
    return store.update_order(engine, state.client_order_id, status=state.status.value,
                              filled_qty=state.filled_qty, avg_price=state.avg_price,
                              fee=state.fee, broker_order_id=state.broker_order_id,
                              reason=state.reason, ts=state.updated_at or now)


class PaperTrader:
    """One session file, run: its model, broker, store rows and bars."""

    def __init__(self, cfg: SessionConfig, *, engine: Engine, lake: Lake, broker: Broker,
                 clock: Clock, model: PromotedModel) -> None:
        exp = model.experiment
        if exp.data.timeframe != cfg.bars.timeframe:
            raise InputError(f"session {cfg.name}: run {cfg.model.run_id} was trained on "
                             f"{exp.data.timeframe} bars, the session reads "
                             f"{cfg.bars.timeframe} bars; features would not mean the same")
        if cfg.bars.stream is not None:
            raise InputError(f"session {cfg.name}: bars.stream is not supported yet; run a "
                             f"collector for {cfg.bars.symbol} and drop bars.stream")
        if exp.data.symbol != cfg.bars.symbol:
            log.warning("session %s trades %s with a model trained on %s", cfg.name,
                        cfg.bars.symbol, exp.data.symbol)
        self.cfg, self.engine, self.lake, self.broker, self.clock = (
            cfg, engine, lake, broker, clock)
        self.model = model
        self.key = PartitionKey(cfg.bars.source, cfg.bars.timeframe, cfg.bars.symbol)
        self.row = store.start_session(engine, cfg)
        self.session = PaperSession(model.loaded, broker, name=cfg.name, symbol=cfg.bars.symbol,
                                    bar_interval=cfg.bars.timeframe.duration,
                                    capital=cfg.capital, limits=limits_of(cfg), clock=clock,
                                    journal=StoreJournal(engine, self.row.id, clock))
        try:
            self.drift: ReturnDrift | None = ReturnDrift.from_returns(
                model.test_returns.to_numpy())
        except ValueError as exc:  # a model that never traded its test segment
            log.warning("session %s: no drift test (%s)", cfg.name, exc)
            self.drift = None
        self.last_parity: ParityReport | None = None
        self._equity: float | None = None
        self._since_parity = 0

    @property
    def session_id(self) -> int:
        return self.row.id

    # -- start -------------------------------------------------------------------------------

    async def start(self) -> Reconciliation:
        """Replay the store, reconcile with the broker; the session may trade afterwards."""
        stored = [Decision(**asdict(r)) for r in store.decisions(self.engine, self.session_id)]
        warmup = self.session.pipeline.warmup
        if stored:
            window = self.lake.scan(self.key, end=stored[-1].bar_time + TICK).collect()
            self.session.restore(stored, window.sort("ts").tail(warmup).iter_rows(named=True))
        else:  # a new session starts at the newest closed bar
            window = self.lake.scan(self.key).collect().sort("ts").tail(warmup)
            self.session.restore([], window.head(max(window.height - 1, 0))
                                 .iter_rows(named=True))
        if isinstance(self.broker, SimulatedBroker):
            self._restore_simulated(window.tail(1))
        self._replay_equity()
        reconciled = await self._reconcile(len(stored))
        if self.row.status is SessionStatus.HALTED:
            self.session.halt(self.row.halt_reason or "halted")
        else:
            self.row = store.set_status(self.engine, self.session_id, SessionStatus.RUNNING)
        return reconciled

    def _restore_simulated(self, newest: pl.DataFrame) -> None:
        assert isinstance(self.broker, SimulatedBroker)
        for order in store.orders(self.engine, self.session_id):
            if order.broker_order_id is not None:  # else it never reached the broker
                self.broker.restore(_request(order), _state(order), after=order.bar_time)
        for row in newest.iter_rows(named=True):  # marks holdings; fills nothing decided here
            self.broker.on_bar(Bar.from_row(row))

    def _replay_equity(self) -> None:
        for point in store.equity(self.engine, self.session_id):
            self._drift_update(point.equity, record=False)

    async def _reconcile(self, restored: int) -> Reconciliation:
        last = self.session.decisions[-1].bar_time if self.session.decisions else None
        synced = resent = abandoned = 0
        for order in store.orders(self.engine, self.session_id, open_only=True):
            state = await self.broker.order(order.client_order_id)
            if state is None:
                entry = order.intent.startswith("enter")
                if order.bar_time != last or (entry and self._late(order.bar_time)):
                    store.update_order(self.engine, order.client_order_id, status="canceled",
                                       filled_qty=0.0, reason="never sent: the session "
                                       "stopped before sending it, and its bar has passed")
                    abandoned += 1
                    continue
                state = await self.broker.submit(_request(order))
                resent += 1
            else:
                synced += 1
            sync_state(self.engine, state, self.clock.now())
        qty = await self.session.held_qty()
        side = (qty > 0) - (qty < 0)
        pending = [o for o in await self.broker.open_orders() if o.symbol == self.key.symbol]
        adopted = not pending and side != self.session.position
        if adopted:
            store.record_flag(self.engine, self.session_id, "reconcile", value=qty,
                              detail=f"the broker holds {qty:g} {self.key.symbol}, the session "
                              f"side was {self.session.position:+d}; took the broker's")
            self.session.adopt(side)
        return Reconciliation(restored, synced, resent, abandoned, qty, adopted)

    def _late(self, bar_time: datetime) -> bool:
        interval = self.cfg.bars.timeframe.duration
        return risk.closed_too_long_ago(self.clock.now(), bar_time + interval, interval,
                                        self.session.limits)

    # -- bars --------------------------------------------------------------------------------

    async def step(self) -> int:
        """Decide on every bar that arrived since the last step; return how many."""
        newest = self.session.newest_bar
        frame = self.lake.scan(self.key, start=None if newest is None else newest + TICK)
        try:
            bars = frame.collect().sort("ts")
        except (pl.exceptions.ComputeError, OSError) as exc:  # a file mid-write: next poll
            log.warning("session %s: lake read failed, retrying: %s", self.cfg.name, exc)
            return 0
        if newest is None:
            bars = bars.tail(self.session.pipeline.warmup)
        for row in bars.iter_rows(named=True):
            await self._on_bar(row)
        return bars.height

    async def _on_bar(self, row: dict[str, Any]) -> None:
        now = self.clock.now()
        if isinstance(self.broker, SimulatedBroker):
            for state in self.broker.on_bar(Bar.from_row(row)):
                sync_state(self.engine, state, now)
        decision = await self.session.on_bar(row)
        for order in store.orders(self.engine, self.session_id, open_only=True):
            known = await self.broker.order(order.client_order_id)
            if known is not None:
                sync_state(self.engine, known, now)
        await self._record_equity(row)
        if decision is not None:
            self._since_parity += 1
            if self._since_parity >= self.cfg.parity_every_bars:
                self.check_parity(self.cfg.parity_every_bars)
        self._note_halt()

    async def _record_equity(self, row: dict[str, Any]) -> None:
        mark = await self.session.mark()
        store.record_equity(self.engine, self.session_id, store.EquityPoint(
            row["ts"], mark.cash, mark.qty, mark.value, mark.equity))
        self._drift_update(mark.equity, record=True)

    def _drift_update(self, equity: float, *, record: bool) -> None:
        previous, self._equity = self._equity, equity
        if self.drift is None or previous is None or previous <= 0:
            return
        was = self.drift.state.flagged
        state = self.drift.update(equity / previous - 1.0)
        if record and state.flagged and not was:
            store.record_flag(self.engine, self.session_id, "drift", value=state.statistic,
                              detail=f"live returns left the backtest's distribution: lower "
                              f"CUSUM {state.statistic:.2f} > h={self.drift.h:g} after "
                              f"{state.bars} bars")

    # -- parity and halts --------------------------------------------------------------------

    def check_parity(self, last: int | None = None) -> ParityReport:
        """Recompute the last `last` decisions (all when None) through the batch path; a
        mismatch halts the session with the report as its reason."""
        self._since_parity = 0
        decisions = self.session.decisions[-last:] if last else self.session.decisions
        bars = parity_window(self.lake, self.key, decisions, self.session.pipeline.warmup)
        report = self.session.parity_of(bars, decisions)
        self.last_parity = report
        if not report.ok:
            store.record_flag(self.engine, self.session_id, "parity",
                              value=float(report.mismatches), detail=report.describe())
            self._note_halt()
        return report

    def halt(self, reason: str) -> None:
        """Stop sending orders (positions are kept) until the session file is started anew."""
        self.session.halt(reason)
        self._note_halt()

    def _note_halt(self) -> None:
        reason = self.session.halted_reason
        if reason is not None and self.row.status is not SessionStatus.HALTED:
            self.row = store.set_status(self.engine, self.session_id, SessionStatus.HALTED,
                                        reason)
            store.record_flag(self.engine, self.session_id, "halt", detail=reason)

    def stopped(self) -> None:
        if self.row.status is SessionStatus.RUNNING:
            self.row = store.set_status(self.engine, self.session_id, SessionStatus.STOPPED)

    @property
    def drift_state(self) -> DriftState | None:
        return None if self.drift is None else self.drift.state

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Start, then step until `stop` is set; the broker is closed on the way out."""
        try:
            reconciled = await self.start()
            log.info("session %s started: %s", self.cfg.name, reconciled)
            while not stop.is_set():
                if await self.step() == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll_seconds)
            self.stopped()
        finally:
            await self.broker.close()


def _request(order: store.PaperOrder) -> OrderRequest:
    return OrderRequest(client_order_id=order.client_order_id, symbol=order.symbol,
                        side=Side(order.side), qty=order.qty, notional=order.notional)


def _state(order: store.PaperOrder) -> OrderState:
    return OrderState(client_order_id=order.client_order_id, symbol=order.symbol,
                      side=Side(order.side), status=OrderStatus(order.status),
                      broker_order_id=order.broker_order_id, qty=order.qty,
                      notional=order.notional, filled_qty=order.filled_qty,
                      avg_price=order.avg_price, fee=order.fee, reason=order.reason)


__all__ = ["PaperTrader", "PromotedModel", "Reconciliation", "StoreJournal", "limits_of",
           "load_for_session", "sync_state"]

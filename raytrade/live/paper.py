"""A paper-trading session of one model on one symbol, as a plain class (no Ray, no store).

On every closed bar: keep the last `warmup` bars, compute the features through the live path
(`FeaturePipeline.transform_latest`), predict, map the output to a signal with the backtest's
threshold rule, step the backtest's `PositionRule`, apply the risk limits (`live.risk`) and
send the orders that move the held side to the target, each with a client order id derived
from session, bar time and intent. Every bar after the warm-up leaves a `Decision`.

Bars are canonical bar rows (`DataFrame.iter_rows(named=True)`); `ts` is the open time, so the
bar closed at `ts + bar_interval`. Time comes from the injected clock. Orders: an entry is by
quote amount (`risk.entry_notional`), an exit sells or buys back the quantity the broker
reports for the symbol. If a risk limit cancels an entry the rule wanted, the rule is reset to
flat, so the session never enters a trade late.

Write-ahead: a bar's decision and the orders it means to send go to the `Journal` *before* any
order is sent, so a session that dies mid-bar restarts knowing what it had decided (`restore`)
and never decides the same bar twice; the broker's idempotent `submit` and the client order id
make a re-sent order land once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import polars as pl

from raytrade.core.clock import Clock
from raytrade.core.errors import InputError, IntegrityError
from raytrade.core.types import Side
from raytrade.data.schema import BAR_SCHEMA
from raytrade.features.pipeline import FeaturePipeline
from raytrade.live import risk
from raytrade.live.brokers.base import Broker, OrderRequest, OrderState, client_order_id
from raytrade.live.parity import Decision, ParityReport, Predictor, parity
from raytrade.live.strategy import DecisionRule, PositionRule

RATE_WINDOW = timedelta(minutes=1)


class ModelBundle(Protocol):
    """A promoted model ready to predict (`registry.LoadedModel` is one)."""

    @property
    def pipeline(self) -> FeaturePipeline: ...

    @property
    def model(self) -> Predictor: ...

    @property
    def decision_rule(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Mark:
    """The account as one bar leaves it, in the account currency."""

    cash: float
    qty: float  # signed holding of the session's symbol
    value: float  # that holding at market
    equity: float


class Journal(Protocol):
    """Where a session writes what it decides and what its broker says (the store, in a
    running session); `NullJournal` keeps nothing."""

    def decided(self, decision: Decision, orders: Sequence[tuple[str, OrderRequest]]) -> None:
        """Keep one bar's decision and its (intent, order) pairs, before any is sent."""
        ...

    def submitted(self, state: OrderState) -> None:
        """Keep what the broker answered to one order."""
        ...


class NullJournal:
    def decided(self, decision: Decision, orders: Sequence[tuple[str, OrderRequest]]) -> None:
        return None

    def submitted(self, state: OrderState) -> None:
        return None


class PaperSession:
    """Trade one model's decisions on one symbol through a broker, within risk limits."""

    def __init__(self, loaded: ModelBundle, broker: Broker, *, name: str, symbol: str,
                 bar_interval: timedelta, capital: float, limits: risk.RiskLimits,
                 clock: Clock, journal: Journal | None = None) -> None:
        self.rule = DecisionRule.from_mapping(loaded.decision_rule)
        self.pipeline, self.model = loaded.pipeline, loaded.model
        if self.rule.feature_names != self.pipeline.feature_names:
            raise IntegrityError(f"session {name}: the model's features "
                                 f"{list(self.rule.feature_names)} differ from its pipeline's")
        if capital <= 0 or bar_interval <= timedelta(0):
            raise ValueError("capital and bar_interval must be positive")
        self.name, self.symbol, self.broker = name, symbol, broker
        self.bar_interval, self.capital, self.limits, self.clock = (
            bar_interval, capital, limits, clock)
        self.journal: Journal = journal or NullJournal()
        self.decisions: list[Decision] = []
        self.position = 0  # the side the session holds (has sent orders for)
        self.halted_reason: str | None = None
        self._position_rule: PositionRule = self.rule.position_rule()
        self._window: deque[dict[str, Any]] = deque(maxlen=self.pipeline.warmup)
        self._sent: deque[datetime] = deque()  # clock times of orders sent, last minute
        self._day: tuple[date, float] | None = None  # UTC day and its starting equity

    @property
    def halted(self) -> bool:
        return self.halted_reason is not None

    def halt(self, reason: str) -> None:
        """Stop sending orders (positions are kept); the first reason given is kept."""
        if self.halted_reason is None:
            self.halted_reason = reason

    async def on_bar(self, bar: Mapping[str, Any]) -> Decision | None:
        """Decide on one closed bar and send its orders; None while the window warms up."""
        row = self._checked(bar)
        self._window.append(row)
        if len(self._window) < self.pipeline.warmup:
            return None
        frame = pl.from_dicts(list(self._window),
                              schema={k: BAR_SCHEMA[k] for k in row if k in BAR_SCHEMA})
        latest = self.pipeline.transform_latest(frame)
        features = latest.select(self.pipeline.feature_names).to_numpy().astype(np.float64)
        output = np.asarray(self.model.predict(features), dtype=np.float64)
        signal = int(self.rule.signals(output)[0])
        rule_target = self._position_rule.step(signal)
        opened = self._position_rule.opened
        evidence = await self._evidence(row["ts"])
        checked = risk.check(self.position, rule_target, evidence, self.limits)
        if checked.target == 0 and rule_target != 0:
            self._position_rule.reset()
        if checked.halt:
            self.halt(f"kill switch: lost {evidence.day_start_equity - evidence.equity:g} "
                      f"today, limit {self.limits.max_daily_loss:g}")
        intents, orders = await self._orders(row["ts"], checked.target, evidence.equity)
        decision = Decision(
            bar_time=row["ts"], features=tuple(float(v) for v in features[0]),
            output=tuple(float(v) for v in np.atleast_1d(output[0])), signal=signal,
            rule_target=rule_target, target=checked.target,
            opened=opened and checked.target == rule_target,
            action="+".join(intents) or "none",
            order_ids=tuple(o.client_order_id for _, o in orders),
            reason=None if checked.reason is None else checked.reason.value)
        self.journal.decided(decision, orders)  # before any order leaves: see the docstring
        self.decisions.append(decision)
        self.position = checked.target
        for _, order in orders:
            self.journal.submitted(await self.broker.submit(order))
            self._sent.append(self.clock.now())
        return decision

    def parity(self, bars: pl.DataFrame) -> ParityReport:
        """Recompute every recorded decision from `bars` in batch; halt on any mismatch."""
        return self.parity_of(bars, self.decisions)

    def parity_of(self, bars: pl.DataFrame, decisions: Sequence[Decision]) -> ParityReport:
        """Recompute `decisions` from `bars` (warm-up included) in batch; halt on a mismatch."""
        report = parity(self.pipeline, self.model, self.rule, bars, decisions)
        if not report.ok:
            self.halt(f"parity: {report.describe()}")
        return report

    def restore(self, decisions: Sequence[Decision], window: Iterable[Mapping[str, Any]]) -> None:
        """Resume after a restart: replay the stored decisions through the rule (risk resets
        included) and refill the window with the bars up to the last decided one."""
        if self.decisions:
            raise IntegrityError(f"session {self.name} has decided already; restore first")
        for decision in decisions:
            self._position_rule.step(decision.signal)
            if decision.target == 0 and decision.rule_target != 0:
                self._position_rule.reset()
            self.position = decision.target
        self.decisions = list(decisions)
        for bar in window:
            self._window.append(self._checked(bar))

    def adopt(self, side: int) -> None:
        """Take the broker's side as the session's (after a restart found them apart); the
        rule goes flat unless it already holds that side, so no trade is entered late."""
        if side not in (-1, 0, 1):
            raise ValueError(f"side must be -1, 0 or +1, got {side!r}")
        if side != self._position_rule.side:
            self._position_rule.reset()
        self.position = side

    @property
    def newest_bar(self) -> datetime | None:
        """The open time of the newest bar the session has seen (decided or warming up)."""
        return self._window[-1]["ts"] if self._window else None

    def _checked(self, bar: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(bar)
        if row.get("symbol") != self.symbol:
            raise InputError(f"session {self.name} trades {self.symbol}, got a bar of "
                             f"{row.get('symbol')!r}")
        ts = row.get("ts")
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise InputError(f"session {self.name}: bar time {ts!r} must be a UTC datetime")
        if self._window and ts <= self._window[-1]["ts"]:
            raise InputError(f"session {self.name}: bar {ts} is not after the newest bar "
                             f"{self._window[-1]['ts']}")
        return row

    async def _evidence(self, bar_time: datetime) -> risk.Evidence:
        now = self.clock.now()
        while self._sent and now - self._sent[0] >= RATE_WINDOW:
            self._sent.popleft()
        equity = (await self.mark()).equity
        if self._day is None or self._day[0] != now.date():
            self._day = (now.date(), equity)  # the day's loss counts from its first bar
        return risk.Evidence(now=now, bar_close=bar_time + self.bar_interval,
                             bar_interval=self.bar_interval, day_start_equity=self._day[1],
                             equity=equity, orders_last_minute=len(self._sent),
                             halted=self.halted)

    async def _orders(self, bar_time: datetime, target: int,
                      equity: float) -> tuple[list[str], list[tuple[str, OrderRequest]]]:
        """Return the intents and the orders that move `self.position` to `target`."""
        intents: list[str] = []
        orders: list[tuple[str, OrderRequest]] = []
        if self.position not in (0, target):
            intent = "exit-long" if self.position > 0 else "exit-short"
            qty = abs(await self.held_qty())
            intents.append(intent)
            if qty > 0:  # nothing filled (yet): nothing to close
                orders.append((intent, self._order(bar_time, intent, Side.SELL
                                                   if self.position > 0 else Side.BUY, qty=qty)))
        if target not in (0, self.position):
            intent = "enter-long" if target > 0 else "enter-short"
            notional = risk.entry_notional(self.capital, equity, self.limits)
            intents.append(intent)
            if notional > 0:
                orders.append((intent, self._order(bar_time, intent, Side.BUY if target > 0
                                                   else Side.SELL, notional=notional)))
        return intents, orders

    def _order(self, bar_time: datetime, intent: str, side: Side, *, qty: float | None = None,
               notional: float | None = None) -> OrderRequest:
        return OrderRequest(client_order_id=client_order_id(self.name, bar_time, intent),
                            symbol=self.symbol, side=side, qty=qty, notional=notional)

    async def held_qty(self) -> float:
        """Return the broker's signed holding of the session's symbol."""
        return sum(p.qty for p in await self.broker.positions() if p.symbol == self.symbol)

    async def mark(self) -> Mark:
        """Return cash, the holding and equity as the broker reports them; where it reports
        no equity, cash plus the holding at the newest bar's close."""
        account = await self.broker.account()
        held = [p for p in await self.broker.positions() if p.symbol == self.symbol]
        last = float(self._window[-1]["close"]) if self._window else 0.0
        value = sum(p.market_value if p.market_value is not None else p.qty * last
                    for p in held)
        equity = account.equity if account.equity is not None else account.cash + value
        return Mark(account.cash, sum(p.qty for p in held), value, equity)


__all__ = ["Journal", "Mark", "ModelBundle", "NullJournal", "PaperSession"]

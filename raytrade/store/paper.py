"""Reads and writes of paper sessions: the session row, its orders (one row per client order
id, whatever the retries), fills, equity per bar, decisions (one per bar) and flags.

Writes that a retry or a restart may repeat are idempotent: the first write of an order or a
decision wins, and a stale order update never moves an order back to an earlier state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from raytrade.config.session import SessionConfig
from raytrade.core.errors import InputError
from raytrade.core.types import SessionStatus
from raytrade.store.paper_tables import (
    PaperDecisionRow,
    PaperEquityRow,
    PaperFillRow,
    PaperFlagRow,
    PaperOrderRow,
    PaperSessionRow,
)
from raytrade.store.repository import MAX_ERROR_CHARS
from raytrade.store.session import transaction

FINAL_ORDER_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})


@dataclass(frozen=True)
class PaperSession:
    id: int
    name: str
    run_id: int
    config: dict[str, Any]
    config_hash: str
    status: SessionStatus
    halt_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PaperOrder:
    id: int
    session_id: int
    client_order_id: str
    bar_time: datetime
    intent: str
    symbol: str
    side: str
    qty: float | None
    notional: float | None
    status: str
    filled_qty: float
    avg_price: float | None
    fee: float | None
    broker_order_id: str | None
    reason: str | None
    submitted_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_ORDER_STATUSES


@dataclass(frozen=True)
class DecisionRecord:
    """One bar's decision as stored; the fields of `raytrade.live.parity.Decision`."""

    bar_time: datetime  # the bar's open time, UTC
    features: tuple[float, ...]  # NaN where null
    output: tuple[float, ...]
    signal: int
    rule_target: int
    target: int
    opened: bool
    action: str
    order_ids: tuple[str, ...]
    reason: str | None = None


@dataclass(frozen=True)
class OrderIntent:
    """An order a decision means to send, as recorded before it is sent."""

    client_order_id: str
    intent: str
    symbol: str
    side: str
    qty: float | None = None
    notional: float | None = None


@dataclass(frozen=True)
class EquityPoint:
    ts: datetime
    cash: float
    position_qty: float
    position_value: float
    equity: float


@dataclass(frozen=True)
class Flag:
    id: int
    kind: str
    value: float | None
    detail: str
    created_at: datetime


def start_session(engine: Engine, config: SessionConfig) -> PaperSession:
    """Return the session named in `config`, recording it as running if it is new.

    Idempotent by name: starting it again (a restart) returns the stored row unchanged, status
    included. A different file under a name already taken is refused: the name keys the
    session's orders and decisions, which a changed file would no longer explain.
    """
    with transaction(engine) as session:
        session.execute(
            insert(PaperSessionRow)
            .values(name=config.name, config=config.model_dump(mode="json"),
                    config_hash=config.config_hash(), run_id=config.model.run_id,
                    status=SessionStatus.RUNNING)
            .on_conflict_do_nothing(index_elements=["name"]))
        row = session.scalars(select(PaperSessionRow)
                              .where(PaperSessionRow.name == config.name)).one()
        if row.config_hash != config.config_hash():
            raise InputError(f"paper session {config.name!r} exists with a different session "
                             "file; start the new file under a new name")
        return _session(row)


def get_session(engine: Engine, name: str) -> PaperSession | None:
    with transaction(engine) as session:
        row = session.scalars(select(PaperSessionRow).where(PaperSessionRow.name == name)).first()
        return _session(row) if row is not None else None


def sessions(engine: Engine) -> list[PaperSession]:
    with transaction(engine) as session:
        return [_session(r) for r in session.scalars(select(PaperSessionRow)
                                                     .order_by(PaperSessionRow.name))]


def set_status(engine: Engine, session_id: int, status: SessionStatus,
               reason: str | None = None) -> PaperSession:
    """Move a session to `status`; halting needs a reason, any other status clears it."""
    if status is SessionStatus.HALTED and not reason:
        raise ValueError("halting a session needs a reason")
    halt_reason = reason[:MAX_ERROR_CHARS] if status is SessionStatus.HALTED and reason else None
    with transaction(engine) as session:
        row = session.scalars(
            update(PaperSessionRow).where(PaperSessionRow.id == session_id)
            .values(status=status, halt_reason=halt_reason, updated_at=func.now())
            .returning(PaperSessionRow)).first()
        if row is None:
            raise InputError(f"no paper session with id {session_id}")
        return _session(row)


def record_order(engine: Engine, session_id: int, *, client_order_id: str, bar_time: datetime,
                 intent: str, symbol: str, side: str, qty: float | None = None,
                 notional: float | None = None, status: str = "new") -> PaperOrder:
    """Record an order the session means to place, before it is sent; return the stored row.

    Idempotent by client order id: recording it again returns the first row unchanged."""
    with transaction(engine) as session:
        session.execute(
            insert(PaperOrderRow)
            .values(session_id=session_id, client_order_id=client_order_id, bar_ts=bar_time,
                    intent=intent, symbol=symbol, side=side, qty=qty, notional=notional,
                    status=status)
            .on_conflict_do_nothing(index_elements=["client_order_id"]))
        return _order(session.scalars(select(PaperOrderRow).where(
            PaperOrderRow.client_order_id == client_order_id)).one())


def update_order(engine: Engine, client_order_id: str, *, status: str, filled_qty: float,
                 avg_price: float | None = None, fee: float | None = None,
                 broker_order_id: str | None = None, reason: str | None = None,
                 ts: datetime | None = None) -> PaperOrder:
    """Store what the broker reports of an order. A report older than the stored state (an
    open status after a final one, or fewer fills) does not move the order back.

    Brokers report cumulative fills (quantity, average price, fee); each increase is stored as
    one fill row of the difference (at the price that makes the averages agree), keyed by the
    cumulative quantity, so the same report twice adds nothing."""
    with transaction(engine) as session:
        row = session.scalars(select(PaperOrderRow).where(
            PaperOrderRow.client_order_id == client_order_id).with_for_update()).first()
        if row is None:
            raise InputError(f"no paper order with client order id {client_order_id}")
        if row.status in FINAL_ORDER_STATUSES or filled_qty < row.filled_qty:
            return _order(row)
        added = filled_qty - row.filled_qty
        if added > 0 and avg_price is not None:
            before = row.filled_qty * (row.avg_price or 0.0)
            session.execute(
                insert(PaperFillRow)
                .values(order_id=row.id, fill_id=f"cum-{filled_qty:.12g}", qty=added,
                        price=(filled_qty * avg_price - before) / added,
                        fee=max((fee or 0.0) - (row.fee or 0.0), 0.0),
                        ts=ts or func.now())
                .on_conflict_do_nothing(index_elements=["order_id", "fill_id"]))
        stored = session.scalars(
            update(PaperOrderRow).where(PaperOrderRow.id == row.id)
            .values(status=status, filled_qty=filled_qty,
                    avg_price=avg_price if avg_price is not None else row.avg_price,
                    fee=fee if fee is not None else row.fee,
                    broker_order_id=broker_order_id or row.broker_order_id,
                    reason=reason[:MAX_ERROR_CHARS] if reason else row.reason,
                    updated_at=func.now())
            .returning(PaperOrderRow)
            .execution_options(populate_existing=True)).one()
        return _order(stored)


def orders(engine: Engine, session_id: int, *, open_only: bool = False) -> list[PaperOrder]:
    query = (select(PaperOrderRow).where(PaperOrderRow.session_id == session_id)
             .order_by(PaperOrderRow.bar_ts, PaperOrderRow.id))
    if open_only:
        query = query.where(PaperOrderRow.status.not_in(FINAL_ORDER_STATUSES))
    with transaction(engine) as session:
        return [_order(r) for r in session.scalars(query)]


def record_fill(engine: Engine, client_order_id: str, *, qty: float, price: float, fee: float,
                ts: datetime, fill_id: str | None = None) -> bool:
    """Record one execution of an order; return False when `fill_id` was already recorded."""
    with transaction(engine) as session:
        order_id = session.scalar(select(PaperOrderRow.id).where(
            PaperOrderRow.client_order_id == client_order_id))
        if order_id is None:
            raise InputError(f"no paper order with client order id {client_order_id}")
        inserted = session.execute(
            insert(PaperFillRow)
            .values(order_id=order_id, fill_id=fill_id, qty=qty, price=price, fee=fee, ts=ts)
            .on_conflict_do_nothing(index_elements=["order_id", "fill_id"])
            .returning(PaperFillRow.id)).first()
        return inserted is not None


def fills(engine: Engine, client_order_id: str) -> list[tuple[float, float, float, datetime]]:
    """Return an order's fills as (qty, price, fee, ts), oldest first."""
    with transaction(engine) as session:
        rows = session.execute(
            select(PaperFillRow.qty, PaperFillRow.price, PaperFillRow.fee, PaperFillRow.ts)
            .join(PaperOrderRow, PaperOrderRow.id == PaperFillRow.order_id)
            .where(PaperOrderRow.client_order_id == client_order_id)
            .order_by(PaperFillRow.ts, PaperFillRow.id))
        return [(q, p, f, t) for q, p, f, t in rows]  # Row -> plain tuple


def record_equity(engine: Engine, session_id: int, point: EquityPoint) -> None:
    """Store cash, position and equity after the bar at `point.ts` (again: replaced)."""
    values = {"cash": point.cash, "position_qty": point.position_qty,
              "position_value": point.position_value, "equity": point.equity}
    with transaction(engine) as session:
        session.execute(insert(PaperEquityRow)
                        .values(session_id=session_id, ts=point.ts, **values)
                        .on_conflict_do_update(index_elements=["session_id", "ts"], set_=values))


def equity(engine: Engine, session_id: int) -> list[EquityPoint]:
    with transaction(engine) as session:
        rows = session.scalars(select(PaperEquityRow).where(PaperEquityRow.session_id ==
                                                            session_id).order_by(PaperEquityRow.ts))
        return [EquityPoint(r.ts, r.cash, r.position_qty, r.position_value, r.equity)
                for r in rows]


def record_decision(engine: Engine, session_id: int, decision: DecisionRecord,
                    orders: Sequence[OrderIntent] = ()) -> bool:
    """Store one bar's decision and the orders it means to send, in one transaction, before
    any is sent; return False when that bar already has a decision (it is kept, orders and
    all: the decision a session acted on is the one parity must check)."""
    with transaction(engine) as session:
        inserted = session.execute(
            insert(PaperDecisionRow)
            .values(session_id=session_id, bar_ts=decision.bar_time,
                    features=[None if math.isnan(v) else v for v in decision.features],
                    model_output=list(decision.output), signal=decision.signal,
                    rule_target=decision.rule_target, target=decision.target,
                    opened=decision.opened, action=decision.action,
                    order_ids=list(decision.order_ids), reason=decision.reason)
            .on_conflict_do_nothing(index_elements=["session_id", "bar_ts"])
            .returning(PaperDecisionRow.id)).first()
        if inserted is None:
            return False
        for order in orders:
            session.execute(
                insert(PaperOrderRow)
                .values(session_id=session_id, client_order_id=order.client_order_id,
                        bar_ts=decision.bar_time, intent=order.intent, symbol=order.symbol,
                        side=order.side, qty=order.qty, notional=order.notional,
                        status="new")
                .on_conflict_do_nothing(index_elements=["client_order_id"]))
        return True


def decisions(engine: Engine, session_id: int, start: datetime | None = None,
              end: datetime | None = None) -> list[DecisionRecord]:
    """Return the decisions of bars in [start, end), oldest first."""
    query = (select(PaperDecisionRow).where(PaperDecisionRow.session_id == session_id)
             .order_by(PaperDecisionRow.bar_ts))
    if start is not None:
        query = query.where(PaperDecisionRow.bar_ts >= start)
    if end is not None:
        query = query.where(PaperDecisionRow.bar_ts < end)
    with transaction(engine) as session:
        return [_decision(r) for r in session.scalars(query)]


def record_flag(engine: Engine, session_id: int, kind: str, *, value: float | None = None,
                detail: str = "") -> int:
    """Record something found about a session (e.g. kind "parity" or "drift"); return its id."""
    with transaction(engine) as session:
        row = PaperFlagRow(session_id=session_id, kind=kind, value=value,
                           detail=detail[:MAX_ERROR_CHARS])
        session.add(row)
        session.flush()
        return row.id


def flags(engine: Engine, session_id: int, kind: str | None = None) -> list[Flag]:
    query = (select(PaperFlagRow).where(PaperFlagRow.session_id == session_id)
             .order_by(PaperFlagRow.created_at, PaperFlagRow.id))
    if kind is not None:
        query = query.where(PaperFlagRow.kind == kind)
    with transaction(engine) as session:
        return [Flag(r.id, r.kind, r.value, r.detail, r.created_at)
                for r in session.scalars(query)]


def _session(row: PaperSessionRow) -> PaperSession:
    return PaperSession(row.id, row.name, row.run_id, dict(row.config), row.config_hash,
                        SessionStatus(row.status), row.halt_reason, row.created_at,
                        row.updated_at)


def _order(row: PaperOrderRow) -> PaperOrder:
    return PaperOrder(row.id, row.session_id, row.client_order_id, row.bar_ts, row.intent,
                      row.symbol, row.side, row.qty, row.notional, row.status, row.filled_qty,
                      row.avg_price, row.fee, row.broker_order_id, row.reason,
                      row.submitted_at, row.updated_at)


def _decision(row: PaperDecisionRow) -> DecisionRecord:
    return DecisionRecord(row.bar_ts, _floats(row.features), _floats(row.model_output),
                          row.signal, row.rule_target, row.target, row.opened, row.action,
                          tuple(row.order_ids), row.reason)


def _floats(values: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in values)


__all__ = ["DecisionRecord", "EquityPoint", "Flag", "OrderIntent", "PaperOrder", "PaperSession",
           "decisions", "equity", "fills", "flags", "get_session", "orders", "record_decision",
           "record_equity", "record_fill", "record_flag", "record_order", "sessions",
           "set_status", "start_session", "update_order"]

"""Tables of paper trading: sessions, their orders and fills, equity per bar, every decision
with the features it read (for the parity proof) and flags raised on a session.

Imported at the end of `tables.py`, so `Table.metadata` (and Alembic) always sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raytrade.core.types import SessionStatus
from raytrade.store.tables import Table, _created, _id

ORDER_STATUSES = ("new", "partially_filled", "filled", "canceled", "rejected", "expired")


def _session_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("paper_sessions.id", ondelete="CASCADE"), index=True)


class PaperSessionRow(Table):
    """A named paper session: the file it was started from and where it stands."""

    __tablename__ = "paper_sessions"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    config: Mapped[dict[str, Any]]  # the session file as validated
    config_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)  # the model's run
    status: Mapped[SessionStatus] = mapped_column(
        Enum(SessionStatus, native_enum=False, length=16, name="status", create_constraint=True,
             values_callable=lambda e: [m.value for m in e]))
    halt_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()

    __table_args__ = (
        CheckConstraint("status <> 'halted' OR halt_reason IS NOT NULL", name="halt_has_reason"),
    )


class PaperOrderRow(Table):
    """One order a session meant to place; its client order id makes every retry the same."""

    __tablename__ = "paper_orders"

    id: Mapped[int] = _id()
    # Indexed by ix_paper_orders_session_bar, whose first column it is.
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_sessions.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True)
    bar_ts: Mapped[datetime]  # open time of the bar whose decision sent it, UTC
    intent: Mapped[str] = mapped_column(String(32))  # e.g. enter-long, exit-short
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[float | None] = mapped_column(Float)  # base units, or
    notional: Mapped[float | None] = mapped_column(Float)  # quote currency
    status: Mapped[str] = mapped_column(String(16))
    filled_qty: Mapped[float] = mapped_column(Float, server_default="0")
    avg_price: Mapped[float | None] = mapped_column(Float)
    fee: Mapped[float | None] = mapped_column(Float)  # quote currency
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)  # why the venue rejected it
    submitted_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()

    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="side_known"),
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status_known"),
        CheckConstraint("(qty IS NULL) <> (notional IS NULL)", name="one_amount"),
        Index("ix_paper_orders_session_bar", "session_id", "bar_ts"),
    )


class PaperFillRow(Table):
    """One execution of an order; `fill_id` (the venue's, where it gives one) dedupes it."""

    __tablename__ = "paper_fills"

    id: Mapped[int] = _id()
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"),
                                          index=True)
    fill_id: Mapped[str | None] = mapped_column(String(64))
    qty: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float, server_default="0")  # quote currency
    ts: Mapped[datetime]

    __table_args__ = (UniqueConstraint("order_id", "fill_id"),)


class PaperEquityRow(Table):
    """Cash, position and equity after one bar, in the account currency."""

    __tablename__ = "paper_equity"

    session_id: Mapped[int] = mapped_column(ForeignKey("paper_sessions.id", ondelete="CASCADE"),
                                            primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)  # the bar's open time, UTC
    cash: Mapped[float] = mapped_column(Float)
    position_qty: Mapped[float] = mapped_column(Float)  # signed: negative when short
    position_value: Mapped[float] = mapped_column(Float)
    equity: Mapped[float] = mapped_column(Float)


class PaperDecisionRow(Table):
    """One bar's decision with the live feature vector, so parity can recompute it."""

    __tablename__ = "paper_decisions"

    id: Mapped[int] = _id()
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_sessions.id", ondelete="CASCADE"))
    bar_ts: Mapped[datetime]  # the bar's open time, UTC
    # JSON has no NaN: a null feature is stored as null and read back as NaN.
    features: Mapped[list[float | None]] = mapped_column(JSONB)
    model_output: Mapped[list[float]] = mapped_column(JSONB)  # P(up) or class probabilities
    signal: Mapped[int]
    rule_target: Mapped[int]  # what the backtest's rule wanted
    target: Mapped[int]  # what the session holds after risk limits
    opened: Mapped[bool]
    action: Mapped[str] = mapped_column(String(64))
    order_ids: Mapped[list[str]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("session_id", "bar_ts"),)


class PaperFlagRow(Table):
    """Something found about a session: a parity mismatch, live returns drifting away."""

    __tablename__ = "paper_flags"

    id: Mapped[int] = _id()
    session_id: Mapped[int] = _session_fk()
    kind: Mapped[str] = mapped_column(String(32))  # "parity" | "drift" | ...
    value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _created()


__all__ = ["ORDER_STATUSES", "PaperDecisionRow", "PaperEquityRow", "PaperFillRow",
           "PaperFlagRow", "PaperOrderRow", "PaperSessionRow"]

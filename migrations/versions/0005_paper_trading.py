"""Paper trading: sessions, their orders, fills, equity per bar, decisions and flags.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:05:03.664466
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "halted",
                "stopped",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("halt_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status <> 'halted' OR halt_reason IS NOT NULL",
            name=op.f("ck_paper_sessions_halt_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_paper_sessions_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_sessions")),
        sa.UniqueConstraint("name", name=op.f("uq_paper_sessions_name")),
    )
    op.create_index(op.f("ix_paper_sessions_run_id"), "paper_sessions", ["run_id"], unique=False)
    op.create_table(
        "paper_decisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("bar_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("model_output", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signal", sa.Integer(), nullable=False),
        sa.Column("rule_target", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("order_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["paper_sessions.id"],
            name=op.f("fk_paper_decisions_session_id_paper_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_decisions")),
        sa.UniqueConstraint(
            "session_id", "bar_ts", name=op.f("uq_paper_decisions_session_id_bar_ts")
        ),
    )
    op.create_table(
        "paper_equity",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("position_qty", sa.Float(), nullable=False),
        sa.Column("position_value", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["paper_sessions.id"],
            name=op.f("fk_paper_equity_session_id_paper_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "ts", name=op.f("pk_paper_equity")),
    )
    op.create_table(
        "paper_flags",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["paper_sessions.id"],
            name=op.f("fk_paper_flags_session_id_paper_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_flags")),
    )
    op.create_index(op.f("ix_paper_flags_session_id"), "paper_flags", ["session_id"], unique=False)
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=36), nullable=False),
        sa.Column("bar_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=True),
        sa.Column("notional", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filled_qty", sa.Float(), server_default="0", nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=True),
        sa.Column("fee", sa.Float(), nullable=True),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "submitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_paper_orders_side_known")),
        sa.CheckConstraint(
            "status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')",
            name=op.f("ck_paper_orders_status_known"),
        ),
        sa.CheckConstraint(
            "(qty IS NULL) <> (notional IS NULL)", name=op.f("ck_paper_orders_one_amount")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["paper_sessions.id"],
            name=op.f("fk_paper_orders_session_id_paper_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_paper_orders_client_order_id")),
    )
    op.create_index(
        "ix_paper_orders_session_bar", "paper_orders", ["session_id", "bar_ts"], unique=False
    )
    op.create_table(
        "paper_fills",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("fill_id", sa.String(length=64), nullable=True),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), server_default="0", nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["paper_orders.id"],
            name=op.f("fk_paper_fills_order_id_paper_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_fills")),
        sa.UniqueConstraint("order_id", "fill_id", name=op.f("uq_paper_fills_order_id_fill_id")),
    )
    op.create_index(op.f("ix_paper_fills_order_id"), "paper_fills", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_paper_fills_order_id"), table_name="paper_fills")
    op.drop_table("paper_fills")
    op.drop_index("ix_paper_orders_session_bar", table_name="paper_orders")
    op.drop_table("paper_orders")
    op.drop_index(op.f("ix_paper_flags_session_id"), table_name="paper_flags")
    op.drop_table("paper_flags")
    op.drop_table("paper_equity")
    op.drop_table("paper_decisions")
    op.drop_index(op.f("ix_paper_sessions_run_id"), table_name="paper_sessions")
    op.drop_table("paper_sessions")

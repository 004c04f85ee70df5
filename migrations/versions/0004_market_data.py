"""Market data: collector watermarks, unfillable gaps and quality reports per partition.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:44:47.573310
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector_state",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bars_written", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source", "symbol", "timeframe", name=op.f("pk_collector_state")),
    )
    op.create_table(
        "data_coverage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("bars", sa.BigInteger(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_coverage")),
    )
    op.create_index(
        "ix_data_coverage_partition",
        "data_coverage",
        ["source", "symbol", "timeframe", "computed_at"],
        unique=False,
    )
    op.create_table(
        "data_gaps",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("tried", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("filled_bars", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint('"end" > start', name=op.f("ck_data_gaps_window_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_gaps")),
        sa.UniqueConstraint(
            "source",
            "symbol",
            "timeframe",
            "start",
            name=op.f("uq_data_gaps_source_symbol_timeframe_start"),
        ),
    )


def downgrade() -> None:
    op.drop_table("data_gaps")
    op.drop_index("ix_data_coverage_partition", table_name="data_coverage")
    op.drop_table("data_coverage")
    op.drop_table("collector_state")

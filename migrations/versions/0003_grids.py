"""Grids: one row per grid execution, its trials linked to their runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:14:28.779036
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grids",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "succeeded",
                "failed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_version", sa.String(length=80), nullable=False),
        sa.Column("cluster", sa.String(length=255), nullable=False),
        sa.Column("resources", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("leaderboard", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("resumes", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(status = 'running') = (finished_at IS NULL)", name=op.f("ck_grids_finished_iff_done")
        ),
        sa.ForeignKeyConstraint(["resumes"], ["grids.id"], name=op.f("fk_grids_resumes_grids")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
    )
    op.create_index(op.f("ix_grids_family"), "grids", ["family"], unique=False)
    op.create_index(op.f("ix_grids_name"), "grids", ["name"], unique=False)
    op.create_table(
        "grid_trials",
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        sa.Column("trial", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("reused", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_grid_trials_grid_id_grids"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_grid_trials_run_id_runs")),
        sa.PrimaryKeyConstraint("grid_id", "trial", name=op.f("pk_grid_trials")),
    )
    op.create_index(op.f("ix_grid_trials_run_id"), "grid_trials", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_grid_trials_run_id"), table_name="grid_trials")
    op.drop_table("grid_trials")
    op.drop_index(op.f("ix_grids_name"), table_name="grids")
    op.drop_index(op.f("ix_grids_family"), table_name="grids")
    op.drop_table("grids")

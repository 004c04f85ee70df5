"""Run provenance (library versions, artifacts path), gate audit evidence, family checks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:31:23.758226
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "family_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column(
            "verdict",
            sa.Enum(
                "passed",
                "failed",
                "skipped",
                name="verdict",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_checks")),
    )
    op.create_index(op.f("ix_family_checks_family"), "family_checks", ["family"], unique=False)
    op.add_column(
        "gate_checks",
        sa.Column("gate_version", sa.String(length=16), server_default="1", nullable=False),
    )
    op.add_column(
        "gate_checks",
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "gate_checks", sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "runs", sa.Column("versions", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column("runs", sa.Column("artifacts_path", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("replay_of", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_runs_replay_of_runs"), "runs", "runs", ["replay_of"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_runs_replay_of_runs"), "runs", type_="foreignkey")
    op.drop_column("runs", "replay_of")
    op.drop_column("runs", "artifacts_path")
    op.drop_column("runs", "versions")
    op.drop_column("gate_checks", "evidence")
    op.drop_column("gate_checks", "thresholds")
    op.drop_column("gate_checks", "gate_version")
    op.drop_index(op.f("ix_family_checks_family"), table_name="family_checks")
    op.drop_table("family_checks")

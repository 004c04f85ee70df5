"""Typed SQLAlchemy 2 tables. Alembic owns the schema: change a table here, add a revision.

"Model" means the ML model in raytrade; these classes are tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from raytrade.core.types import RunStatus, Verdict

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """`timestamptz` read back in `datetime.UTC`. psycopg hands back the session's zone
    (e.g. Etc/UTC), which polars treats as a different time zone from the bars' UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None


class Table(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB, dict[str, Any] | None: JSONB, datetime: UtcDateTime()}


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(always=True), primary_key=True)


def _verdict() -> Mapped[Verdict]:
    return mapped_column(Enum(Verdict, native_enum=False, length=16, name="verdict",
                              create_constraint=True,
                              values_callable=lambda e: [m.value for m in e]))


def _created() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class ExperimentRow(Table):
    """One distinct hypothesis: its identity is the hash of its canonical config."""

    __tablename__ = "experiments"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(100), index=True)
    family: Mapped[str] = mapped_column(String(100), index=True)
    config: Mapped[dict[str, Any]]
    config_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()

    runs: Mapped[list[RunRow]] = relationship(back_populates="experiment")


class RunRow(Table):
    """One execution of an experiment. Written `running` first; finished in one transaction."""

    __tablename__ = "runs"

    id: Mapped[int] = _id()
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    status: Mapped[RunStatus] = mapped_column(
        Enum(RunStatus, native_enum=False, length=16, name="status", create_constraint=True,
             values_callable=lambda e: [m.value for m in e]))
    started_at: Mapped[datetime] = _created()
    heartbeat_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None]
    code_version: Mapped[str] = mapped_column(String(80))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    feature_fingerprint: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    # Library versions the run used (raytrade, xgboost, polars, numpy): replay compares them.
    versions: Mapped[dict[str, Any] | None]
    # Where the run's artifacts (model, metrics, per-bar test returns) are, promoted or not.
    artifacts_path: Mapped[str | None] = mapped_column(Text)
    # A replay re-runs an earlier run to check reproducibility; it is not a new trial.
    replay_of: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))

    experiment: Mapped[ExperimentRow] = relationship(back_populates="runs")

    __table_args__ = (
        CheckConstraint("(status = 'running') = (finished_at IS NULL)", name="finished_iff_done"),
        CheckConstraint("(status = 'failed') = (error IS NOT NULL)", name="error_iff_failed"),
        Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
    )


class MetricRow(Table):
    __tablename__ = "metrics"

    id: Mapped[int] = _id()
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    segment: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("run_id", "segment", "name"),)


class GateCheckRow(Table):
    """One gate check's decision, with the evidence it read and the threshold in force."""

    __tablename__ = "gate_checks"

    id: Mapped[int] = _id()
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    tier: Mapped[int]
    check: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[Verdict] = _verdict()
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    gate_version: Mapped[str] = mapped_column(String(16), server_default="1")
    thresholds: Mapped[dict[str, Any] | None]  # the experiment's gate section in force
    evidence: Mapped[dict[str, Any] | None]  # what the check read, so it can be rescored
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        UniqueConstraint("run_id", "check"),
        CheckConstraint("tier BETWEEN 1 AND 3", name="tier_range"),
    )


class FamilyCheckRow(Table):
    """A check over a whole hypothesis family (PBO); a failed one blocks the family's promotion."""

    __tablename__ = "family_checks"

    id: Mapped[int] = _id()
    family: Mapped[str] = mapped_column(String(100), index=True)
    check: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[Verdict] = _verdict()
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created()


class ModelArtifactRow(Table):
    """A promoted ML model: where its files are, their hash and its feature metadata."""

    __tablename__ = "models"

    id: Mapped[int] = _id()
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), unique=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    feature_metadata: Mapped[dict[str, Any]]
    promoted_at: Mapped[datetime] = _created()


class GridRow(Table):
    """One execution of a grid file: its trials are rows of `grid_trials`, linked to their runs.

    While a grid runs, its trials that have no run yet still count as trials of the family
    (tier 3's trial count must not grow as the grid goes on)."""

    __tablename__ = "grids"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(100), index=True)
    family: Mapped[str] = mapped_column(String(100), index=True)
    config: Mapped[dict[str, Any]]  # the grid file as validated
    config_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[RunStatus] = mapped_column(
        Enum(RunStatus, native_enum=False, length=16, name="status", create_constraint=True,
             values_callable=lambda e: [m.value for m in e]))
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None]
    code_version: Mapped[str] = mapped_column(String(80))
    cluster: Mapped[str] = mapped_column(String(255))  # "local" or the address joined
    resources: Mapped[dict[str, Any]]  # what each trial was granted (after any GPU drop)
    leaderboard: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    resumes: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))

    __table_args__ = (
        CheckConstraint("(status = 'running') = (finished_at IS NULL)", name="finished_iff_done"),
    )


class GridTrialRow(Table):
    __tablename__ = "grid_trials"

    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"),
                                         primary_key=True)
    trial: Mapped[int] = mapped_column(primary_key=True)  # position in the grid's expansion
    name: Mapped[str] = mapped_column(String(100))
    config_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    reused: Mapped[bool] = mapped_column(server_default="false")  # a finished run, not re-run


class CollectorStateRow(Table):
    """A collector's watermark for its partition: every bar before it is durable in the lake.
    Advanced only after the lake write is on disk, so a restart resumes without loss."""

    __tablename__ = "collector_state"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    watermark: Mapped[datetime]  # exclusive: the open time of the next bar to collect
    bars_written: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _created()


class PartitionWindow:
    """Columns of a lake partition's window [start, end), shared by gap and quality rows."""

    source: Mapped[str] = mapped_column(String(40))
    symbol: Mapped[str] = mapped_column(String(40))
    timeframe: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime]
    end: Mapped[datetime]


class DataGapRow(PartitionWindow, Table):
    """A window of missing bars that gap filling could not fill from any source (or did)."""

    __tablename__ = "data_gaps"

    id: Mapped[int] = _id()
    bars: Mapped[int]  # bars the calendar expects in [start, end)
    tried: Mapped[dict[str, Any]]  # fallback sources tried and what each returned
    filled_bars: Mapped[int] = mapped_column(server_default="0")
    recorded_at: Mapped[datetime] = _created()

    __table_args__ = (
        UniqueConstraint("source", "symbol", "timeframe", "start"),
        CheckConstraint('"end" > start', name="window_order"),
    )


class DataCoverageRow(PartitionWindow, Table):
    """A quality report of one partition over a window, as computed at `computed_at`."""

    __tablename__ = "data_coverage"

    id: Mapped[int] = _id()
    coverage: Mapped[float] = mapped_column(Float)
    expected: Mapped[int] = mapped_column(BigInteger)
    bars: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_data_coverage_partition", "source", "symbol", "timeframe",
                            "computed_at"),)


# The paper-trading tables live in their own module (this one is near its size limit); importing
# it here registers them on `Table.metadata`, so Alembic and every reader of it see them.
from raytrade.store import paper_tables  # noqa: E402, F401

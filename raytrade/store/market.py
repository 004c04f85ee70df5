"""Reads and writes of market-data state: collector watermarks, gaps that gap filling could not
(or could) fill, and quality reports per lake partition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from raytrade.core.types import Timeframe
from raytrade.data.lake import PartitionKey
from raytrade.store.repository import MAX_ERROR_CHARS
from raytrade.store.session import transaction
from raytrade.store.tables import CollectorStateRow, DataCoverageRow, DataGapRow


@dataclass(frozen=True)
class CollectorState:
    key: PartitionKey
    watermark: datetime
    bars_written: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Gap:
    key: PartitionKey
    start: datetime
    end: datetime
    bars: int
    filled_bars: int
    tried: dict[str, Any]

    @property
    def open(self) -> bool:
        return self.filled_bars < self.bars


def _where(table: Any, key: PartitionKey) -> list[Any]:
    return [table.source == key.source, table.symbol == key.symbol,
            table.timeframe == str(key.timeframe)]


def watermark(engine: Engine, key: PartitionKey) -> datetime | None:
    with transaction(engine) as session:
        return session.scalar(select(CollectorStateRow.watermark)
                              .where(*_where(CollectorStateRow, key)))


def advance_watermark(engine: Engine, key: PartitionKey, to: datetime, written: int) -> datetime:
    """Move the watermark forward to `to` (never back) and count `written` bars; return the
    watermark now stored. Call only once the bars before `to` are durable in the lake."""
    with transaction(engine) as session:
        stored = session.execute(
            insert(CollectorStateRow)
            .values(source=key.source, symbol=key.symbol, timeframe=str(key.timeframe),
                    watermark=to, bars_written=written)
            .on_conflict_do_update(
                index_elements=["source", "symbol", "timeframe"],
                set_={"watermark": func.greatest(CollectorStateRow.watermark, to),
                      "bars_written": CollectorStateRow.bars_written + written,
                      "last_error": None, "updated_at": func.now()})
            .returning(CollectorStateRow.watermark))
        return stored.scalar_one()


def record_collector_error(engine: Engine, key: PartitionKey, error: str) -> None:
    with transaction(engine) as session:
        session.execute(
            update(CollectorStateRow)
            .where(*_where(CollectorStateRow, key))
            .values(last_error=error[:MAX_ERROR_CHARS], updated_at=func.now()))


def collector_states(engine: Engine) -> list[CollectorState]:
    with transaction(engine) as session:
        rows = session.scalars(select(CollectorStateRow).order_by(
            CollectorStateRow.source, CollectorStateRow.symbol, CollectorStateRow.timeframe))
        return [CollectorState(_key(r), r.watermark, r.bars_written, r.last_error,
                               r.updated_at) for r in rows]


def record_gap(engine: Engine, key: PartitionKey, start: datetime, end: datetime, *,
               bars: int, filled_bars: int, tried: dict[str, Any]) -> None:
    """Record a missing window and how much of it the fallback sources filled (idempotent:
    the same window recorded again is updated)."""
    with transaction(engine) as session:
        session.execute(
            insert(DataGapRow)
            .values(source=key.source, symbol=key.symbol, timeframe=str(key.timeframe),
                    start=start, end=end, bars=bars, filled_bars=filled_bars, tried=tried)
            .on_conflict_do_update(
                index_elements=["source", "symbol", "timeframe", "start"],
                set_={"end": end, "bars": bars, "filled_bars": filled_bars, "tried": tried,
                      "recorded_at": func.now()}))


def gaps(engine: Engine, key: PartitionKey | None = None, *, open_only: bool = False
         ) -> list[Gap]:
    query = select(DataGapRow).order_by(DataGapRow.source, DataGapRow.symbol, DataGapRow.start)
    if key is not None:
        query = query.where(*_where(DataGapRow, key))
    if open_only:
        query = query.where(DataGapRow.filled_bars < DataGapRow.bars)
    with transaction(engine) as session:
        return [Gap(_key(r), r.start, r.end, r.bars, r.filled_bars, dict(r.tried))
                for r in session.scalars(query)]


def record_coverage(engine: Engine, key: PartitionKey, start: datetime, end: datetime, *,
                    coverage: float, expected: int, bars: int, report: dict[str, Any]) -> None:
    with transaction(engine) as session:
        session.add(DataCoverageRow(source=key.source, symbol=key.symbol,
                                    timeframe=str(key.timeframe), start=start, end=end,
                                    coverage=coverage, expected=expected, bars=bars,
                                    report=report))


def latest_coverage(engine: Engine) -> list[tuple[PartitionKey, dict[str, Any], datetime]]:
    """Return each partition's newest quality report with the time it was computed."""
    newest = (select(DataCoverageRow.source, DataCoverageRow.symbol, DataCoverageRow.timeframe,
                     func.max(DataCoverageRow.id).label("id"))
              .group_by(DataCoverageRow.source, DataCoverageRow.symbol,
                        DataCoverageRow.timeframe).subquery())
    with transaction(engine) as session:
        rows = session.scalars(select(DataCoverageRow).join(newest, DataCoverageRow.id ==
                                                            newest.c.id)
                               .order_by(DataCoverageRow.source, DataCoverageRow.symbol))
        return [(_key(r), dict(r.report), r.computed_at) for r in rows]




def _key(row: CollectorStateRow | DataGapRow | DataCoverageRow) -> PartitionKey:
    return PartitionKey(source=row.source, timeframe=Timeframe(row.timeframe), symbol=row.symbol)

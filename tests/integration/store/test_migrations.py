"""Alembic owns the schema: a fresh database goes to head, back to base and up again."""

from __future__ import annotations

from sqlalchemy import inspect

from raytrade.store.migrate import current_revision, downgrade, head_revision, upgrade
from raytrade.store.session import make_engine
from raytrade.store.tables import Table

TABLES = {"experiments", "runs", "metrics", "gate_checks", "models"}


def test_upgrade_downgrade_upgrade_on_a_fresh_database(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migrations_match_the_tables_in_code(database_url: str) -> None:
    """A table changed in code without a revision would drift from the real schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Table.metadata)
    engine.dispose()
    assert diff == []

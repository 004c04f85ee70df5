"""A scratch store for benchmarks: RAYTRADE_DATABASE_URL if set, else a temporary database on
the PostgreSQL server at 127.0.0.1:5432, migrated to head and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from raytrade.store.migrate import upgrade
from raytrade.store.session import Engine, make_engine

ADMIN = "host=127.0.0.1 port=5432 dbname=postgres"


@contextmanager
def scratch_store(prefix: str) -> Iterator[tuple[Engine, str]]:
    """Yield an engine on a migrated store and its URL."""
    url = os.environ.get("RAYTRADE_DATABASE_URL")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    if url is None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        engine = make_engine(url or f"postgresql+psycopg://{os.environ.get('USER', 'root')}"
                                    f"@127.0.0.1:5432/{name}")
        upgrade(engine)
        yield engine, engine.url.render_as_string(hide_password=False)
        engine.dispose()
    finally:
        if url is None:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

"""Engines and transactions. One engine per URL and process; callers pass it explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from raytrade.config.settings import Settings, redact_url
from raytrade.core.errors import ExternalError
from raytrade.store.embedded import embedded_database_url

__all__ = ["Engine", "database_url", "engine_from_settings", "make_engine", "transaction"]


def database_url(settings: Settings) -> str:
    """Return the configured URL, or start the embedded server and return its URL."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_database_url(settings.embedded_db_dir)


def make_engine(url: str) -> Engine:
    """Return an engine for `url`; fail with one sentence (password redacted) if unreachable."""
    engine = create_engine(url, pool_pre_ping=True, future=True)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise ExternalError(f"cannot reach the database at {redact_url(url)}: {reason}") from None
    return engine


def secret_url(engine: Engine) -> SecretStr:
    """Return the engine's full URL (password included) for handing to other processes, as a
    secret: Ray workers and actors reach the same store with it."""
    return SecretStr(engine.url.render_as_string(hide_password=False))


def engine_from_settings(settings: Settings) -> Engine:
    return make_engine(database_url(settings))


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """Yield a session whose work commits together at the end, or not at all."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        yield session

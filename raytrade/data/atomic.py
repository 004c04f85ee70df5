"""Crash-safe file replacement: write a temporary sibling, fsync, rename over the target.

A reader sees either the old file or the new one, never a torn write; a crash leaves at most a
hidden `.tmp` sibling, which `remove_stale_temporaries` clears.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, then atomically replace `path` with it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(directory: Path) -> int:
    """Delete temporaries that a crashed writer left in `directory`; return how many."""
    stale = list(directory.glob(f".*{TMP_SUFFIX}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `directory` (one writer per partition)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

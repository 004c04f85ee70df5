"""Which sockets the Ray processes of the connected session listen on, read from the OS."""

from __future__ import annotations

import ipaddress
from typing import Any

import psutil  # type: ignore[import-untyped]
import ray


def ray_processes() -> set[int]:
    """Return the pids of this process, its children and every process of its Ray session."""
    node = ray._private.worker._global_node
    assert node is not None, "connect to Ray first"
    session = node.get_session_dir_path()
    pids = {child.pid for child in psutil.Process().children(recursive=True)}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if session in " ".join(proc.info["cmdline"] or []):
            pids.add(proc.info["pid"])
    return pids | {psutil.Process().pid}


def listeners(pids: set[int]) -> list[Any]:
    """Return the listening inet sockets (psutil `sconn`s) of the processes `pids`."""
    return [c for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in pids]


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def exposed(found: list[Any]) -> list[tuple[str, int, str]]:
    """Return address, port and process name of each of `found` not on loopback."""
    return [(c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()) for c in found
            if not is_loopback(c.laddr.ip)]

"""Ray started the way raytrade starts it listens on loopback only (read from the OS)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import psutil
import pytest
import ray

from raytrade.runtime.local import start_local


@pytest.fixture
def local_ray() -> Iterator[None]:
    start_local(num_cpus=2)
    yield
    ray.shutdown()


def _ray_processes() -> set[int]:
    session = ray._private.worker._global_node.get_session_dir_path()
    pids = {child.pid for child in psutil.Process().children(recursive=True)}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if session in " ".join(proc.info["cmdline"] or []):
            pids.add(proc.info["pid"])
    return pids | {psutil.Process().pid}


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def test_every_ray_listener_is_on_loopback(local_ray: None) -> None:
    assert ray.get_runtime_context().get_node_id()
    pids = _ray_processes()
    listeners = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listeners) >= 3, "found too few of Ray's listening sockets to judge"
    exposed = [(c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()) for c in listeners
               if not _is_loopback(c.laddr.ip)]
    assert exposed == []

"""Ray started the way raytrade starts it listens on loopback only (read from the OS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray
from ray_sockets import exposed, listeners, ray_processes

from raytrade.runtime.local import start_local


@pytest.fixture
def local_ray() -> Iterator[None]:
    start_local(num_cpus=2)
    yield
    ray.shutdown()


def test_every_ray_listener_is_on_loopback(local_ray: None) -> None:
    assert ray.get_runtime_context().get_node_id()
    found = listeners(ray_processes())
    assert len(found) >= 3, "found too few of Ray's listening sockets to judge"
    assert exposed(found) == []

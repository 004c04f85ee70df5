"""Start Ray on one machine with every listener on 127.0.0.1 (DESIGN.md section 6).

Left alone, Ray listens on all interfaces and advertises the machine's external address, and its
job API runs arbitrary code for anyone who can reach it. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`
makes the node address 127.0.0.1; usage stats stay off; the auth mode is explicit. Other
addresses only through an explicit cluster configuration, with token authentication.
"""

from __future__ import annotations

import os
from typing import Any

import ray
from ray._private import ray_constants

from raytrade.core.errors import InputError, RaytradeError

NAMESPACE = "raytrade"


def loopback_environment() -> dict[str, str]:
    """Return the variables that keep a local Ray on loopback; an explicit auth mode is kept."""
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
    }


def start_local(num_cpus: int | None = None, num_gpus: int | None = None, *,
                dashboard: bool = False) -> Any:
    """Start (or join, if this process already has one) a loopback-only local Ray instance.

    Ray's own processes read these variables when they start, so they are set in this
    process's environment, which they inherit.
    """
    os.environ.update(loopback_environment())
    if ray.is_initialized():
        return ray.get_runtime_context()
    if ray_constants.ENABLE_RAY_CLUSTER:  # read once, when ray was first imported
        raise RaytradeError(
            "ray was imported before raytrade.runtime with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER "
            "unset, so a local Ray would listen on every interface: import raytrade.runtime "
            "first or set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before starting Python")
    return ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                    _node_ip_address="127.0.0.1",
                    include_dashboard=dashboard, dashboard_host="127.0.0.1",
                    namespace=NAMESPACE, log_to_driver=False)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def address_host(address: str) -> str:
    """Return the host part of a Ray address (`host:port`, `ray://host:port`, `http://...`)."""
    rest = address.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def connect(address: str | None = None, *, num_cpus: int | None = None,
            num_gpus: int | None = None) -> bool:
    """Join the cluster at `address` (or `RAY_ADDRESS`), or start a loopback-only local Ray.
    Return True when a local instance was started (the caller shuts it down).

    A cluster beyond this machine must use token authentication: joining one with another
    auth mode is refused before any connection is made.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        start_local(num_cpus, num_gpus)
        return True
    host = address_host(address)
    if (address != "auto" and host not in LOOPBACK_HOSTS
            and os.environ.get("RAY_AUTH_MODE") != "token"):
        raise InputError(f"joining the Ray cluster at {host} needs token authentication: set "
                         "RAY_AUTH_MODE=token and the cluster's token (see docs/deploy.md)")
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    return False


def shutdown() -> None:
    ray.shutdown()

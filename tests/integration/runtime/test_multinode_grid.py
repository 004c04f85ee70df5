"""A grid on a two-node Ray cluster on loopback: its trials run on both nodes and every result
reaches the store, linked to the grid, with a complete leaderboard; no process of the cluster
listens beyond 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster
from ray_sockets import exposed, listeners, ray_processes
from sqlalchemy import Engine
from tiny_grid import stores, write_grid

from raytrade.config.loader import load_grid
from raytrade.core.types import RunStatus
from raytrade.runtime.local import connect
from raytrade.runtime.tune import TrialEvent, run_grid
from raytrade.store.grids import get_grid, leaderboard
from raytrade.store.repository import list_runs

pytestmark = pytest.mark.parametrize("database_url", ["server"], indirect=True)

LOOPBACK = "127.0.0.1"
@pytest.fixture
def two_nodes() -> Iterator[Cluster]:
    """A head and a worker node, one CPU each (so two concurrent trials need both), the worker
    with a custom resource; this process joins it the way raytrade joins a cluster."""
    assert not ray.is_initialized(), "this process already runs Ray: it cannot join the cluster"
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": LOOPBACK, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK, resources={"worker_node": 1})
        cluster.wait_for_nodes()
        assert connect(cluster.address) is False  # joined, not started
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def test_trials_run_on_both_nodes_and_every_result_reaches_the_store(
        two_nodes: Cluster, engine: Engine, tmp_path: Path) -> None:
    head = two_nodes.head_node
    assert head is not None
    alive = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
    cluster_nodes = {head.node_id, *(n.node_id for n in two_nodes.worker_nodes)}
    assert {n["NodeID"] for n in alive} == cluster_nodes and len(cluster_nodes) == 2
    assert {n["NodeManagerAddress"] for n in alive} == {LOOPBACK}

    axes = {"data.symbol": ["BTC-USD", "ETH-USD"], "label.holding_period": [3, 4, 5]}
    grid, trials = load_grid(write_grid(tmp_path, axes, name="two-node-grid"))
    events: list[TrialEvent] = []
    report = run_grid(grid, trials, stores(engine, tmp_path), on_event=events.append)

    assert len(trials) == 6 and len(events) == 6
    assert {e.node for e in events} == cluster_nodes
    assert {e.status for e in events} == {"finished"}
    runs = list_runs(engine, 100)
    assert len(runs) == 6 and {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert {r.experiment for r in runs} == {t.name for t in trials}
    board = leaderboard(engine, report.grid_id)
    assert sorted(r.trial for r in board) == list(range(6))
    assert {r.run_id for r in board} == {e.run_id for e in events} == {r.id for r in runs}
    assert {r.status for r in board} == {"succeeded"}
    assert all("sharpe" in r.metrics and set(r.tiers) == {1, 2, 3} for r in board)
    summary = get_grid(engine, report.grid_id)
    assert summary.status is RunStatus.SUCCEEDED and summary.trials == 6
    # Both nodes asked the one FeatureService: one computation per symbol for the cluster.
    assert report.feature_service["misses"] == 2 and report.feature_service["hits"] == 4

    found = listeners(ray_processes())
    servers = {head.all_processes["gcs_server"][0].process.pid,
               *(node.all_processes["raylet"][0].process.pid
                 for node in [head, *two_nodes.worker_nodes])}
    assert servers <= {c.pid for c in found}, "missed some of the cluster's listeners"
    assert exposed(found) == []

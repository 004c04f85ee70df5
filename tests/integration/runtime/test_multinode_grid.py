"""A grid on a two-node Ray cluster on loopback: its trials run on both nodes and every result
reaches the store, linked to the grid, with a complete leaderboard; no process of the cluster
listens beyond 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from pydantic import SecretStr
from ray.cluster_utils import Cluster
from ray_sockets import exposed, listeners, ray_processes
from sqlalchemy import Engine

from raytrade.config.loader import load_grid
from raytrade.core.types import RunStatus
from raytrade.runtime.local import connect
from raytrade.runtime.tune import GridStores, TrialEvent, run_grid
from raytrade.store.grids import get_grid, leaderboard
from raytrade.store.repository import list_runs

pytestmark = pytest.mark.parametrize("database_url", ["server"], indirect=True)

LOOPBACK = "127.0.0.1"
BASE: dict[str, Any] = {
    "name": "tiny", "family": "tiny-family",
    "data": {"source": "sample", "symbol": "BTC-USD", "timeframe": "1h",
             "start": "2024-01-01", "end": "2024-04-30",
             "sample": {"seed": 3, "signal_strength": 0.2, "signal_lookback": 4}},
    "features": {"set": "crypto"},
    "model": {"kind": "binary", "params": {"max_depth": 3, "eta": 0.1, "num_boost_round": 40}},
    "label": {"holding_period": 4, "profit_target": 0.002},
    "split": {"train": 0.6, "validation": 0.2, "test": 0.2, "embargo": "auto"},
    "costs": {"fee_bps": 1, "slippage_bps": 0},
}


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


def _grid(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({
        "name": "two-node-grid", "base": "base.yaml",
        "axes": {"data.symbol": ["BTC-USD", "ETH-USD"], "label.holding_period": [3, 4, 5]}}))
    return path


def _stores(engine: Engine, tmp_path: Path) -> GridStores:
    return GridStores(engine=engine, database_url=SecretStr(engine.url.render_as_string(
        hide_password=False)), lake_root=tmp_path / "lake", runs_dir=tmp_path / "runs",
        models_dir=tmp_path / "models", tune_dir=tmp_path / "tune", code_version="test")


def test_trials_run_on_both_nodes_and_every_result_reaches_the_store(
        two_nodes: Cluster, engine: Engine, tmp_path: Path) -> None:
    head = two_nodes.head_node
    assert head is not None
    alive = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
    cluster_nodes = {head.node_id, *(n.node_id for n in two_nodes.worker_nodes)}
    assert {n["NodeID"] for n in alive} == cluster_nodes and len(cluster_nodes) == 2
    assert {n["NodeManagerAddress"] for n in alive} == {LOOPBACK}

    grid, trials = load_grid(_grid(tmp_path))
    events: list[TrialEvent] = []
    report = run_grid(grid, trials, _stores(engine, tmp_path), on_event=events.append)

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

"""The operator counters a grid exports through `ray.util.metrics` reach the Prometheus endpoint
of a Ray started the way raytrade starts it (no dashboard), with the values the grid produced:
trials started, finished and failed, gate passes per tier, and FeatureService hits and misses."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from tiny_grid import stores, write_grid

from raytrade.config.loader import load_grid
from raytrade.runtime.local import shutdown, start_local
from raytrade.runtime.tune import TrialEvent, run_grid

pytestmark = pytest.mark.parametrize("database_url", ["server"], indirect=True)

# Ray's processes export recorded metrics every `metrics_report_interval_ms` (10 s by default);
# they read it from the environment when they start, so it is set before Ray starts.
REPORT_INTERVAL_MS = "200"
SCRAPE_DEADLINE_S = 30.0
PREFIX = "ray_"  # Ray's exporter prefixes every application metric
@pytest.fixture
def metrics_url() -> Iterator[str]:
    """Start a loopback Ray with a short metrics interval; yield its node's Prometheus URL."""
    assert not ray.is_initialized(), "Ray already runs here: the interval would not apply"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_metrics_report_interval_ms", REPORT_INTERVAL_MS)
        start_local(num_cpus=2)
    try:
        node_id = ray.get_runtime_context().get_node_id()
        node = next(n for n in ray.nodes() if n["NodeID"] == node_id)  # type: ignore[no-untyped-call]
        yield f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
    finally:
        shutdown()


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Return the node's raytrade samples, summed over the processes that recorded them."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    totals: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(PREFIX + "raytrade_"):
                continue
            labels = frozenset((k, v) for k, v in sample.labels.items()
                               if k in {"grid", "tier"})
            key = (sample.name, labels)
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def _expected_tier_passes(events: list[TrialEvent], tiers: dict[int, set[int]]) -> Counter[str]:
    """What `TrialMetrics.on_finish` counts: every tier below the first failed one."""
    passes: Counter[str] = Counter()
    for event in events:
        if event.status != "finished" or event.run_id is None:
            continue
        for tier in tiers[event.run_id]:
            if event.failed_tier is None or tier < event.failed_tier:
                passes[str(tier)] += 1
    return passes


def test_grid_counters_reach_prometheus_with_the_grids_values(
        metrics_url: str, engine: Engine, tmp_path: Path) -> None:
    # Two days of hourly bars cannot be split into train, validation and test: those fail.
    axes = {"data.end": ["2024-04-30", "2024-01-02"], "label.holding_period": [3, 4]}
    grid, trials = load_grid(write_grid(tmp_path, axes, name="metrics-grid"))
    events: list[TrialEvent] = []
    report = run_grid(grid, trials, stores(engine, tmp_path), on_event=events.append)

    n = len(trials)
    failures = sum(e.status == "failed" for e in events)
    assert n == 4 and len(events) == 4 and failures == 2
    tiers = {r.run_id: set(r.tiers) for r in report.board if r.run_id is not None}
    passes = _expected_tier_passes(events, tiers)
    assert passes["1"] >= 1, "no trial passed tier 1: the grid cannot show gate passes"
    # One feature computation per distinct bars (two windows of BTC-USD); the rest are hits.
    assert report.feature_service["misses"] == 2 and report.feature_service["hits"] == n - 2

    def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return f"{PREFIX}{name}_total", frozenset(labels.items())

    on_grid = {"grid": grid.name}
    expected = {
        key("raytrade_trials_started", **on_grid): float(n),
        key("raytrade_trials_finished", **on_grid): float(n - failures),
        key("raytrade_trials_failed", **on_grid): float(failures),
        **{key("raytrade_gate_passes", **on_grid, tier=tier): float(count)
           for tier, count in passes.items()},
        key("raytrade_feature_service_hits"): float(n - 2),
        key("raytrade_feature_service_misses"): 2.0,
    }
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    seen = _scrape(metrics_url)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(int(REPORT_INTERVAL_MS) / 1000)  # the next export, not a guess at readiness
        seen = _scrape(metrics_url)
    assert seen == expected

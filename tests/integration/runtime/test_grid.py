"""Grids as Ray Tune trials on a real local Ray and the real store: every trial becomes a run
linked to its grid, features are computed once per symbol, failures are recorded and the grid
goes on, a resumed grid re-runs only what did not finish, and no secret reaches Tune's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tiny_grid import stores, write_grid

from raytrade.config.grid import Resources
from raytrade.config.loader import load_grid
from raytrade.core.errors import InputError
from raytrade.core.types import RunStatus, Verdict
from raytrade.store.grids import get_grid, leaderboard
from raytrade.store.repository import family_trials, gate_checks, get_run, list_runs

pytestmark = pytest.mark.parametrize("database_url", ["server"], indirect=True)

@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    from raytrade.runtime.local import shutdown, start_local
    start_local(num_cpus=2)
    yield
    shutdown()


def test_trials_become_linked_runs_with_a_stored_leaderboard_and_shared_features(
        ray_local: None, engine: Engine, tmp_path: Path) -> None:
    from raytrade.runtime.tune import TrialEvent, run_grid
    grid, trials = load_grid(write_grid(tmp_path, {
        "data.symbol": ["BTC-USD", "ETH-USD", "SOL-USD"],
        "label.holding_period": [2, 3, 4, 5, 6, 8, 10, 12]}))
    events: list[TrialEvent] = []
    warnings: list[str] = []
    report = run_grid(grid, trials, stores(engine, tmp_path), on_event=events.append,
                      on_warning=warnings.append)

    assert len(trials) == 24 and len(events) == 24 and warnings == []
    assert report.feature_service["misses"] == 3  # one computation per symbol, not 24
    assert report.feature_service["hits"] == 21
    runs = list_runs(engine, 100)
    assert len(runs) == 24 and {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert {r.experiment for r in runs} == {t.name for t in trials}
    board = leaderboard(engine, report.grid_id)
    assert [r.run_id for r in board] == [r.run_id for r in report.board]
    sharpes = [r.metrics["sharpe"] for r in board]
    assert sharpes == sorted(sharpes, reverse=True)
    assert all(set(r.tiers) == {1, 2, 3} for r in board)
    summary = get_grid(engine, report.grid_id)
    assert summary.status is RunStatus.SUCCEEDED and summary.trials == 24
    # Tier 3 counted the whole grid from its first trial on: no trial saw fewer than 24.
    deflated = [c.evidence["n_trials"] for row in board
                for c in gate_checks(engine, row.run_id or 0)
                if c.check == "dsr" and c.verdict is not Verdict.SKIPPED]
    assert deflated and min(deflated) >= 24
    assert family_trials(engine, "tiny-family")[0] == 24
    assert report.pbo is not None and report.pbo.evidence["n_trials"] == 24


def test_a_failing_trial_is_recorded_and_the_grid_goes_on_then_resume_reruns_only_it(
        ray_local: None, engine: Engine, tmp_path: Path) -> None:
    from raytrade.runtime.tune import run_grid
    # Two days of hourly bars cannot be split into train, validation and test: that trial fails.
    grid, trials = load_grid(write_grid(tmp_path, {"data.end": ["2024-04-30", "2024-01-02"],
                                              "label.holding_period": [3, 4]}))
    first = run_grid(grid, trials, stores(engine, tmp_path))
    status = {r.name: r.status for r in first.board}
    assert sorted(status.values()) == ["failed", "failed", "succeeded", "succeeded"]
    failed = [r for r in first.board if r.status == "failed"]
    assert all(r.run_id is not None and r.error for r in failed)
    assert all(get_run(engine, r.run_id or 0).status is RunStatus.FAILED for r in failed)

    again = run_grid(grid, trials, stores(engine, tmp_path), resume=True)
    by_name = {r.name: r for r in again.board}
    for row in first.board:
        if row.status == "succeeded":  # finished with the same config and bars: not re-run
            assert by_name[row.name].reused and by_name[row.name].run_id == row.run_id
        else:  # re-run as a new run (which fails again: the data is still too short)
            assert not by_name[row.name].reused and by_name[row.name].run_id != row.run_id
    assert len(list_runs(engine, 100)) == 6
    assert get_grid(engine, again.grid_id).resumes == first.grid_id


def test_gpu_asks_are_dropped_with_one_warning_and_impossible_asks_refused(
        ray_local: None, engine: Engine, tmp_path: Path) -> None:
    from raytrade.runtime.tune import effective_resources, run_grid
    grid, trials = load_grid(write_grid(tmp_path, {"label.holding_period": [3]},
                                   resources={"cpu": 1, "gpu": 0.25}))
    warnings: list[str] = []
    report = run_grid(grid, trials, stores(engine, tmp_path), on_warning=warnings.append)
    assert len(warnings) == 1 and "no GPU" in warnings[0]
    assert report.resources == Resources(cpu=1, gpu=0)
    assert get_grid(engine, report.grid_id).resources == report.resources.model_dump()
    assert report.resources.gpu == 0.0
    assert [r.status for r in report.board] == ["succeeded"]
    with pytest.raises(InputError, match="no node has that many CPUs"):
        effective_resources(Resources(cpu=4), {"CPU": 2.0}, [2.0])
    with pytest.raises(InputError, match="could never start"):
        effective_resources(Resources(cpu=1, gpu=2), {"CPU": 2.0, "GPU": 1.0}, [2.0])
    kept, none = effective_resources(Resources(cpu=1, gpu=0.25), {"CPU": 2.0, "GPU": 1.0}, [2])
    assert kept == Resources(cpu=1, gpu=0.25) and none == []


def test_the_store_url_and_its_password_never_reach_tunes_files(
        ray_local: None, engine: Engine, tmp_path: Path) -> None:
    from raytrade.runtime.tune import run_grid
    # The server trusts loopback, so a password in the URL is accepted and ignored.
    url = engine.url.set(password="tr4d3-s3cr3t").render_as_string(hide_password=False)
    grid, trials = load_grid(write_grid(tmp_path, {"label.holding_period": [3, 4]}))
    report = run_grid(grid, trials, stores(engine, tmp_path, url))
    assert {r.status for r in report.board} == {"succeeded"}
    written = [p for p in (tmp_path / "tune").rglob("*") if p.is_file()]
    assert written, "Tune wrote no experiment state"
    leaks = [p for p in written if b"tr4d3-s3cr3t" in p.read_bytes()]
    assert leaks == []


def test_a_trial_over_distributed_min_rows_trains_on_ray_train_without_deadlock(
        ray_local: None, engine: Engine, tmp_path: Path) -> None:
    """Each trial's training needs both CPUs for its two Ray Train workers: trials reserve no
    CPU themselves (else they would hold what their workers wait for) and run one at a time."""
    from raytrade.runtime.tune import run_grid, trial_request
    grid, trials = load_grid(write_grid(tmp_path, {"label.holding_period": [3]}, resources={
        "cpu": 1, "train_workers": 2, "distributed_min_rows": 100}))
    assert trial_request(grid.resources, 2.0) == ({"cpu": 0, "memory": 2**20}, 1)
    report = run_grid(grid, trials, stores(engine, tmp_path), share_features=False)
    [row] = report.board
    assert row.status == "succeeded", row.error
    with pytest.raises(InputError, match="more than the cluster's"):
        from raytrade.runtime.tune import effective_resources
        effective_resources(Resources(cpu=1, train_workers=3), {"CPU": 2.0}, [2.0])

"""Runs: `running` first, finished all-or-nothing; a crash never leaves a half-written result."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from raytrade.config.loader import load_experiment
from raytrade.core.errors import IntegrityError
from raytrade.core.records import CheckResult, Metric
from raytrade.core.types import RunStatus, Verdict
from raytrade.store.repository import (
    ensure_experiment,
    fail_run,
    finish_run,
    get_run,
    list_runs,
    mark_abandoned,
    recorded_run,
    run_metrics,
    start_run,
)
from raytrade.store.session import transaction
from raytrade.store.tables import GateCheckRow, MetricRow

EXPERIMENT = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"


@pytest.fixture
def cfg():  # type: ignore[no-untyped-def]
    return load_experiment(EXPERIMENT)


def _count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_run_is_running_then_succeeded_with_its_metrics_and_checks(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    run_id = start_run(engine, cfg, code_version="abc123")
    assert get_run(engine, run_id).status is RunStatus.RUNNING
    finish_run(engine, run_id, [Metric("test", "sharpe", 1.2), Metric("test", "trades", 40)],
               [CheckResult(1, "min_trades", Verdict.PASSED, 40, ">= 30")])
    run = get_run(engine, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.finished_at is not None
    assert run.seed == cfg.seed and run.config_hash == cfg.config_hash()
    assert [m.name for m in run_metrics(engine, run_id)] == ["sharpe", "trades"]
    assert _count(engine, GateCheckRow) == 1


def test_the_same_config_is_one_experiment_row(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    assert ensure_experiment(engine, cfg) == ensure_experiment(engine, cfg)


def test_a_result_is_written_once(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    run_id = start_run(engine, cfg, code_version="x")
    finish_run(engine, run_id, [Metric("test", "sharpe", 1.0)])
    with pytest.raises(IntegrityError, match="already written"):
        finish_run(engine, run_id, [Metric("test", "sharpe", 9.0)])
    with pytest.raises(IntegrityError):
        fail_run(engine, run_id, "late failure")
    assert [m.value for m in run_metrics(engine, run_id)] == [1.0]


def test_an_error_midway_through_finishing_writes_nothing(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    run_id = start_run(engine, cfg, code_version="x")

    def metrics():  # type: ignore[no-untyped-def]
        yield Metric("test", "sharpe", 1.0)
        raise RuntimeError("backtest exploded")

    with pytest.raises(RuntimeError):
        finish_run(engine, run_id, metrics())
    assert get_run(engine, run_id).status is RunStatus.RUNNING
    assert _count(engine, MetricRow) == 0


def test_recorded_run_marks_failure_with_the_error(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no bars"), recorded_run(engine, cfg,
                                                                    code_version="x") as run_id:
        raise ValueError("no bars for BTC-USD")
    run = get_run(engine, run_id)
    assert run.status is RunStatus.FAILED and run.error == "ValueError: no bars for BTC-USD"
    assert _count(engine, MetricRow) == 0


KILLED_MIDWAY = """
import os, signal, sys
from pathlib import Path
from raytrade.config.loader import load_experiment
from raytrade.core.records import Metric
from raytrade.store.repository import finish_run, start_run
from raytrade.store.session import make_engine

engine = make_engine(sys.argv[1])
run_id = start_run(engine, load_experiment(Path(sys.argv[2])), code_version="x")
print(run_id, flush=True)

def metrics():
    for i in range(50):
        yield Metric("test", f"m{i}", float(i))
        if i == 25:  # half the metrics are inserted, inside the open transaction
            os.kill(os.getpid(), signal.SIGKILL)

finish_run(engine, run_id, metrics())
"""


def test_a_run_killed_between_start_and_result_leaves_no_half_result(
    engine: Engine, database_url: str, cfg  # type: ignore[no-untyped-def]
) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, database_url, str(EXPERIMENT)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = int(proc.stdout.strip())
    assert get_run(engine, run_id).status is RunStatus.RUNNING
    assert _count(engine, MetricRow) == 0 and _count(engine, GateCheckRow) == 0
    with transaction(engine) as session:  # pretend the heartbeat went quiet an hour ago
        session.execute(text("UPDATE runs SET heartbeat_at = now() - interval '1 hour'"))
    assert mark_abandoned(engine, timedelta(minutes=10)) == [run_id]
    run = get_run(engine, run_id)
    assert run.status is RunStatus.FAILED and run.error and run.error.startswith("abandoned")


def test_the_database_refuses_inconsistent_rows(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    run_id = start_run(engine, cfg, code_version="x")
    with pytest.raises(SAIntegrityError, match="finished_iff_done"), transaction(engine) as s:
        s.execute(text("UPDATE runs SET status = 'succeeded' WHERE id = :i"), {"i": run_id})
    with pytest.raises(SAIntegrityError, match="ck_runs_status"), transaction(engine) as s:
        s.execute(text("UPDATE runs SET status = 'paused', finished_at = now() WHERE id = :i"),
                  {"i": run_id})


def test_list_runs_is_newest_first(engine: Engine, cfg) -> None:  # type: ignore[no-untyped-def]
    ids = [start_run(engine, cfg, code_version="x") for _ in range(3)]
    assert [r.id for r in list_runs(engine, limit=2)] == ids[::-1][:2]

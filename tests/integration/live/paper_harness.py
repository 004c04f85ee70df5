"""Shared pieces of the paper-session tests: a promoted quick-start model in the test's store,
bars with the same planted effect in a lake partition, and session files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from raytrade.config.loader import load_experiment
from raytrade.config.session import SessionConfig
from raytrade.core.types import Timeframe
from raytrade.data.lake import Lake
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.runner import RunEnvironment, run_experiment

QUICKSTART = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"
TIMEFRAME = Timeframe.M5
SPEC = SimulatorSpec(seed=7, signal_strength=0.15, signal_lookback=12, missing_rate=0.0,
                     outages_per_year=0.0)


def promoted_run(engine: Engine, root: Path) -> int:
    """Run the quick-start experiment (about a second) and return its promoted run id."""
    env = RunEnvironment(engine=engine, lake=Lake(root / "research-lake"), runs_dir=root / "runs",
                         models_dir=root / "models", code_version="test", threads=1)
    result = run_experiment(load_experiment(QUICKSTART), env)
    assert result.decision.passed and result.model_path is not None, result.decision.checks
    return result.run_id


def bars(symbol: str, count: int, end: datetime | None = None) -> pl.DataFrame:
    """Return `count` 5-minute bars with the quick-start effect, the last opening at `end`
    (default: a fixed day in 2024)."""
    last = end or datetime(2024, 6, 3, tzinfo=UTC)
    start = last - TIMEFRAME.duration * (count - 1)
    frame = simulate_bars(symbol, TIMEFRAME, start - TIMEFRAME.duration * 50,
                          last + TIMEFRAME.duration, SPEC)
    return frame.filter(pl.col("ts") >= start).head(count)


def session_file(name: str, run_id: int, symbol: str, *, broker: dict[str, Any] | None = None,
                 source: str = "fake", **extra: Any) -> SessionConfig:
    doc: dict[str, Any] = {
        "name": name, "model": {"run_id": run_id},
        "broker": broker or {"kind": "simulated"},
        "bars": {"source": source, "symbol": symbol, "timeframe": str(TIMEFRAME)},
        "capital": 10_000.0,
        "risk": {"max_position_notional": 10_000.0, "max_daily_loss": 5_000.0,
                 "stale_after_bars": 1000, "max_orders_per_minute": 10_000},
        "parity_every_bars": 50} | extra
    return SessionConfig.model_validate(doc)

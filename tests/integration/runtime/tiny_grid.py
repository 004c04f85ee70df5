"""A tiny grid for the runtime tests: hourly simulated bars with a planted effect, small
models, a grid file over given axes, and the stores a grid writes to (all in a temp folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr
from sqlalchemy import Engine

from raytrade.runtime.tune import GridStores
from raytrade.store.session import secret_url

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


def write_grid(folder: Path, axes: dict[str, list[Any]], name: str = "tiny-grid",
               **extra: Any) -> Path:
    """Write the base experiment and a grid over `axes` into `folder`; return the grid file."""
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "axes": axes, **extra}))
    return path


def stores(engine: Engine, folder: Path, url: str | None = None) -> GridStores:
    """Return the grid's stores: the test's database (or `url`) and folders under `folder`."""
    return GridStores(engine=engine, database_url=SecretStr(url) if url else secret_url(engine),
        lake_root=folder / "lake",
        runs_dir=folder / "runs", models_dir=folder / "models", tune_dir=folder / "tune",
        code_version="test")

"""`raytrade paper`: sessions listed and reported from the store, parity checked from the store
and the lake (a bar changed after the fact halts the session, exit 1), and `paper start`
without a cluster says how to get one."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from sqlalchemy import Engine

from raytrade.config.settings import Settings
from raytrade.core.clock import FakeClock
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.brokers import SimulatedBroker
from raytrade.live.trader import PaperTrader, load_for_session
from raytrade.store import paper as store

sys.path.insert(0, str(Path(__file__).parents[1] / "live"))
from paper_harness import TIMEFRAME, bars, promoted_run, session_file

SERVER = pytest.mark.parametrize("database_url", ["server"], indirect=True)
SYMBOL = "BTC-USD"


def _trade(engine: Engine, lake: Lake, run_id: int) -> None:
    cfg = session_file("cli-session", run_id, SYMBOL)
    frame = bars(SYMBOL, 200)
    lake.upsert(frame.head(100), source="fake", timeframe=TIMEFRAME)
    clock = FakeClock(frame.item(99, "ts") + TIMEFRAME.duration)
    model = load_for_session(engine, run_id)
    trader = PaperTrader(cfg, engine=engine, lake=lake, clock=clock, model=model,
                         broker=SimulatedBroker(cash=cfg.capital, fee_bps=5, slippage_bps=1))

    async def go() -> None:
        await trader.start()
        for row in frame.tail(100).iter_slices(1):
            lake.upsert(row, source="fake", timeframe=TIMEFRAME)
            clock.set(row.item(0, "ts") + TIMEFRAME.duration)
            await trader.step()

    asyncio.run(go())


@SERVER
def test_paper_ls_status_and_parity_read_the_store_and_a_changed_bar_halts(
        cli: Any, raytrade_env: Path, engine: Engine, database_url: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAYTRADE_DATABASE_URL", database_url)
    lake = Lake(Settings().lake_dir)
    _trade(engine, lake, promoted_run(engine, tmp_path))

    listed = cli("paper", "ls", "--json")
    assert listed.code == 0, listed.err
    [row] = json.loads(listed.out)
    assert (row["name"], row["status"]) == ("cli-session", "running")
    status = cli("paper", "status", "cli-session", "--json")
    assert status.code == 0, status.err
    [report] = json.loads(status.out)
    assert report["decisions"] == 101 and report["expected"]["sharpe"] is not None
    table = cli("paper", "status")
    assert table.code == 0 and "backtest (test)" in table.out and "Sharpe" in table.out

    clean = cli("paper", "parity", "cli-session", "--json")
    assert clean.code == 0, clean.err
    assert json.loads(clean.out) | {"first_bar": None} == {
        "ok": True, "checked": 101, "mismatches": 0, "max_abs_diff": 0.0, "first_bar": None,
        "first_feature": None}

    key = PartitionKey("fake", TIMEFRAME, SYMBOL)
    stored = lake.scan(key).collect().sort("ts")
    k = stored.height - 30  # a bar the session decided on, changed after the fact
    lake.upsert(stored.slice(k, 1).with_columns(close=pl.col("close") * 1.01,
                                                high=pl.col("high") * 1.01),
                source="fake", timeframe=TIMEFRAME)
    caught = cli("paper", "parity", "cli-session")
    assert caught.code == 1 and "differ from the batch path" in caught.out
    session = store.get_session(engine, "cli-session")
    assert session is not None and session.status.value == "halted"
    assert "parity" in (session.halt_reason or "")
    assert [f.kind for f in store.flags(engine, session.id)] == ["parity"]


def test_paper_start_without_a_cluster_says_how_to_start_one(
        cli: Any, raytrade_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    file = tmp_path / "session.yaml"
    file.write_text(yaml.safe_dump(session_file("s", 1, SYMBOL).model_dump(mode="json")))
    result = cli("paper", "start", str(file))
    assert result.code != 0 and "raytrade paper run FILE" in result.err

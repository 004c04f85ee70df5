"""A paper session as a detached Ray actor trading on a fake Binance spot venue over loopback,
the real store and a real local Ray: killed mid-stream (by Ray, and by SIGKILL of its worker),
it is restarted, reconciles with the venue and trades on, with no order placed twice, every
bar decided exactly once and its position equal to the venue's."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import ray
from paper_harness import TIMEFRAME, bars, promoted_run, session_file
from pydantic import SecretStr
from sqlalchemy import Engine

from raytrade.data.lake import Lake
from raytrade.runtime.local import NAMESPACE, shutdown, start_local
from raytrade.runtime.paper import start_session, stop_session
from raytrade.store import paper as store
from raytrade.venues import BinanceTradingVenue, running

SERVER = pytest.mark.parametrize("database_url", ["server"], indirect=True)
SYMBOL = "BTC-USDT"
KEYS = {"RAYTRADE_BINANCE_API_KEY": "fakeBinanceKey",
        "RAYTRADE_BINANCE_API_SECRET": "fakeBinanceSecret"}
SEEDED, LIVE = 100, 160
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str,
             explain: Callable[[], Any] = lambda: "", timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.1)
    pytest.fail(f"waited {timeout:g} s for {what} {explain()}")


@pytest.fixture(scope="module")
def ray_with_keys() -> Iterator[None]:
    """A local cluster whose workers hold the venue's keys in their environment (where a
    session reads them), never in an actor's arguments."""
    saved = {k: os.environ.get(k) for k in KEYS}
    os.environ.update(KEYS)
    start_local(num_cpus=2)
    yield
    shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def decided(engine: Engine, session_id: int) -> list[Any]:
    return store.decisions(engine, session_id)


def restarted_status(handle: Any, old_pid: int) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = ray.get(handle.status.remote(), timeout=10)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return None
    return status if status["pid"] != old_pid else None


@SERVER
@pytest.mark.parametrize("kill", ["ray_kill", "sigkill"])
def test_a_session_killed_mid_stream_resumes_with_no_duplicate_order(
        kill: str, ray_with_keys: None, engine: Engine, database_url: str,
        tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    newest = datetime.now(UTC).replace(second=0, microsecond=0) - TIMEFRAME.duration
    frame = bars(SYMBOL, SEEDED + LIVE, end=newest)
    lake = Lake(tmp_path / "lake")
    name = f"actor-{kill.replace('_', '-')}"
    with running(BinanceTradingVenue(balances={"USDT": 1_000_000.0})) as venue:
        venue.set_price(SYMBOL, frame.item(SEEDED - 1, "close"))
        lake.upsert(frame.head(SEEDED), source="fake", timeframe=TIMEFRAME)
        cfg = session_file(name, run_id, SYMBOL,
                           broker={"kind": "binance", "base_url": venue.base_url})
        actor = start_session(cfg, database_url=SecretStr(database_url), lake_root=lake.root,
                              poll_seconds=0.05)
        try:
            handle: Any = ray.get_actor(actor, namespace=NAMESPACE)
            first: dict[str, Any] = ray.get(handle.status.remote(), timeout=60)
            assert first["running"] and not first["restarted"], first
            session = store.get_session(engine, name)
            assert session is not None
            killed = None
            for k, row in enumerate(frame.tail(LIVE).iter_slices(1)):
                venue.set_price(SYMBOL, row.item(0, "close"))  # the venue trades at the bar
                lake.upsert(row, source="fake", timeframe=TIMEFRAME)
                if k == LIVE // 3:
                    wait_for(lambda: len(decided(engine, session.id)) > LIVE // 4,
                             "the session to trade a while before the kill",
                             lambda: ray.get(handle.status.remote(), timeout=30))
                    if kill == "ray_kill":
                        ray.kill(handle, no_restart=False)
                    else:
                        os.kill(first["pid"], signal.SIGKILL)
                    killed = k
                time.sleep(0.03)
            assert killed is not None
            after = wait_for(lambda: restarted_status(handle, first["pid"]),
                             "the killed session to be restarted")
            assert after["restarted"] and after["error"] is None and after["running"], after
            last = frame.item(-1, "ts")
            wait_for(lambda: (d := decided(engine, session.id)) and d[-1].bar_time == last,
                     "the restarted session to decide the last bar")
            status: dict[str, Any] = ray.get(handle.status.remote(), timeout=60)
        finally:
            with suppress(Exception):
                stop_session(name)
            with suppress(ValueError):
                ray.kill(ray.get_actor(actor, namespace=NAMESPACE), no_restart=True)
        orders = store.orders(engine, session.id)
        placed = {o.client_order_id: venue.placed(o.client_order_id) for o in orders}
        held = venue.ledger.balance("BTC")

    decisions = decided(engine, session.id)
    times = [d.bar_time for d in decisions]
    assert times == sorted(frame.tail(LIVE + 1)["ts"].to_list())  # each bar once, none lost
    assert len(orders) >= 2, "the session hardly traded: the kill proves nothing"
    assert all(n <= 1 for n in placed.values()), placed  # no order placed twice
    assert sum(placed.values()) == sum(o.status != "canceled" for o in orders)
    assert {o.client_order_id for o in orders} == {i for d in decisions for i in d.order_ids}
    side = (held > 0) - (held < 0)
    assert status["position"] == side  # the session holds what the venue says it holds
    assert status["decisions"] == len(decisions) and status["status"] == "running"

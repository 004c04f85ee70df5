"""Paper sessions as named, detached Ray actors with restarts (`paper:<name>`).

The actor runs `live.trader.PaperTrader` on a thread of its own, started in `__init__`, so a
restarted actor (after a crash, `ray.kill(..., no_restart=False)` or SIGKILL of its worker)
starts again by itself: it replays the store and reconciles with the broker before trading. A
driver script reaches one with `ray.get_actor("paper:<name>", namespace="raytrade")` and calls
`status`, `parity`, `halt` or `stop`. Keys come from the worker's environment, never from the
actor's arguments (the dashboard shows those).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ray
from pydantic import SecretStr

from raytrade.config.session import SessionConfig
from raytrade.config.settings import Settings
from raytrade.core.clock import SystemClock
from raytrade.data.lake import Lake
from raytrade.live.brokers.factory import build_broker
from raytrade.live.report import session_report
from raytrade.live.trader import PaperTrader, load_for_session
from raytrade.runtime.local import NAMESPACE
from raytrade.store.session import make_engine

PREFIX = "paper:"
T = TypeVar("T")


def session_actor_name(name: str) -> str:
    return f"{PREFIX}{name}"


def build_trader(cfg: SessionConfig, *, database_url: SecretStr, lake_root: Path,
                 settings: Settings) -> PaperTrader:
    """Return the plain trader of a session file (no Ray): model checked, broker built."""
    engine = make_engine(database_url.get_secret_value())
    model = load_for_session(engine, cfg.model.run_id)
    costs = model.experiment.costs
    broker = build_broker(cfg.broker, settings, capital=cfg.capital, symbol=cfg.bars.symbol,
                          fee_bps=costs.fee_bps, slippage_bps=costs.slippage_bps)
    return PaperTrader(cfg, engine=engine, lake=Lake(lake_root), broker=broker,
                       clock=SystemClock(), model=model)


class PaperActor:
    """The actor's body: the trader's loop on its own thread; calls from outside run on that
    loop, so they never race a bar in progress."""

    def __init__(self, cfg_json: str, database_url: SecretStr, lake_root: str,
                 poll_seconds: float = 1.0) -> None:
        os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one bar at a time: no pool to wake
        self._cfg = SessionConfig.model_validate_json(cfg_json)
        self._trader = build_trader(self._cfg, database_url=database_url,
                                    lake_root=Path(lake_root), settings=Settings())
        self._error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, args=(poll_seconds,),
                                        name="paper-session", daemon=True)
        self._thread.start()

    def _run(self, poll_seconds: float) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._trader.run(self._stop, poll_seconds))
        except Exception as exc:  # a permanent error: kept for `status`, the loop ends
            self._error = "".join(traceback.format_exception_only(exc)).strip()

    def _on_loop(self, call: Callable[[], T]) -> T:
        if not self._thread.is_alive():
            return call()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(call())
            except Exception as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=120)

    def status(self) -> dict[str, Any]:
        """Return the stored report (PnL, trades, Sharpe next to the backtest's, flags) and
        the process: whether the loop runs, its error, PID, whether Ray restarted it."""
        trader = self._trader
        report = session_report(trader.engine, self._cfg.name).as_dict()
        drift = trader.drift_state
        report |= {
            "running": self._thread.is_alive(), "error": self._error, "pid": os.getpid(),
            "restarted": bool(ray.get_runtime_context().was_current_actor_reconstructed),
            "position": trader.session.position,
            "drift_statistic": None if drift is None else drift.statistic,
        }
        return report

    def parity(self, last: int | None = None) -> dict[str, Any]:
        """Check parity now over the last `last` decisions (all when None); halts on a
        mismatch."""
        report = self._on_loop(lambda: self._trader.check_parity(last))
        return {"ok": report.ok, "checked": report.checked, "mismatches": report.mismatches,
                "max_abs_diff": report.max_abs_diff, "describe": report.describe()}

    def halt(self, reason: str) -> None:
        """Stop sending orders (positions are kept); the reason goes to the store."""
        self._on_loop(lambda: self._trader.halt(reason))

    def stop(self) -> bool:
        """Stop trading after the current bar (the actor stays until killed)."""
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        return not self._thread.is_alive()


def start_session(cfg: SessionConfig, *, database_url: SecretStr, lake_root: Path,
                  poll_seconds: float = 1.0) -> str:
    """Start (or find running) the session's detached actor; return its name. The model is
    checked here first, so a bad model fails this call rather than an actor's restarts."""
    engine = make_engine(database_url.get_secret_value())
    try:
        load_for_session(engine, cfg.model.run_id)
    finally:
        engine.dispose()
    name = session_actor_name(cfg.name)
    actor: Any = ray.remote(PaperActor)
    handle = actor.options(name=name, namespace=NAMESPACE, lifetime="detached",
                           get_if_exists=True, max_restarts=-1, max_task_retries=0,
                           num_cpus=0).remote(cfg.canonical_json(), database_url,
                                              str(lake_root), poll_seconds)
    ray.get(handle.__ray_ready__.remote(), timeout=300)
    return name


def session_actors() -> list[str]:
    """Return the names of the paper-session actors alive in the namespace."""
    from ray.util import list_named_actors

    return sorted(a["name"] for a in list_named_actors(all_namespaces=True)
                  if a.get("namespace") == NAMESPACE and a["name"].startswith(PREFIX))


def session_handle(name: str) -> Any:
    return ray.get_actor(session_actor_name(name.removeprefix(PREFIX)), namespace=NAMESPACE)


def halt_session(name: str, reason: str) -> None:
    ray.get(session_handle(name).halt.remote(reason), timeout=120)


def stop_session(name: str) -> None:
    handle = session_handle(name)
    ray.get(handle.stop.remote(), timeout=120)
    ray.kill(handle, no_restart=True)


__all__ = ["PaperActor", "build_trader", "halt_session", "session_actor_name", "session_actors",
           "session_handle", "start_session", "stop_session"]

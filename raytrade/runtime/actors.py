"""Collectors as named, detached Ray actors with restarts (DESIGN.md section 6).

An actor runs its collector on a thread of its own, started in `__init__`, so a restarted
actor (after a crash or `ray.kill(..., no_restart=False)`) resumes by itself from the
watermark in the store. A driver script reaches one with
`ray.get_actor("collector:binance:BTC-USD:1m", namespace="raytrade")`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import ray
from pydantic import SecretStr

from raytrade.config.collect import CollectConfig
from raytrade.config.settings import Settings
from raytrade.core.clock import SystemClock
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.collector import Collector
from raytrade.runtime.local import NAMESPACE
from raytrade.sources.base import MarketDataSource
from raytrade.sources.registry import SourceOptions, build_source
from raytrade.store.market import watermark
from raytrade.store.session import make_engine


def collector_name(source: str, symbol: str, timeframe: str) -> str:
    return f"collector:{source}:{symbol}:{timeframe}"


def build_collector(cfg: CollectConfig, symbol: str, *, database_url: SecretStr,
                    lake_root: Path, settings: Settings) -> Collector:
    """Return the plain collector of one symbol of a collector file."""
    source: MarketDataSource = build_source(cfg.source, settings, SourceOptions(
        base_url=str(cfg.base_url) if cfg.base_url else None))
    return Collector(source, PartitionKey(cfg.source, cfg.timeframe, symbol),
                     lake=Lake(lake_root), engine=make_engine(database_url.get_secret_value()),
                     clock=SystemClock(), start=cfg.start_time(),
                     settle=timedelta(seconds=cfg.settle_seconds),
                     max_window_bars=cfg.max_window_bars)


class CollectorActor:
    """The actor's body: a collector loop on its own thread; `status` and `stop` from outside.
    Credentials come from the environment of the worker (the `ray start` that began the node),
    never from the actor's arguments, which the dashboard shows."""

    def __init__(self, cfg_json: str, symbol: str, database_url: SecretStr,
                 lake_root: str) -> None:
        cfg = CollectConfig.model_validate_json(cfg_json)
        self._collector = build_collector(cfg, symbol, database_url=database_url,
                                          lake_root=Path(lake_root), settings=Settings())
        self._error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._collector.run(self._stop))
        except Exception as exc:  # a permanent error: kept for `status`, the loop ends
            self._error = "".join(traceback.format_exception_only(exc)).strip()

    def status(self) -> dict[str, Any]:
        """Return the partition, whether the loop runs, its watermark, the worker's PID and
        whether Ray has restarted this actor (after a crash or a kill with restart)."""
        key = self._collector.key
        return {"source": key.source, "symbol": key.symbol, "timeframe": str(key.timeframe),
                "running": self._thread.is_alive(), "error": self._error,
                "watermark": str(watermark(self._collector.engine, key) or ""),
                "pid": os.getpid(),
                "restarted": bool(ray.get_runtime_context().was_current_actor_reconstructed)}

    def stop(self) -> bool:
        """Stop collecting (the actor stays until killed); return whether it had stopped."""
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        return not self._thread.is_alive()


def start_collectors(cfg: CollectConfig, *, database_url: SecretStr,
                     lake_root: Path) -> list[str]:
    """Start (or find running) one detached collector actor per symbol; return their names."""
    actor: Any = ray.remote(CollectorActor)
    names = []
    for symbol in cfg.symbols:
        name = collector_name(cfg.source, symbol, str(cfg.timeframe))
        actor.options(name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                      max_restarts=-1, num_cpus=0).remote(
            cfg.canonical_json(), symbol, database_url, str(lake_root))
        names.append(name)
    return names


def collector_actors() -> list[str]:
    """Return the names of the collector actors alive in the namespace."""
    from ray.util import list_named_actors

    return sorted(a["name"] for a in list_named_actors(all_namespaces=True)
                  if a.get("namespace") == NAMESPACE and a["name"].startswith("collector:"))


def stop_collector(name: str) -> None:
    handle = ray.get_actor(name, namespace=NAMESPACE)
    ray.get(handle.stop.remote(), timeout=60)
    ray.kill(handle, no_restart=True)

"""Collectors against a fake Binance on loopback, the real store and a real local Ray: a collector
actor killed mid-run (by Ray, or by SIGKILL of its worker) is restarted and resumes from its
watermark with no bar lost or duplicated; `raytrade collect` reports the store's watermarks,
refuses to start actors without a cluster, and collects in the foreground until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import ray
import yaml
from polars.testing import assert_frame_equal
from pydantic import SecretStr
from sqlalchemy import Engine

from raytrade.config.collect import CollectConfig
from raytrade.core.clock import SystemClock
from raytrade.core.types import AssetClass, Timeframe
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.collector import closed_before
from raytrade.runtime.actors import start_collectors, stop_collector
from raytrade.runtime.local import NAMESPACE, shutdown, start_local
from raytrade.store.market import advance_watermark, collector_states, watermark
from raytrade.venues import BinanceVenue, FaultKind, FaultPlan, running

SERVER = pytest.mark.parametrize("database_url", ["server"], indirect=True)
SETTLE_S = 1.0
SPAN = timedelta(hours=4)  # how far behind the actor starts: 240 one-minute bars
EARLIER = timedelta(hours=1)  # what an earlier run left in the lake before that
WINDOW_BARS = 10  # so catching up takes 24 steps
# Nine klines requests in ten are slowed (0.2 s), refused (429, Retry-After 1 s) or fail with a
# 5xx, so the 24 steps take seconds rather than milliseconds and the kill lands mid-run.
PACED = FaultPlan(seed=11, rates={FaultKind.SLOW: 0.7, FaultKind.SERVER_ERROR: 0.1,
                                  FaultKind.RATE_LIMIT: 0.1}, retry_after_s=1, slow_s=0.2)
POLL_S = 0.1
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 90.0) -> T:
    """Poll `probe` until it returns something truthy; fail saying `what` never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(POLL_S)
    pytest.fail(f"waited {timeout:g} s for {what}")


def last_closed_minute() -> datetime:
    """Return the open time of the newest bar a collector may ask for now."""
    now = SystemClock().now() - timedelta(seconds=SETTLE_S)
    return closed_before(now, Timeframe.M1, AssetClass.CRYPTO)


def watermark_at(engine: Engine, key: PartitionKey, mark: datetime) -> datetime | None:
    """Return the stored watermark once it has reached `mark`."""
    stored = watermark(engine, key)
    return stored if stored is not None and stored >= mark else None


def collect_file(venue: BinanceVenue, symbol: str, start: date, **extra: Any) -> dict[str, Any]:
    return {"name": "test-collect", "source": "binance", "base_url": venue.base_url,
            "symbols": [symbol], "timeframe": "1m", "start": start.isoformat(),
            "settle_seconds": SETTLE_S, **extra}


def start_time(path: str) -> datetime:
    """Return the startTime a klines request asked for."""
    ms = int(parse_qs(urlsplit(path).query)["startTime"][0])
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    start_local(num_cpus=2)
    yield
    shutdown()


@pytest.fixture
def actors(ray_local: None, engine: Engine) -> Iterator[list[str]]:
    """Names of the collector actors a test started; they are detached, so each is stopped and
    killed here, before the test's database is dropped."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            stop_collector(name)
        except Exception:  # wedged, or already gone: kill it without a restart if it is there
            with suppress(ValueError):
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)


def restarted_status(handle: Any, old_pid: int) -> dict[str, Any] | None:
    """Return the actor's status once a worker other than `old_pid` answers."""
    try:
        status: dict[str, Any] = ray.get(handle.status.remote(), timeout=10)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return None  # dead, or restarting: ask again
    return status if status["pid"] != old_pid else None


@SERVER
@pytest.mark.parametrize(("kill", "symbol"), [("ray_kill", "BTC-USDT"), ("sigkill", "ETH-USDT")])
def test_a_collector_actor_killed_mid_run_resumes_from_its_watermark_losing_nothing(
        kill: str, symbol: str, engine: Engine, database_url: str, actors: list[str],
        tmp_path: Path) -> None:
    key = PartitionKey("binance", Timeframe.M1, symbol)
    lake = Lake(tmp_path / "lake")
    with running(BinanceVenue(faults=PACED)) as venue:
        # `start` is a UTC day, so the partition is left as an earlier run would have left it:
        # an hour of bars and the watermark a few hours back. `start` is the day before, so an
        # actor that restarted from `start` instead of the watermark would add bars the truth
        # below does not have.
        seed = last_closed_minute() - SPAN
        earlier = venue.truth(symbol, Timeframe.M1, seed - EARLIER, seed)
        lake.upsert(earlier, source="binance", timeframe=Timeframe.M1)
        advance_watermark(engine, key, seed, earlier.height)
        cfg = CollectConfig.model_validate(collect_file(
            venue, symbol, (seed - timedelta(days=1)).date(), max_window_bars=WINDOW_BARS))
        [name] = start_collectors(cfg, database_url=SecretStr(database_url),
                                  lake_root=lake.root)
        actors.append(name)
        handle: Any = ray.get_actor(name, namespace=NAMESPACE)
        first: dict[str, Any] = ray.get(handle.status.remote(), timeout=60)
        assert first["running"] and not first["restarted"], first

        part_way = wait_for(lambda: watermark_at(engine, key, seed + SPAN * 0.4),
                            "the watermark to pass 40% of the way")
        assert part_way < last_closed_minute() - timedelta(minutes=WINDOW_BARS), \
            "the actor caught up before it was killed: the kill proves nothing"
        if kill == "ray_kill":
            ray.kill(handle, no_restart=False)
        else:
            os.kill(first["pid"], signal.SIGKILL)
        after = wait_for(lambda: restarted_status(handle, first["pid"]),
                         "the killed actor to be restarted")
        assert after["running"] and after["restarted"] and after["error"] is None, after

        target = last_closed_minute()
        wait_for(lambda: watermark_at(engine, key, target),
                 "the watermark to reach the last closed minute")
        assert ray.get(handle.stop.remote(), timeout=60)
        [state] = collector_states(engine)
        stored = lake.scan(key).collect()
        truth = venue.truth(symbol, Timeframe.M1, seed - EARLIER, state.watermark)
        klines = venue.requests("klines")
        refused = venue.faults(FaultKind.RATE_LIMIT) + venue.faults(FaultKind.SERVER_ERROR)

    assert not stored["ts"].is_duplicated().any()
    assert_frame_equal(stored.sort("ts"), truth)  # nothing lost, nothing extra
    assert truth.height >= (SPAN + EARLIER) / timedelta(minutes=1)
    assert state.bars_written == stored.height
    assert refused, "no request was refused: the retries went untested"
    starts = [start_time(r.path) for r in klines]
    # Each step asks again for a few bars before its watermark (vendors revise their newest
    # bars), never for the hour before it: no incarnation began from `start`.
    assert seed - timedelta(minutes=WINDOW_BARS) <= min(starts) <= seed
    # A window is served twice only when the kill fell between its answer and its watermark.
    answered = Counter(s for s, r in zip(starts, klines, strict=True) if r.status == 200)
    assert sum(n - 1 for n in answered.values()) <= 1, answered.most_common(3)


@SERVER
def test_collect_status_lists_each_partition_with_its_watermark(
        cli: Any, raytrade_env: Path, engine: Engine, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTRADE_DATABASE_URL", database_url)
    mark = datetime(2024, 3, 14, 12, 34, tzinfo=UTC)
    advance_watermark(engine, PartitionKey("binance", Timeframe.M1, "BTC-USDT"), mark, 754)

    as_json = cli("collect", "status", "--json")
    assert as_json.code == 0, as_json.err
    [row] = json.loads(as_json.out)
    assert (row["source"], row["symbol"], row["timeframe"]) == ("binance", "BTC-USDT", "1m")
    assert datetime.fromisoformat(row["watermark"]) == mark and row["bars_written"] == 754
    table = cli("collect", "status")
    assert table.code == 0, table.err
    # The table is for people (its cells fold at 80 columns); --json carries the exact values.
    assert "BTC-USDT" in table.out and "754" in table.out


def test_collect_start_without_a_cluster_says_how_to_start_one(
        cli: Any, raytrade_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    file = tmp_path / "collect.yaml"
    file.write_text(yaml.safe_dump({"name": "c", "source": "binance", "symbols": ["BTC-USDT"],
                                    "timeframe": "1m", "start": "2024-01-01"}))
    result = cli("collect", "start", str(file))
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert "ray start --head" in said and "--address" in said
    assert "raytrade collect run" in said and "Traceback" not in said


@SERVER
def test_collect_run_collects_in_the_foreground_until_interrupted(
        engine: Engine, database_url: str, tmp_path: Path) -> None:
    symbol = "SOL-USDT"
    key = PartitionKey("binance", Timeframe.M1, symbol)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAYTRADE_", "RAY_ADDRESS"))}
    env |= {"RAYTRADE_HOME": str(home), "RAYTRADE_DATABASE_URL": database_url}
    raytrade = Path(sys.executable).with_name("raytrade")
    with running(BinanceVenue()) as venue:
        start = (SystemClock().now() - timedelta(days=1)).date()  # a day and some of bars
        file = tmp_path / "collect.yaml"
        file.write_text(yaml.safe_dump(collect_file(venue, symbol, start)))
        proc = subprocess.Popen([str(raytrade), "collect", "run", str(file)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            target = last_closed_minute()
            wait_for(lambda: proc.poll() is not None or watermark_at(engine, key, target),
                     "the foreground collector to catch up")
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        [state] = collector_states(engine)
        truth = venue.truth(symbol, Timeframe.M1, datetime.combine(start, datetime.min.time(),
                                                                   UTC), state.watermark)

    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert "stopped" in err
    stored = Lake(home / "lake").scan(key).collect()
    assert_frame_equal(stored.sort("ts"), truth)
    assert state.bars_written == stored.height > 24 * 60

"""Injected faults: drawn at the configured rates, deterministic for a seed, visible to a
client exactly where the fault log says, and recorded with what, when and which request."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from venue_contracts import NOW, clock

from raytrade.core.types import Timeframe
from raytrade.venues import (
    BinanceVenue,
    CoinGeckoVenue,
    FaultKind,
    FaultPlan,
    GeckoTerminalVenue,
    MassiveVenue,
    Venue,
)
from raytrade.venues.faults import RATE_KINDS

SLOW_S, TIMEOUT_S, RETRY_AFTER_S = 0.02, 0.04, 3
ASKED = 120
Row = str  # a served row, as its JSON text: comparable and hashable


@dataclass(frozen=True)
class Probe:
    """One venue, one bar request, and how a client reads the answer."""

    make: Callable[[FaultPlan], Venue]
    endpoint: str
    path: Callable[[Any], str]
    params: dict[str, str]
    rows: Callable[[Any], list[Any]]
    extra: Callable[[Any], bool]
    headers: dict[str, str]


PROBES = {
    "massive": Probe(
        lambda plan: MassiveVenue(faults=plan, clock=clock(), api_key="k"), "aggs",
        lambda v: v.base_url + "/v2/aggs/ticker/AAPL/range/1/minute/2024-03-12/2024-03-12",
        {"limit": "150"}, lambda body: body.get("results", []),
        lambda body: any("z" in r for r in body.get("results", [])),
        {"Authorization": "Bearer k"}),
    "binance": Probe(
        lambda plan: BinanceVenue(faults=plan, clock=clock()), "klines",
        lambda v: v.api_url + "/v3/klines", {"symbol": "BTCUSDT", "interval": "1m",
                                             "limit": "150"},
        lambda body: body, lambda body: any(len(r) == 13 for r in body), {}),
    "coingecko": Probe(
        lambda plan: CoinGeckoVenue(faults=plan, clock=clock(), api_key="k"), "market_chart",
        lambda v: v.api_root + "/coins/bitcoin/market_chart", {"vs_currency": "usd",
                                                               "days": "1"},
        lambda body: body["prices"], lambda body: "total_supply" in body,
        {"x-cg-demo-api-key": "k"}),
    "geckoterminal": Probe(
        lambda plan: GeckoTerminalVenue(faults=plan, clock=clock(), calls_per_minute=None),
        "ohlcv", lambda v: v.api_root + "/networks/{}/pools/{}/ohlcv/minute".format(
            v.pools["ETH-USD"].network, v.pools["ETH-USD"].address), {"limit": "150"},
        lambda body: body["data"]["attributes"]["ohlcv_list"],
        lambda body: "currency" in body["data"]["attributes"], {}),
}


@dataclass
class Seen:
    """What the client saw of one answer."""

    status: int
    elapsed: float
    retry_after: str | None
    text: str
    body: Any = None


def plan_for(venue_kinds: frozenset[FaultKind], seed: int = 21) -> FaultPlan:
    return FaultPlan(seed=seed, rates={k: 0.08 for k in RATE_KINDS if k in venue_kinds},
                     retry_after_s=RETRY_AFTER_S, slow_s=SLOW_S, timeout_s=TIMEOUT_S)


async def _ask(probe: Probe, plan: FaultPlan, times: int) -> tuple[Venue, list[Seen]]:
    seen = []
    async with probe.make(plan) as venue, aiohttp.ClientSession(headers=probe.headers) as s:
        for _ in range(times):
            began = time.perf_counter()
            async with s.get(probe.path(venue), params=probe.params) as resp:
                text = await resp.text()
                seen.append(Seen(resp.status, time.perf_counter() - began,
                                 resp.headers.get("Retry-After"), text))
    for one in seen:
        try:
            one.body = json.loads(one.text)
        except ValueError:
            one.body = None
    return venue, seen


def observed(seen: Seen, baseline: list[Row], probe: Probe) -> FaultKind | None:
    """Return the fault a careful client can tell from the answer alone."""
    if seen.status != 200:
        return {429: FaultKind.RATE_LIMIT, 418: FaultKind.BAN}.get(seen.status,
                                                                   FaultKind.SERVER_ERROR)
    if seen.body is None:
        return FaultKind.INVALID_JSON if seen.text.startswith("<") else FaultKind.TRUNCATED_JSON
    if probe.extra(seen.body):
        return FaultKind.EXTRA_FIELD
    rows = [json.dumps(r) for r in probe.rows(seen.body)]
    if rows == baseline:
        return None
    if len(rows) > len(baseline):
        return FaultKind.DUPLICATE_ROWS
    return FaultKind.OUT_OF_ORDER if sorted(rows) == sorted(baseline) else FaultKind.REVISED_BAR


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_injected_fault_is_what_the_client_sees_and_follows_the_seeded_draws(
        name: str) -> None:
    probe = PROBES[name]
    plan = plan_for(probe.make(FaultPlan()).kinds)
    venue, seen = asyncio.run(_ask(probe, plan, ASKED))
    logged = {f.seq: f for f in venue.faults() if f.kind in RATE_KINDS}
    clean = next(s for i, s in enumerate(seen) if i not in logged)
    baseline = [json.dumps(r) for r in probe.rows(clean.body)]
    assert len(baseline) >= 40
    applicable = venue.kinds  # every kind this venue can show applies to a bar endpoint
    for i, answer in enumerate(seen):
        drawn = plan.draw(probe.endpoint, i, applicable)[0]
        record = logged.get(i)
        assert (record.kind if record else None) == drawn, f"request {i}: log != seeded draw"
        if drawn in (FaultKind.SLOW, FaultKind.TIMEOUT):
            assert observed(answer, baseline, probe) is None
            assert answer.elapsed >= (SLOW_S if drawn is FaultKind.SLOW else TIMEOUT_S)
            continue
        assert observed(answer, baseline, probe) == drawn, f"request {i}"
        if drawn in (FaultKind.RATE_LIMIT, FaultKind.BAN):
            assert answer.retry_after == str(RETRY_AFTER_S)
    counts = Counter(f.kind for f in logged.values())
    assert set(counts) == set(plan.rates), f"every kind happened at least once: {counts}"
    expected = ASKED * sum(plan.rates.values())
    assert abs(len(logged) - expected) <= 4 * math.sqrt(expected) + 1


def test_fault_draws_follow_the_configured_rates_and_the_seed() -> None:
    draws = 20_000
    kinds = frozenset(RATE_KINDS)
    spread = FaultPlan(seed=5, rate=0.44)  # 0.04 for each of 11 kinds
    counts = Counter(spread.draw("klines", i, kinds)[0] for i in range(draws))
    for kind in RATE_KINDS:
        assert abs(counts[kind] - draws * 0.04) <= 4 * math.sqrt(draws * 0.04 * 0.96), kind
    assert abs(counts[None] - draws * 0.56) <= 4 * math.sqrt(draws * 0.56 * 0.44)
    without_ban = Counter(spread.draw("aggs", i, kinds - {FaultKind.BAN})[0] for i in
                          range(draws))
    assert FaultKind.BAN not in without_ban and abs(without_ban[FaultKind.SLOW] - 880) < 120
    same = [spread.draw("klines", i, kinds)[0] for i in range(200)]
    assert same == [FaultPlan(seed=5, rate=0.44).draw("klines", i, kinds)[0] for i in range(200)]
    assert same != [FaultPlan(seed=6, rate=0.44).draw("klines", i, kinds)[0] for i in range(200)]
    targeted = FaultPlan(rates={FaultKind.SLOW: 0.1},
                         endpoints={"ping": {FaultKind.SERVER_ERROR: 0.5}})
    ping = Counter(targeted.draw("ping", i, kinds)[0] for i in range(2000))
    assert set(ping) == {None, FaultKind.SERVER_ERROR} and 900 < ping[None] < 1100


@pytest.mark.parametrize("bad", [
    {"rates": {FaultKind.SLOW: 0.6, FaultKind.BAN: 0.6}},
    {"rates": {FaultKind.OUTAGE: 0.1}},
    {"rate": 0.1, "rates": {FaultKind.SLOW: 0.1}},
    {"outages": {"BTC-USD": [(NOW, NOW)]}},
    {"outages": {"BTC-USD": [(NOW.replace(tzinfo=None), NOW.replace(tzinfo=None, hour=3))]}},
])
def test_impossible_fault_plans_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FaultPlan(**bad)


def test_a_revised_bar_is_served_provisional_once_then_final_as_the_truth() -> None:
    kinds = frozenset(RATE_KINDS) - {FaultKind.BAN}
    seed = next(s for s in range(1000) if [
        FaultPlan(seed=s, rates={FaultKind.REVISED_BAR: 0.5}).draw("aggs", i, kinds)[0]
        for i in range(2)] == [FaultKind.REVISED_BAR, None])
    plan = FaultPlan(seed=seed, rates={FaultKind.REVISED_BAR: 0.5})
    venue, (first, second) = asyncio.run(_ask(PROBES["massive"], plan, 2))
    (record,) = venue.faults(FaultKind.REVISED_BAR)
    changed = [(a, b) for a, b in zip(first.body["results"], second.body["results"],
                                      strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0]["t"] == record.detail["ts_ms"]
    provisional, final = changed[0]
    assert provisional["c"] == pytest.approx(final["c"] * float(record.detail["factor"]))
    assert final["t"] == max(r["t"] for r in first.body["results"]), "the newest closed bar"
    truth = venue.truth("AAPL", Timeframe.M1, NOW.replace(day=12, hour=4), NOW)
    assert truth.filter(truth["ts"].dt.epoch("ms") == final["t"])["close"].item() == final["c"]


def test_a_timeout_outlasts_the_client_and_the_log_says_what_when_and_which_request() -> None:
    plan = FaultPlan(endpoints={"aggs": {FaultKind.TIMEOUT: 1.0}}, timeout_s=30.0)

    async def run() -> tuple[Venue, float]:
        venue = MassiveVenue(faults=plan, clock=clock(), api_key="k")
        await venue.start()
        timeout = aiohttp.ClientTimeout(total=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(TimeoutError):
                await session.get(venue.base_url + "/v2/aggs/ticker/AAPL/range/1/minute/"
                                  "2024-03-12/2024-03-12?apiKey=k")
        began = time.perf_counter()
        await venue.stop()  # does not wait out the 30 s delay
        return venue, time.perf_counter() - began

    venue, stopping = asyncio.run(run())
    (record,) = venue.faults()
    assert stopping < 5
    assert (record.seq, record.endpoint, record.kind, record.at) == (
        0, "aggs", FaultKind.TIMEOUT, NOW)
    assert record.path == ("/v2/aggs/ticker/AAPL/range/1/minute/2024-03-12/2024-03-12"
                           "?apiKey=***") and record.detail == {"delay_s": 30.0}
    assert [r.status for r in venue.requests()] == [-1], "the client left before the answer"

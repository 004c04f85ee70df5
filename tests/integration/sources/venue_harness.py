"""Shared pieces of the adapter-against-fake-venue tests: a fixed clock, fast retry policies
with recorded (not slept) waits, fault plans, and the comparison with the venue's truth."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from raytrade.core.clock import FakeClock
from raytrade.sources.retry import RateLimit, RetryPolicy
from raytrade.venues import FaultKind, FaultPlan, Venue

NOW = datetime(2024, 3, 14, tzinfo=UTC)  # a Thursday; the Monday before is after DST began
CLIENT_TIMEOUT_S = 0.5
# Everything a venue injects per request, except revised bars: a revised bar is served with
# its provisional close once and fixed when fetched again (the collector's upsert does that),
# so a single fetch cannot equal the truth under it.
PER_REQUEST = frozenset({
    FaultKind.RATE_LIMIT, FaultKind.BAN, FaultKind.SERVER_ERROR, FaultKind.SLOW,
    FaultKind.TIMEOUT, FaultKind.TRUNCATED_JSON, FaultKind.INVALID_JSON,
    FaultKind.DUPLICATE_ROWS, FaultKind.OUT_OF_ORDER, FaultKind.EXTRA_FIELD})
RETRY_AFTER_S = 1


class SleepRecorder:
    """Stands in for asyncio.sleep in retry policies: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def clock() -> FakeClock:
    return FakeClock(NOW)


def fast_retry(sleep: SleepRecorder, attempts: int = 10) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, initial_delay=0.0, max_delay=0.0, jitter=0.0,
                       retry_after_cap=5.0, timeout=CLIENT_TIMEOUT_S, sleep=sleep)


def fast_rate() -> RateLimit:
    return RateLimit(per_minute=600_000, burst=1000)


def plan(kinds: Iterable[FaultKind], rate: float, seed: int = 7,
         outages: dict[str, list[tuple[datetime, datetime]]] | None = None) -> FaultPlan:
    chosen = list(kinds)
    return FaultPlan(seed=seed, rates={k: rate / len(chosen) for k in chosen},
                     outages=outages or {}, retry_after_s=RETRY_AFTER_S,
                     slow_s=0.05, timeout_s=2 * CLIENT_TIMEOUT_S)


def assert_equals_truth(bars: pl.DataFrame, truth: pl.DataFrame) -> None:
    assert truth.height > 0, "the venue's truth is empty: the test proves nothing"
    assert_frame_equal(bars, truth)


def assert_retry_after_honoured(venue: Venue, sleep: SleepRecorder) -> None:
    """Every 429/418 the venue sent was followed by a wait of at least its Retry-After."""
    refused = [f for f in venue.faults() if f.status in (418, 429)]
    honoured = [w for w in sleep.waits if w >= RETRY_AFTER_S]
    assert len(honoured) >= len(refused), (refused, sleep.waits)

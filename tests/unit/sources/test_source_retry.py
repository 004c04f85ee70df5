"""Retries back off exponentially, honour Retry-After up to a cap, and never retry a
permanent error; rate limits space requests. Sleeps are recorded, not slept."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from raytrade.core.errors import PermanentError, TransientError
from raytrade.sources.base import UnknownSymbolError, VendorUnavailableError
from raytrade.sources.redact import Redactor
from raytrade.sources.retry import RateLimit, RetryPolicy, with_retries

SECRET = "key-abc-123"


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(errors: list[Exception], result: str = "ok") -> tuple[Callable[[], Awaitable[str]],
                                                                   list[int]]:
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result
    return call, calls


def run(call: Callable[[], Awaitable[str]], policy: RetryPolicy,
        progress: Callable[[], int] | None = None) -> str:
    return asyncio.run(with_retries(call, policy=policy, vendor="acme", what="bars of X",
                                    redact=Redactor([SECRET]), progress=progress))


def policy(sleep: Recorder, **kw: float) -> RetryPolicy:
    defaults: dict[str, float] = {"attempts": 4, "initial_delay": 0.1, "max_delay": 0.3,
                                  "jitter": 0.0}
    return RetryPolicy(sleep=sleep, **{**defaults, **kw})  # type: ignore[arg-type]


def test_transient_failures_back_off_exponentially_up_to_the_cap() -> None:
    sleep = Recorder()
    call, calls = failing([VendorUnavailableError("acme", "HTTP 503")] * 3)
    assert run(call, policy(sleep)) == "ok"
    assert calls[0] == 4
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.3])


def test_jitter_adds_at_most_its_bound() -> None:
    sleep = Recorder()
    call, _ = failing([VendorUnavailableError("acme", "timeout")] * 2)
    run(call, policy(sleep, jitter=0.05))
    assert 0.1 <= sleep.waits[0] < 0.15 and 0.2 <= sleep.waits[1] < 0.25


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    sleep = Recorder()
    call, _ = failing([VendorUnavailableError("acme", "HTTP 429", retry_after=2.0),
                       VendorUnavailableError("acme", "HTTP 429", retry_after=0.0)])
    run(call, policy(sleep))
    assert sleep.waits == pytest.approx([2.0, 0.2])


def test_retry_after_beyond_the_cap_surfaces_at_once_instead_of_waiting() -> None:
    sleep = Recorder()
    call, calls = failing([VendorUnavailableError("acme", "HTTP 418 banned", retry_after=900)])
    with pytest.raises(TransientError, match="asks to wait 900 s, longer than the 60 s"):
        run(call, policy(sleep, retry_after_cap=60))
    assert calls[0] == 1 and sleep.waits == []


def test_permanent_error_is_raised_on_the_first_attempt() -> None:
    sleep = Recorder()
    call, calls = failing([UnknownSymbolError("acme", "ZZZ", "check the ticker")])
    with pytest.raises(PermanentError, match="acme cannot serve symbol ZZZ"):
        run(call, policy(sleep))
    assert calls[0] == 1 and sleep.waits == []


def test_exhausted_budget_names_attempts_and_last_failure_without_secrets() -> None:
    sleep = Recorder()
    errors: list[Exception] = [VendorUnavailableError("acme", f"HTTP 503 at ?apiKey={SECRET}")
                               for _ in range(4)]
    call, calls = failing(errors)
    with pytest.raises(VendorUnavailableError) as info:
        run(call, policy(sleep))
    assert calls[0] == 4
    message = str(info.value)
    assert "after 4 failed attempts" in message and "HTTP 503" in message
    assert SECRET not in message and SECRET not in repr(info.value)


def test_progress_resets_the_attempt_budget() -> None:
    sleep = Recorder()
    pages = [0]
    errors = [VendorUnavailableError("acme", "HTTP 502") for _ in range(6)]

    async def call() -> str:
        pages[0] += 1  # every attempt delivers a page before failing
        if errors:
            raise errors.pop(0)
        return "done"
    assert run(call, policy(sleep, attempts=2), progress=lambda: pages[0]) == "done"
    assert sleep.waits == pytest.approx([0.1] * 6)  # each failure is the first in a row


def test_retry_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    sleep = Recorder()
    call, _ = failing([VendorUnavailableError("acme", f"GET /x?apiKey={SECRET} timed out")])
    with caplog.at_level(logging.WARNING, logger="raytrade.sources.retry"):
        run(call, policy(sleep))
    assert "retry 1 of 3" in caplog.text and SECRET not in caplog.text


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(per_minute=5, burst=5)


def test_rate_limit_admits_a_burst_then_spaces_requests() -> None:
    async def timings() -> list[float]:
        limit = RateLimit(per_minute=1500, burst=2)  # then one every 60/1498 s ~ 40 ms
        loop = asyncio.get_running_loop()
        t0, seen = loop.time(), []
        for _ in range(4):
            await limit.acquire()
            seen.append(loop.time() - t0)
        return seen
    seen = asyncio.run(timings())
    assert seen[1] < 0.02  # the burst
    assert seen[3] >= 0.07  # two more units had to drain
    assert seen[3] < 1.0


def test_rate_limit_survives_a_new_event_loop() -> None:
    limit = RateLimit(per_minute=600, burst=1)
    asyncio.run(limit.acquire())
    asyncio.run(limit.acquire())  # a fresh bucket for the new loop, no cross-loop futures

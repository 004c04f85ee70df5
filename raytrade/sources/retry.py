"""Retries with exponential backoff and jitter, and client-side rate limits, for every adapter.

`with_retries` retries an awaitable on `TransientError` (adapters raise `VendorUnavailableError` for
429, 418, 5xx, timeouts and unparsable bodies) and never on anything else: a `PermanentError`
surfaces on the first attempt. The wait before retry n is `initial_delay * 2**(n-1)` capped at
`max_delay`, plus a uniform jitter, and never less than a `Retry-After` the vendor sent. A
`Retry-After` longer than `retry_after_cap` is not slept through: the error surfaces at once
(a 418 ban lasts minutes to days and retrying inside it lengthens it).

When a call makes partial progress before failing (a paginating SDK that delivered some pages),
pass `progress`: the attempt budget counts only consecutive failures without progress.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception

from raytrade.core.errors import TransientError
from raytrade.sources.base import VendorUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How persistently to retry one request. Times are seconds."""

    attempts: int = 6  # tries in all, counting the first
    initial_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5  # uniform extra wait in [0, jitter), so clients do not retry in step
    retry_after_cap: float = 120.0  # longest Retry-After honoured by waiting
    timeout: float = 30.0  # per request
    sleep: Sleep = field(default=asyncio.sleep, compare=False)  # injected in tests

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if min(self.initial_delay, self.max_delay, self.jitter, self.retry_after_cap) < 0:
            raise ValueError("RetryPolicy delays must not be negative")
        if self.timeout <= 0:
            raise ValueError("RetryPolicy.timeout must be positive")


class _Attempts:
    """Consecutive failures without progress, and the wait each one earns."""

    def __init__(self, policy: RetryPolicy, progress: Callable[[], int] | None) -> None:
        self.policy = policy
        self.progress = progress or (lambda: 0)
        self.mark = self.progress()
        self.failures = 0
        self.rng = random.Random()

    def too_long(self, exc: BaseException) -> bool:
        after = getattr(exc, "retry_after", None)
        return after is not None and after > self.policy.retry_after_cap

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, TransientError) and not self.too_long(exc)

    def record(self, state: RetryCallState) -> None:
        mark = self.progress()
        if mark != self.mark:
            self.mark, self.failures = mark, 0
        self.failures += 1

    def wait(self, state: RetryCallState) -> float:
        p = self.policy
        backoff = min(p.max_delay, p.initial_delay * 2.0 ** (self.failures - 1))
        backoff += self.rng.uniform(0, p.jitter) if p.jitter else 0.0
        exc = state.outcome.exception() if state.outcome else None
        after: float | None = getattr(exc, "retry_after", None)
        return max(backoff, float(after)) if after is not None else backoff

    def stop(self, state: RetryCallState) -> bool:
        return self.failures >= self.policy.attempts


async def with_retries(
    call: Callable[[], Awaitable[T]], *, policy: RetryPolicy, vendor: str, what: str,
    redact: Callable[[str], str], progress: Callable[[], int] | None = None,
) -> T:
    """Await `call()` until it succeeds, retrying transient failures per `policy`.

    Raises the last `VendorUnavailableError` (message: attempts made, last failure) when the budget
    is spent, and any non-transient error at once. `what` names the request in log lines.
    """
    attempts = _Attempts(policy, progress)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        said = exc.detail if isinstance(exc, VendorUnavailableError) else str(exc)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s failed (%s); retry %d of %d in %.2f s", vendor, what,
                    redact(said), attempts.failures, policy.attempts - 1, wait)

    retrying = AsyncRetrying(
        retry=retry_if_exception(attempts.retryable), after=attempts.record,
        wait=attempts.wait, stop=attempts.stop, sleep=policy.sleep,
        before_sleep=before_sleep, reraise=False)
    try:
        return await retrying(call)
    except RetryError as gave_up:
        last = gave_up.last_attempt.exception()
        detail = redact(last.detail if isinstance(last, VendorUnavailableError) else str(last))
        raise VendorUnavailableError(
            vendor, f"gave up on {what} after {attempts.failures} failed attempts in a row; "
            f"last: {detail}; try again later",
            retry_after=getattr(last, "retry_after", None)) from None
    except VendorUnavailableError as exc:
        if not attempts.too_long(exc):
            raise
        raise VendorUnavailableError(
            vendor, f"{redact(exc.detail)} and asks to wait {exc.retry_after:.0f} s, longer than "
            f"the {policy.retry_after_cap:.0f} s this source waits; try {what} again after that",
            retry_after=exc.retry_after, status=exc.status) from None


class RateLimit:
    """At most `per_minute` units in any minute, after a burst of at most `burst` units.

    A leaky bucket (aiolimiter) of capacity `burst` that drains `per_minute - burst` units a
    minute: in any 60 s it admits at most the burst plus what drained, i.e. `per_minute`.
    One bucket per event loop (aiolimiter's futures belong to a loop).
    """

    def __init__(self, per_minute: float, burst: float = 1.0) -> None:
        if not 0 < burst < per_minute:
            raise ValueError("RateLimit needs 0 < burst < per_minute")
        self.per_minute, self.burst = per_minute, burst
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bucket: AsyncLimiter | None = None

    def __repr__(self) -> str:
        return f"RateLimit(per_minute={self.per_minute:g}, burst={self.burst:g})"

    def _current(self) -> AsyncLimiter:
        loop = asyncio.get_running_loop()
        if self._bucket is None or self._loop is not loop:
            period = 60.0 * self.burst / (self.per_minute - self.burst)
            self._loop, self._bucket = loop, AsyncLimiter(self.burst, period)
        return self._bucket

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` units fit under the limit, then take them."""
        await self._current().acquire(min(amount, self.burst))

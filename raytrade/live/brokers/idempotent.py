"""Placing an order exactly once over a network that loses answers.

A failed submission (5xx, 429, timeout, dropped connection) does not say whether the venue
placed the order: it may have accepted it and lost the answer. Sending it again could place it
twice (Binance spot accepts a reused client order id once the first order has filled), and
giving up could place it never. So after such a failure `submit_exactly_once` waits out the
backoff, then *looks the order up by its client order id* and only sends it again when the
venue says it does not exist; a venue that says the id is taken is answered the same way. A
lookup that keeps failing does not lead to a blind resend: it raises `OrderStateUnknownError`.
Refusals the market explains (funds, shares) come back as a `REJECTED` state at once, never as
a retry loop. Brokers raise the internal `VenueFailure` (already classified, already redacted,
raised outside any `except` block so no SDK object with request headers hangs off it); only
the public errors of `base` leave a broker.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from raytrade.core.errors import RaytradeError
from raytrade.live.brokers.base import (
    BrokerCredentialsError,
    BrokerRefusedError,
    BrokerUnavailableError,
    OrderRequest,
    OrderState,
    OrderStateUnknownError,
)
from raytrade.sources.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
_jitter = random.Random()


class FailureKind(StrEnum):
    """What one failed request means for its caller."""

    UNAVAILABLE = "unavailable"  # no useful answer: the request may or may not have acted
    CREDENTIALS = "credentials"  # key or signature refused
    NOT_FOUND = "not_found"  # no such order
    DUPLICATE = "duplicate"  # the client order id is taken
    REJECTED = "rejected"  # the market refused the order (funds, shares)
    CLOCK = "clock"  # the request's timestamp is outside the venue's window
    REFUSED = "refused"  # any other refusal that repeating will not change


class VenueFailure(Exception):  # noqa: N818 - internal signal, never leaves a broker
    """One failed request, classified; `detail` is safe to show (no credentials)."""

    def __init__(self, kind: FailureKind, detail: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail
        self.status, self.retry_after = status, retry_after


def public_error(broker: str, failure: VenueFailure, what: str, *, credentials: str
                 ) -> RaytradeError:
    """Return the error a caller of the broker sees for `failure` while doing `what`."""
    if failure.kind is FailureKind.UNAVAILABLE:
        return BrokerUnavailableError(broker, f"{what}: {failure.detail}",
                                      status=failure.status, retry_after=failure.retry_after)
    if failure.kind is FailureKind.CREDENTIALS:
        return BrokerCredentialsError(broker, f"{what}: {failure.detail}",
                                      f"set {credentials} to a valid key pair for this venue")
    if failure.kind is FailureKind.CLOCK:
        return BrokerRefusedError(broker, f"{what}: {failure.detail}",
                                  "the request time is off even after syncing with the "
                                  "venue's clock; check the system clock")
    return BrokerRefusedError(broker, f"{what}: {failure.detail}",
                              "check the symbol, the amount and the account")


def backoff(policy: RetryPolicy, failures: int, retry_after: float | None) -> float:
    """Return the wait before the next try: exponential with jitter, at least Retry-After."""
    wait = min(policy.max_delay, policy.initial_delay * 2.0 ** (failures - 1))
    wait += _jitter.uniform(0.0, policy.jitter) if policy.jitter else 0.0
    return max(wait, retry_after or 0.0)


async def with_retries(call: Callable[[], Awaitable[T]], *, policy: RetryPolicy, broker: str,
                       what: str, credentials: str) -> T:
    """Await `call()`, retrying when the venue did not answer usefully (for reads and for
    requests that are safe to repeat, such as a cancel)."""
    failures = 0
    while True:
        try:
            return await call()
        except VenueFailure as exc:
            failure = exc
        if failure.kind is not FailureKind.UNAVAILABLE:
            raise public_error(broker, failure, what, credentials=credentials)
        failures += 1
        if failures >= policy.attempts or (failure.retry_after or 0) > policy.retry_after_cap:
            raise public_error(broker, failure, f"{what} (after {failures} attempts)",
                               credentials=credentials)
        wait = backoff(policy, failures, failure.retry_after)
        log.warning("%s: %s failed (%s); retry %d in %.2f s", broker, what, failure.detail,
                    failures, wait)
        await policy.sleep(wait)


async def lookup(find: Callable[[str], Awaitable[OrderState | None]], client_order_id: str, *,
                 policy: RetryPolicy, broker: str, credentials: str) -> OrderState | None:
    """Return the order with this client order id, or None when the venue has none; raise
    `OrderStateUnknownError` when the venue will not say."""
    try:
        return await with_retries(lambda: find(client_order_id), policy=policy, broker=broker,
                                  what=f"looking up order {client_order_id}",
                                  credentials=credentials)
    except BrokerUnavailableError as exc:
        error = OrderStateUnknownError(broker, client_order_id, exc.detail)
    raise error


async def submit_exactly_once(
    order: OrderRequest, *, place: Callable[[OrderRequest], Awaitable[OrderState]],
    find: Callable[[str], Awaitable[OrderState | None]], policy: RetryPolicy, broker: str,
    credentials: str, look_first: bool,
) -> OrderState:
    """Place `order` unless it exists, and never twice; return its state.

    `look_first` looks the order up before the first send, for venues where a reused client
    order id is not refused (Binance spot, once the first order has finished), so that
    submitting again after a restart returns the existing order.
    """
    cid = order.client_order_id

    async def existing() -> OrderState | None:
        return await lookup(find, cid, policy=policy, broker=broker, credentials=credentials)

    if look_first and (found := await existing()) is not None:
        return found
    failures = 0
    while True:
        try:
            return await place(order)
        except VenueFailure as exc:
            failure = exc
        if failure.kind is FailureKind.REJECTED:
            log.info("%s: order %s rejected: %s", broker, cid, failure.detail)
            return OrderState.rejected(order, failure.detail)
        if failure.kind is FailureKind.DUPLICATE:
            if (found := await existing()) is not None:
                return found
            raise BrokerRefusedError(broker, f"client order id {cid} is taken, yet no order "
                                     "with it can be found", "submit with a new client order id")
        if failure.kind is not FailureKind.UNAVAILABLE:
            raise public_error(broker, failure, f"placing order {cid}", credentials=credentials)
        failures += 1
        wait = backoff(policy, failures, failure.retry_after)
        log.warning("%s: placing order %s failed (%s); looking it up in %.2f s before any "
                    "retry", broker, cid, failure.detail, wait)
        await policy.sleep(wait)
        if (found := await existing()) is not None:
            return found
        if failures >= policy.attempts or (failure.retry_after or 0) > policy.retry_after_cap:
            raise BrokerUnavailableError(
                broker, f"gave up placing order {cid} after {failures} failed attempts; the "
                f"venue has no such order, so it was not placed (last: {failure.detail})",
                status=failure.status, retry_after=failure.retry_after)


__all__ = ["FailureKind", "VenueFailure", "backoff", "lookup", "public_error",
           "submit_exactly_once", "with_retries"]

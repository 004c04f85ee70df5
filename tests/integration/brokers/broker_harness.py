"""Shared pieces of the broker-against-fake-venue tests: fast retry policies with recorded
(not slept) waits, a wall clock with an offset, intended orders, and secret-leak checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from raytrade.core.types import Side
from raytrade.live.brokers import OrderRequest, client_order_id
from raytrade.sources.retry import RetryPolicy

CLIENT_TIMEOUT_S = 0.5  # the broker's per-request timeout in these tests
HOLD_S = 2 * CLIENT_TIMEOUT_S  # how long a timeout fault holds the venue's answer
BAR0 = datetime(2024, 3, 14, 14, 30, tzinfo=UTC)


class SleepRecorder:
    """Stands in for asyncio.sleep in retry policies: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_retry(sleep: SleepRecorder | None = None, attempts: int = 8) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, initial_delay=0.0, max_delay=0.0, jitter=0.0,
                       retry_after_cap=5.0, timeout=CLIENT_TIMEOUT_S,
                       sleep=sleep or SleepRecorder())


class ShiftedClock:
    """The wall clock moved by `offset` (a venue whose clock disagrees with ours)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def intended_orders(session: str, symbols: list[str], count: int, qty: float
                    ) -> list[OrderRequest]:
    """Return `count` orders, one a bar, cycling over `symbols`: buys, every third a sell of
    what an earlier buy bought (so the account never runs out of what it sells)."""
    orders = []
    for i in range(count):
        side = Side.SELL if i % 3 == 2 else Side.BUY
        orders.append(OrderRequest(
            client_order_id=client_order_id(session, BAR0 + timedelta(minutes=i), side.value),
            symbol=symbols[(i // 3) % len(symbols)], side=side, qty=qty))
    return orders


def net_quantities(orders: list[OrderRequest]) -> dict[str, float]:
    """Return symbol -> quantity bought less quantity sold."""
    net: dict[str, float] = {}
    for order in orders:
        sign = 1.0 if order.side is Side.BUY else -1.0
        net[order.symbol] = net.get(order.symbol, 0.0) + sign * (order.qty or 0.0)
    return {s: q for s, q in net.items() if q}


def assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, f"the secret leaked into {text[:200]!r}"


def assert_no_chain(exc: BaseException) -> None:
    """The error carries no SDK exception (whose request objects hold the credentials)."""
    assert exc.__cause__ is None and exc.__context__ is None, (exc.__cause__, exc.__context__)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def capture_all(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

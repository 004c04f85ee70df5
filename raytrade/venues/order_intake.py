"""How a fake trading venue takes in one order submission: draw a fault, place, fill, answer.

Both trading fakes (Alpaca, Binance) accept orders the same way and differ only in wire format,
so the order of events lives here once. Per submission: draw the `OrderFault`; a 5xx or a
timeout *before* accepting places nothing; otherwise the ledger places the order (or refuses
it), fills it (all of it, a share, or nothing yet), and the venue's answer is built, either
before the fill (Alpaca answers `accepted` and fills right after) or after it (Binance answers
with the fills). Then a `lost_response` holds that answer past the client's timeout and an
`error_after_accept` replaces it with a 5xx: the order exists, the client cannot tell.
Every fault is recorded in the venue's `FaultLog` (5xx and timeouts) and in `records`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from raytrade.core.clock import Clock
from raytrade.venues.faults import SERVER_ERROR_STATUSES, FaultKind
from raytrade.venues.ledger import Ledger, Order, OrderRefusedError
from raytrade.venues.order_faults import (
    HELD,
    OrderFault,
    OrderFaultPlan,
    OrderFaultRecord,
)
from raytrade.venues.server import Call, Reply

Record = Callable[[Call, FaultKind, int, dict[str, str | int | float]], None]
Hold = Callable[[float], Awaitable[None]]


class OrderIntake:
    """Applies an `OrderFaultPlan` around a `Ledger` for one venue."""

    def __init__(self, plan: OrderFaultPlan, ledger: Ledger, clock: Clock, *, record: Record,
                 hold: Hold, fill_first: bool) -> None:
        self.plan = plan
        self.ledger = ledger
        self.clock = clock
        self.fill_first = fill_first  # build the answer after the fill (Binance) or before
        self._record = record
        self._hold = hold
        self._lock = threading.Lock()
        self._count = 0
        self._records: list[OrderFaultRecord] = []

    def records(self) -> list[OrderFaultRecord]:
        """Return the order faults injected so far, in order."""
        with self._lock:
            return list(self._records)

    async def submit(self, call: Call, client_order_id: str, *, place: Callable[[], Order],
                     answer: Callable[[Order], Reply],
                     refuse: Callable[[OrderRefusedError], Reply],
                     error: Callable[[int], Reply]) -> Reply:
        """Run one submission through the plan; return the reply the client gets (if any)."""
        with self._lock:
            index, self._count = self._count, self._count + 1
        fault, rng = self.plan.draw(index)

        def note(placed: bool, status: int) -> None:
            assert fault is not None
            record = OrderFaultRecord(index, client_order_id, fault, call.at, placed, status)
            with self._lock:
                self._records.append(record)
            if fault is OrderFault.SERVER_ERROR or fault is OrderFault.ERROR_AFTER_ACCEPT:
                self._record(call, FaultKind.SERVER_ERROR, status,
                             {"order_fault": fault.value, "placed": int(placed)})
            elif fault in HELD:
                self._record(call, FaultKind.TIMEOUT, status,
                             {"order_fault": fault.value, "placed": int(placed),
                              "delay_s": self.plan.timeout_s})

        if fault is OrderFault.SERVER_ERROR:
            status = rng.choice(SERVER_ERROR_STATUSES)
            note(False, status)
            return error(status)
        if fault is OrderFault.TIMEOUT:
            note(False, 503)
            await self._hold(self.plan.timeout_s)
            return error(503)
        if fault is OrderFault.INSUFFICIENT_FUNDS:
            refusal = OrderRefusedError("funds", "", 0.0, 0.0)
            reply = refuse(refusal)
            note(False, reply.status)
            return reply
        try:
            order = place()
        except OrderRefusedError as refusal:
            return refuse(refusal)
        share = {OrderFault.PARTIAL_FILL: self.plan.partial_share,
                 OrderFault.DELAYED_FILL: 0.0}.get(fault, 1.0) if fault else 1.0
        with self.ledger.lock:
            if self.fill_first:
                self.ledger.execute(order, share)
                reply = answer(order)
            else:
                reply = answer(order)
                self.ledger.execute(order, share)
        if fault is OrderFault.ERROR_AFTER_ACCEPT:
            status = rng.choice(SERVER_ERROR_STATUSES)
            note(True, status)
            return error(status)
        if fault is not None:
            note(True, reply.status)
        if fault is OrderFault.LOST_RESPONSE:
            await self._hold(self.plan.timeout_s)
        return reply


__all__ = ["OrderIntake"]

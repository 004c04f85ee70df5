"""What a fake trading venue does wrong when an order arrives, drawn per submission.

The bar venues' `FaultPlan` draws faults per request and knows nothing of orders; a trading
venue also needs faults whose whole point is *whether the order was placed*: a 5xx or a
timeout before the venue accepted it (nothing placed), and the nasty cases where the venue
accepted and placed it but the client never learns so (the response is held past the client's
timeout, or a 5xx is sent after accepting, as Binance's -1007 "execution status unknown").
Fills can be partial or delayed, and an order can be refused for funds. At most one fault is
drawn per submission, from a generator seeded by (plan seed, submission index), so a
sequential client meets the same faults on every run. (A venue's per-request `FaultPlan` still
applies to every endpoint, the order endpoint included: its `timeout` holds a request *before*
the handler runs, so nothing is placed when the client gives up waiting.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class OrderFault(StrEnum):
    """One way an order submission goes wrong at a fake trading venue."""

    SERVER_ERROR = "server_error"  # 500/502/503 before accepting: nothing placed
    TIMEOUT = "timeout"  # held past the client's timeout before accepting: nothing placed
    LOST_RESPONSE = "lost_response"  # placed, then the response held past the client's timeout
    ERROR_AFTER_ACCEPT = "error_after_accept"  # placed, then answered 5xx ("status unknown")
    PARTIAL_FILL = "partial_fill"  # placed; `partial_share` fills now, the rest at the next price
    DELAYED_FILL = "delayed_fill"  # placed; nothing fills until the next price
    INSUFFICIENT_FUNDS = "insufficient_funds"  # refused as if the account could not pay


# Faults after which the client cannot tell from the response whether the order exists.
UNCERTAIN = (OrderFault.SERVER_ERROR, OrderFault.TIMEOUT, OrderFault.LOST_RESPONSE,
             OrderFault.ERROR_AFTER_ACCEPT)
# Faults whose order is placed even though the client hears an error or nothing.
PLACED_UNSEEN = frozenset({OrderFault.LOST_RESPONSE, OrderFault.ERROR_AFTER_ACCEPT})
HELD = frozenset({OrderFault.TIMEOUT, OrderFault.LOST_RESPONSE})  # the response waits timeout_s


class OrderFaultPlan(BaseModel):
    """Probability of each order fault per submission. The default injects nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    seed: int = Field(default=0, ge=0)
    """Seed of every draw; with the submission order it fixes which order meets which fault."""
    rates: dict[OrderFault, float] = Field(default_factory=dict)
    """Probability per fault kind for one submission; they add up to at most 1."""
    timeout_s: float = Field(default=30.0, ge=0.0)
    """How long `timeout` and `lost_response` hold the response: longer than the client waits."""
    partial_share: float = Field(default=0.5, gt=0.0, lt=1.0)
    """Share of the quantity a `partial_fill` fills at once."""

    @field_validator("rates")
    @classmethod
    def _probabilities(cls, rates: dict[OrderFault, float]) -> dict[OrderFault, float]:
        if any(not 0.0 <= p <= 1.0 for p in rates.values()):
            raise ValueError("every order fault rate must be within [0, 1]")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"order fault rates add up to {sum(rates.values()):.3f}; at most "
                             "one fault is drawn per submission, so they must add up to <= 1")
        return rates

    @classmethod
    def failing(cls, rate: float, *, seed: int = 0, timeout_s: float = 30.0
                ) -> OrderFaultPlan:
        """Return a plan where `rate` of submissions fail with an uncertain outcome (5xx or
        timeout, before or after the order was placed), spread evenly over those kinds."""
        return cls(seed=seed, timeout_s=timeout_s,
                   rates={kind: rate / len(UNCERTAIN) for kind in UNCERTAIN})

    def draw(self, index: int) -> tuple[OrderFault | None, random.Random]:
        """Return the fault of the `index`-th submission (or None) and the generator that
        decides its details (which 5xx status)."""
        rng = random.Random(f"{self.seed}/order/{index}")
        u, edge = rng.random(), 0.0
        for kind in OrderFault:
            edge += self.rates.get(kind, 0.0)
            if u < edge:
                return kind, rng
        return None, rng


@dataclass(frozen=True)
class OrderFaultRecord:
    """One order fault a venue injected: on which submission, which order, what it did."""

    index: int  # the venue's submission number (0, 1, ...)
    client_order_id: str
    fault: OrderFault
    at: datetime  # the venue clock's time when the submission arrived
    placed: bool  # whether the venue created the order despite the fault
    status: int  # HTTP status answered (200 when the order was accepted)


__all__ = ["HELD", "PLACED_UNSEEN", "UNCERTAIN", "OrderFault", "OrderFaultPlan",
           "OrderFaultRecord"]

"""Risk limits of a paper session as pure functions: evidence in, a decision value out.

The session gathers the evidence (clock, account equity, recent orders) and executes what
`check` returns; nothing here reads a clock, a broker or a file. Precedence, strongest first:
a halted session sends nothing; the daily-loss kill switch flattens and halts (it bypasses the
order-rate cap, since flattening is the point); stale data and the order-rate cap may only
keep or reduce exposure, never open it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class RiskLimits:
    """Limits one session trades within; amounts are in the account currency."""

    max_position_notional: float
    """Cap on the quote amount of one entry (the backtest invests all equity; this caps it)."""
    max_daily_loss: float
    """Kill switch: once equity is this far below the UTC day's starting equity, flatten, halt."""
    max_orders_per_minute: int
    """Orders the session may send in any 60 seconds of clock time."""
    stale_after_intervals: float = 2.0
    """No new position when the newest bar closed more than this many bar intervals ago."""

    def __post_init__(self) -> None:
        if not (self.max_position_notional > 0 and self.max_daily_loss > 0):
            raise ValueError("max_position_notional and max_daily_loss must be positive")
        if self.max_orders_per_minute < 1:
            raise ValueError("max_orders_per_minute must be at least 1")
        if not self.stale_after_intervals > 0:
            raise ValueError("stale_after_intervals must be positive")


class Reason(StrEnum):
    """Why the risk check changed or refused the rule's target."""

    HALTED = "halted"
    KILL_SWITCH = "kill_switch"
    STALE_DATA = "stale_data"
    ORDER_RATE = "order_rate"


@dataclass(frozen=True)
class Evidence:
    """What the session knows when it checks one bar's target."""

    now: datetime  # clock time, UTC
    bar_close: datetime  # close time of the newest bar (its open time plus one interval)
    bar_interval: timedelta
    day_start_equity: float
    equity: float
    orders_last_minute: int
    halted: bool


@dataclass(frozen=True)
class RiskDecision:
    """The position to move to, and whether (and why) the session must halt or was limited."""

    target: int
    halt: bool = False
    reason: Reason | None = None


def orders_needed(current: int, target: int) -> int:
    """Return the orders that move `current` to `target`: a reversal is an exit and an entry."""
    if current == target:
        return 0
    return 2 if current != 0 and target != 0 else 1


def is_stale(evidence: Evidence, limits: RiskLimits) -> bool:
    """Return whether the newest bar closed too long ago to open a position on it."""
    return closed_too_long_ago(evidence.now, evidence.bar_close, evidence.bar_interval, limits)


def closed_too_long_ago(now: datetime, bar_close: datetime, bar_interval: timedelta,
                        limits: RiskLimits) -> bool:
    """Return whether a bar that closed at `bar_close` is too old to open a position on."""
    return now - bar_close > bar_interval * limits.stale_after_intervals


def kill_switch_hit(evidence: Evidence, limits: RiskLimits) -> bool:
    """Return whether today's loss reached the limit (the day is the clock's UTC day)."""
    return evidence.day_start_equity - evidence.equity >= limits.max_daily_loss


def check(current: int, target: int, evidence: Evidence, limits: RiskLimits) -> RiskDecision:
    """Return the position the session may move to from `current` instead of `target`."""
    if evidence.halted:
        return RiskDecision(current, reason=Reason.HALTED)
    if kill_switch_hit(evidence, limits):
        return RiskDecision(0, halt=True, reason=Reason.KILL_SWITCH)
    reason = None
    if target not in (0, current) and is_stale(evidence, limits):
        target, reason = 0, Reason.STALE_DATA  # exits still go through
    needed = orders_needed(current, target)
    if needed and evidence.orders_last_minute + needed > limits.max_orders_per_minute:
        return RiskDecision(current, reason=Reason.ORDER_RATE)
    return RiskDecision(target, reason=reason)


def entry_notional(capital: float, equity: float, limits: RiskLimits) -> float:
    """Return the quote amount one entry invests: all equity, within capital and the cap."""
    return max(min(capital, equity, limits.max_position_notional), 0.0)


__all__ = ["Evidence", "Reason", "RiskDecision", "RiskLimits", "check", "closed_too_long_ago",
           "entry_notional",
           "is_stale", "kill_switch_hit", "orders_needed"]

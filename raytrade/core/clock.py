"""Injected time: production code asks a Clock, tests hand it a FakeClock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ValueError("FakeClock needs a timezone-aware UTC start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> None:
        if by < timedelta(0):
            raise ValueError("time does not run backwards")
        self._now += by

    def set(self, to: datetime) -> None:
        if to < self._now:
            raise ValueError("time does not run backwards")
        self._now = to


class ScaledClock:
    """Time that runs `speed` times faster than the wall clock from `start` on: a sandbox's, so
    that 5-minute bars close every few seconds. `timer` is in seconds (monotonic)."""

    def __init__(self, start: datetime, speed: float,
                 timer: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ValueError("ScaledClock needs a timezone-aware UTC start time")
        if not speed > 0:
            raise ValueError(f"speed must be positive; got {speed}")
        self.start, self.speed = start, speed
        self._timer = timer
        self._origin = timer()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._timer() - self._origin) * self.speed)

    def wall_seconds(self, seconds: float) -> float:
        """Return how many wall-clock seconds `seconds` of this clock's time take."""
        return seconds / self.speed

"""Live-return drift: a one-sided (lower) CUSUM of live per-bar returns against the backtest's.

Each live return is standardised by the backtest's own per-bar return distribution,
`z = (r - expected_mean) / expected_std`, and the lower CUSUM of Page (1954),

    S_0 = 0,    S_t = max(0, S_{t-1} - z_t - k),

accumulates how far the live returns run *below* that distribution; the model is flagged once
`S_t > h`. Returns above the expectation only pull `S` back to 0, so a model that does better
live than in its backtest is never flagged (one-sided by design: the question is whether the
model has stopped earning what the gate saw, not whether it earns more).

Defaults `k = 0.5`, `h = 5` (in standard deviations), the pair Montgomery recommends
(*Introduction to Statistical Quality Control*, ch. 9, "the tabular CUSUM"): `k` is half the
smallest shift worth catching, here 1 sd, so smaller noise is forgiven as slack. Montgomery's
ARL table for this pair (after Hawkins 1993) gives 465 bars between false alarms and 10.4
bars to flag a 1-sd shift, but for the *two-sided* scheme (an upper and a lower CUSUM, either
of which alarms). This test is one-sided, so its in-control average run length is about
twice that, ~938 bars by Siegmund's approximation (1985, `ARL = (e^(-2 D b) + 2 D b - 1) /
(2 D^2)`, `D = shift - k`, `b = h + 1.166`), while a -1 sd shift is still flagged after ~10.3
bars on average; `tests/unit/live/test_drift.py` checks both by simulation. Real returns have
fatter tails than the normal, so false alarms come sooner in practice: raise `h` rather than
`k` to trade detection delay for fewer alarms (`h = 4` gives ~340 bars and ~8.3 bars).

Pure: no clock, no I/O. The flag latches: once raised it stays raised (the statistic keeps
being updated) until a new `ReturnDrift` is built, so the store records one flag per episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_K = 0.5
"""Slack per bar, in backtest standard deviations: half the 1-sd shift the test is tuned to."""
DEFAULT_H = 5.0
"""Decision interval, in backtest standard deviations: in-control ARL ~938 bars (normal)."""


@dataclass(frozen=True)
class DriftState:
    """The test after one more live bar."""

    statistic: float
    """The lower CUSUM `S_t`, in standard deviations (>= 0)."""
    flagged: bool
    """Whether `S` has exceeded `h` at this bar or any earlier one (the flag latches)."""
    bars: int
    """Live returns seen so far."""


@dataclass
class ReturnDrift:
    """A lower CUSUM of live per-bar returns against the backtest's mean and spread."""

    expected_mean: float
    """The backtest's mean per-bar return (a fraction: 0.001 is 0.1% a bar)."""
    expected_std: float
    """The backtest's standard deviation of per-bar returns (same units); must be > 0."""
    k: float = DEFAULT_K
    h: float = DEFAULT_H
    _statistic: float = field(default=0.0, init=False, repr=False)
    _flagged: bool = field(default=False, init=False, repr=False)
    _bars: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.expected_mean):
            raise ValueError(f"expected_mean must be finite, got {self.expected_mean}")
        if not (math.isfinite(self.expected_std) and self.expected_std > 0):
            raise ValueError(f"expected_std must be finite and positive, got {self.expected_std}")
        if not (math.isfinite(self.k) and self.k >= 0):
            raise ValueError(f"k must be finite and not negative, got {self.k}")
        if not (math.isfinite(self.h) and self.h > 0):
            raise ValueError(f"h must be finite and positive, got {self.h}")

    @classmethod
    def from_returns(cls, returns: np.ndarray, *, k: float = DEFAULT_K,
                     h: float = DEFAULT_H) -> ReturnDrift:
        """Build the test from a run's stored per-bar test-segment returns (NaNs are skipped).

        The spread is the sample standard deviation (ddof=1). ValueError when fewer than two
        finite returns remain or they are all equal (no spread to standardise by).
        """
        values = np.asarray(returns, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size < 2:
            raise ValueError(f"need at least 2 finite backtest returns, got {values.size}")
        std = float(np.std(values, ddof=1))
        if not std > 0:
            raise ValueError("the backtest returns do not vary; their spread is 0")
        return cls(float(np.mean(values)), std, k=k, h=h)

    @property
    def state(self) -> DriftState:
        """Return the test as it stands, without a new bar."""
        return DriftState(self._statistic, self._flagged, self._bars)

    def update(self, live_return: float) -> DriftState:
        """Add one closed bar's live return (same units as the backtest's); return the state."""
        value = float(live_return)
        if not math.isfinite(value):
            raise ValueError(f"live return must be finite, got {live_return!r}")
        z = (value - self.expected_mean) / self.expected_std
        self._statistic = max(0.0, self._statistic - z - self.k)
        self._flagged = self._flagged or self._statistic > self.h
        self._bars += 1
        return self.state


__all__ = ["DEFAULT_H", "DEFAULT_K", "DriftState", "ReturnDrift"]

"""The backtest's decision rule, bar by bar: model output -> signal -> target position.

`PositionRule` is the state machine behind `research.backtest._simulate`, without prices: when
flat, a non-zero signal (a -1 only when shorting is allowed) opens a trade at this bar; the
trade is held for exactly `holding_period` bars and signals inside it are ignored; at the exit
bar a signal on the same side continues the trade (a new trade row, no order) and any other
signal is read as if flat (so an opposite one reverses). Fed the backtest's signal series, its
targets equal the backtest's `position` array bar for bar, except where the backtest knows
something a live session cannot: at the segment's last bar the backtest closes every trade
(`finish()` does the same), and a short that loses all equity is liquidated (a live session
has its kill switch instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from raytrade.research.training import binary_signals, multiclass_signals

SIDES = (-1, 0, 1)


@dataclass
class PositionRule:
    """Fixed-holding, non-overlapping trades, exactly as the backtest places them."""

    holding_period: int
    allow_short: bool = False
    side: int = field(default=0, init=False)
    """The side held after the last step: +1 long, -1 short, 0 flat."""
    opened: bool = field(default=False, init=False)
    """Whether the last step started a trade row (an entry or a same-side continuation)."""
    _held: int = field(default=0, init=False, repr=False)  # bars since the row's entry bar

    def __post_init__(self) -> None:
        if isinstance(self.holding_period, bool) or self.holding_period < 1:
            raise ValueError(f"holding_period must be at least 1 bar, got {self.holding_period}")

    def step(self, signal: int) -> int:
        """Return the side to hold over the next bar, given this bar's signal."""
        if signal not in SIDES:
            raise ValueError(f"signal must be -1, 0 or +1, got {signal!r}")
        self.opened = False
        if self.side != 0:
            self._held += 1
            if self._held < self.holding_period:
                return self.side
            if signal == self.side:  # exit bar, same side again: keep the position
                self._held, self.opened = 0, True
                return self.side
            self.side = 0  # exit; this bar's signal may open the next trade below
        wanted = signal if signal > 0 or self.allow_short else 0
        if wanted != 0:
            self.side, self._held, self.opened = wanted, 0, True
        return self.side

    def finish(self) -> int:
        """Close whatever is held at the last bar of a segment (the backtest's end rule)."""
        self.reset()
        return 0

    def reset(self) -> None:
        """Go flat with no trade open (after a risk limit overrode the rule)."""
        self.side, self._held, self.opened = 0, 0, False


@dataclass(frozen=True)
class DecisionRule:
    """A promoted model's `decision.json`: how its output becomes a signal and a position."""

    kind: Literal["binary", "multiclass"]
    threshold: float
    holding_period: int
    allow_short: bool
    feature_names: tuple[str, ...]

    @classmethod
    def from_mapping(cls, rule: Mapping[str, Any]) -> DecisionRule:
        """Validate a decision rule read from JSON; ValueError names the bad field."""
        kind = rule.get("kind")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"decision rule kind must be binary or multiclass, got {kind!r}")
        threshold = float(rule.get("threshold", 0.5))
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"decision rule threshold must be in [0, 1], got {threshold}")
        holding = rule.get("holding_period")
        if not isinstance(holding, int) or isinstance(holding, bool) or holding < 1:
            raise ValueError(f"decision rule holding_period must be an int >= 1, got {holding!r}")
        names = rule.get("feature_names")
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("decision rule feature_names must be a non-empty list")
        return cls(kind, threshold, holding, bool(rule.get("allow_short", False)),
                   tuple(str(n) for n in names))

    def signals(self, output: np.ndarray) -> np.ndarray:
        """Map model outputs (P(up) per row, or (rows, 3) probabilities) to -1/0/+1 signals."""
        if self.kind == "binary":
            return binary_signals(np.asarray(output, dtype=np.float64).reshape(-1),
                                  self.threshold)
        return multiclass_signals(np.asarray(output, dtype=np.float64).reshape(-1, 3),
                                  self.allow_short)

    def position_rule(self) -> PositionRule:
        """Return a fresh state machine for this rule."""
        return PositionRule(self.holding_period, self.allow_short)


__all__ = ["DecisionRule", "PositionRule"]

"""Proof of parity: what a session decided live, recomputed through the batch path.

Each `Decision` keeps the feature vector the live path (`transform_latest`) produced, the
model's output and the signal. `parity` runs the same bars through the batch
`FeaturePipeline.transform` and the model and compares exactly: the pipeline promises the live
row equals the batch row bit for bit, so any difference at all is a defect, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import polars as pl

from raytrade.features.pipeline import FeaturePipeline
from raytrade.live.strategy import DecisionRule


class Predictor(Protocol):
    """A model as the session uses it (`research.training.TrainedModel` is one)."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return P(up) per row, or (rows, 3) class probabilities."""
        ...


@dataclass(frozen=True)
class Decision:
    """One bar's decision as a session made it; the store keeps these rows later."""

    bar_time: datetime  # the bar's open time, UTC
    features: tuple[float, ...]  # in the model's feature order; NaN where null
    output: tuple[float, ...]  # P(up), or the three class probabilities
    signal: int
    rule_target: int  # what the backtest's rule wants held over the next bar
    target: int  # what the session holds after risk limits
    opened: bool  # a trade row started at this bar (entry or same-side continuation)
    action: str  # the intents of the orders sent, joined by '+', or 'none'
    order_ids: tuple[str, ...]
    reason: str | None = None  # why risk limits changed the rule's target


@dataclass(frozen=True)
class ParityReport:
    """How the recorded decisions compare with the batch recomputation."""

    checked: int
    mismatches: int  # decisions with any differing feature, output or signal, or no batch row
    max_abs_diff: float  # over features and outputs; inf where only one side is null
    first_bar: datetime | None = None
    first_feature: str | None = None  # a feature name, 'model output', 'signal' or 'missing bar'

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def describe(self) -> str:
        """Return one line for a person: clean, or what differs first and where."""
        if self.ok:
            return f"parity holds over {self.checked} decisions"
        return (f"{self.mismatches} of {self.checked} decisions differ from the batch path; "
                f"first at {self.first_bar}: {self.first_feature} "
                f"(max abs difference {self.max_abs_diff:g})")


def parity(pipeline: FeaturePipeline, model: Predictor, rule: DecisionRule, bars: pl.DataFrame,
           decisions: Sequence[Decision]) -> ParityReport:
    """Recompute `decisions` from `bars` (one symbol, sorted, warm-up included) and compare."""
    names = list(pipeline.feature_names)
    batch = pipeline.transform(bars.lazy()).collect()
    row_of = {ts: i for i, ts in enumerate(batch.get_column("ts").to_list())}
    features = batch.select(names).to_numpy().astype(np.float64)  # null -> NaN
    found = [d for d in decisions if d.bar_time in row_of]
    rows = [row_of[d.bar_time] for d in found]
    output = model.predict(features[rows]) if rows else np.empty((0,))
    signals = rule.signals(output) if rows else np.empty((0,), dtype=np.int8)
    mismatches, worst = len(decisions) - len(found), 0.0
    first: tuple[datetime, str] | None = None
    if mismatches:
        missing = next(d for d in decisions if d.bar_time not in row_of)
        first = (missing.bar_time, "missing bar")
    for k, decision in enumerate(found):
        live = np.asarray(decision.features + decision.output, dtype=np.float64)
        expected = np.concatenate([features[rows[k]], np.atleast_1d(output[k])])
        diff = _abs_diff(live, expected)
        worst = max(worst, float(diff.max(initial=0.0)))
        bad = np.flatnonzero(diff > 0.0)
        if bad.size == 0 and int(signals[k]) == decision.signal:
            continue
        mismatches += 1
        what = "signal" if bad.size == 0 else (
            names[int(bad[0])] if bad[0] < len(names) else "model output")
        if first is None or decision.bar_time < first[0]:
            first = (decision.bar_time, what)
    return ParityReport(len(decisions), mismatches, worst, *(first or (None, None)))


def _abs_diff(live: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Return |live - expected| with NaN == NaN as 0 and one-sided NaN as inf."""
    both = np.isnan(live) & np.isnan(expected)
    one = np.isnan(live) ^ np.isnan(expected)
    diff = np.abs(np.where(both | one, 0.0, live - expected))
    return np.where(one, math.inf, diff)


__all__ = ["Decision", "ParityReport", "Predictor", "parity"]

"""Result values that cross layers: a metric, and a gate check's decision."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raytrade.core.types import Verdict


@dataclass(frozen=True)
class Metric:
    """One number a run measured, in one segment (train, validation, test, backtest...)."""

    segment: str
    name: str
    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"metric {self.segment}.{self.name} is not finite: {self.value}")


@dataclass(frozen=True)
class CheckResult:
    """One gate check's decision with the evidence it read; persisted as is."""

    tier: int
    check: str
    verdict: Verdict
    value: float | None = None
    threshold: str | None = None
    detail: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)  # what it read, JSON-able

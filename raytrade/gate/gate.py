"""Run the gate's tiers in order and return the decision; the runner persists it as is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from raytrade.config.experiment import GateSpec
from raytrade.core.records import CheckResult
from raytrade.core.types import Verdict
from raytrade.gate.checks import TIER1, TIER2, Check
from raytrade.gate.evidence import Evidence
from raytrade.gate.statistical import TIER3

GATE_VERSION = "2"  # bump when a check's logic changes; every row records it
TIERS: Mapping[int, tuple[Check, ...]] = {1: TIER1, 2: TIER2, 3: TIER3}


@dataclass(frozen=True)
class GateDecision:
    checks: tuple[CheckResult, ...]
    failed_tier: int | None  # the first tier with a failed check; None when all passed

    @property
    def passed(self) -> bool:
        return self.failed_tier is None


def evaluate(evidence: Evidence, gate: GateSpec,
             tiers: Mapping[int, tuple[Check, ...]] = TIERS) -> GateDecision:
    """Run every tier; once one fails, the later tiers' checks are recorded as skipped."""
    results: list[CheckResult] = []
    failed: int | None = None
    for tier in sorted(tiers):
        if failed is not None:
            results.extend(CheckResult(tier, name, Verdict.SKIPPED, None, None,
                                       f"skipped: tier {failed} failed")
                           for check in tiers[tier] for name in [check.__name__])
            continue
        tier_results = [check(evidence, gate) for check in tiers[tier]]
        results.extend(tier_results)
        if any(r.verdict is Verdict.FAILED for r in tier_results):
            failed = tier
    return GateDecision(tuple(results), failed)

"""Operator metrics exported through `ray.util.metrics`, so the Ray dashboard (and its
Prometheus endpoint) shows what the cluster is doing. Created in the process that counts."""

from __future__ import annotations

from ray.util.metrics import Counter

from raytrade.gate.gate import GateDecision


class TrialMetrics:
    """Trials started, finished and failed, and gate passes per tier, tagged by grid."""

    def __init__(self, grid: str) -> None:
        self._tags = {"grid": grid}
        keys = ("grid",)
        self.started = Counter("raytrade_trials_started", "Grid trials started.", keys)
        self.finished = Counter("raytrade_trials_finished",
                                "Grid trials that finished (gate passed or not).", keys)
        self.failed = Counter("raytrade_trials_failed", "Grid trials that failed.", keys)
        self.gate_passes = Counter("raytrade_gate_passes",
                                   "Finished trials that passed a tier of the gate.",
                                   ("grid", "tier"))

    def on_start(self) -> None:
        self.started.inc(1.0, self._tags)

    def on_failure(self) -> None:
        self.failed.inc(1.0, self._tags)

    def on_finish(self, decision: GateDecision) -> None:
        self.finished.inc(1.0, self._tags)
        tiers = sorted({c.tier for c in decision.checks})
        for tier in tiers:
            if decision.failed_tier is None or tier < decision.failed_tier:
                self.gate_passes.inc(1.0, {**self._tags, "tier": str(tier)})


class CacheMetrics:
    """FeatureService lookups that were answered from the cache, and those that computed."""

    def __init__(self) -> None:
        self.hits = Counter("raytrade_feature_service_hits",
                            "Feature requests answered from the cache.")
        self.misses = Counter("raytrade_feature_service_misses",
                              "Feature requests that computed features.")

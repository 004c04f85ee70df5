"""What the gate reads: the evidence of one run, assembled by the runner (or by a rescore)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FamilyTrials:
    """What the store says about the family: how many trials, how dispersed their Sharpes."""

    n_trials: int  # every run recorded for the family, this one included, failed ones too
    sr_variance: float  # variance of their per-bar test Sharpe ratios


@dataclass(frozen=True)
class Statistics:
    """Tier 3's evidence: the test returns, the family's trials and the canaries' metrics."""

    returns: np.ndarray  # per-bar net strategy returns on the test segment
    family: FamilyTrials
    canaries: Mapping[str, Mapping[str, float]]  # canary name -> its test metrics
    seed: int


@dataclass(frozen=True)
class Evidence:
    """Artifact hashes (recorded, found on disk), test metrics, coverage, and tier 3's inputs."""

    artifacts: Mapping[str, tuple[str, str | None]]
    metrics: Mapping[str, float]
    coverage: float
    statistics: Statistics | None = None

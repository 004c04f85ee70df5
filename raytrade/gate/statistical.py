"""Tier 3 of the gate: is the effect likely to be real, given everything that was tried?

PSR and DSR follow Bailey & López de Prado (2012, 2014); DSR deflates by the number of trials
recorded in the store for the experiment's family (all grids, all days, failed runs included).
The bootstrap and the two leakage canaries are described on their checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from raytrade.config.experiment import GateSpec
from raytrade.core.records import CheckResult
from raytrade.core.types import Verdict
from raytrade.gate.checks import TIER2
from raytrade.gate.evidence import Evidence, Statistics
from raytrade.research.stats import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_bootstrap_interval,
    sharpe_ratio_stats,
)

CANARY_SE = 2.0  # standard errors the shifted canary may beat the real run by before alarm


def _result(name: str, passed: bool, value: float, threshold: str, detail: str,
            evidence: Mapping[str, object]) -> CheckResult:
    verdict = Verdict.PASSED if passed else Verdict.FAILED
    return CheckResult(3, name, verdict, value, threshold, detail, dict(evidence))


def _statistics(ev: Evidence) -> Statistics:
    if ev.statistics is None:
        raise ValueError("tier 3 needs the run's statistics (test returns, family, canaries)")
    return ev.statistics


def psr(ev: Evidence, gate: GateSpec) -> CheckResult:
    sr, skew, kurt, n = sharpe_ratio_stats(_statistics(ev).returns)
    value = probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt)
    return _result("psr", value >= gate.min_psr, value, f">= {gate.min_psr}",
                   f"P(true Sharpe > 0) = {value:.3f} over {n} test bars",
                   {"sr": sr, "skew": skew, "kurtosis": kurt, "n_obs": n})


def dsr(ev: Evidence, gate: GateSpec) -> CheckResult:
    stats = _statistics(ev)
    sr, skew, kurt, n = sharpe_ratio_stats(stats.returns)
    fam = stats.family
    if fam.n_trials >= 2 and fam.sr_variance > 0:
        value = deflated_sharpe_ratio(sr, n, skew, kurt, fam.n_trials, fam.sr_variance)
    else:  # a family's first trial has nothing to be deflated by yet
        value = probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt)
    return _result("dsr", value >= gate.min_dsr, value, f">= {gate.min_dsr}",
                   f"deflated by N = {fam.n_trials} trials in the family, "
                   f"variance of their Sharpe {fam.sr_variance:.3g}",
                   {"n_trials": fam.n_trials, "sr_variance": fam.sr_variance, "sr": sr,
                    "skew": skew, "kurtosis": kurt, "n_obs": n})


def bootstrap_sharpe(ev: Evidence, _: GateSpec) -> CheckResult:
    stats = _statistics(ev)
    interval = sharpe_bootstrap_interval(stats.returns, confidence=0.95, seed=stats.seed)
    low, high = interval.lower, interval.upper
    return _result("bootstrap_sharpe", low > 0, low, "> 0",
                   f"95% stationary-bootstrap interval of the per-bar Sharpe [{low:.4f}, "
                   f"{high:.4f}]", {"low": low, "high": high, "seed": stats.seed})


def leakage_canaries(ev: Evidence, gate: GateSpec) -> CheckResult:
    """Fail when a canary misbehaves: the permuted-label copy passing tier 2, or the
    shifted-label copy beating the real run by more than CANARY_SE standard errors."""
    stats, real = _statistics(ev), ev.metrics
    permuted, shifted = stats.canaries["permuted"], stats.canaries["shifted"]
    as_if = Evidence(ev.artifacts, permuted, ev.coverage)
    tier2_passes = all(check(as_if, gate).verdict is Verdict.PASSED for check in TIER2)
    n = max(real.get("bars", 0.0), 2.0)
    sr = real.get("sharpe_per_bar", 0.0)
    se = math.sqrt((1 + 0.5 * sr * sr) / (n - 1)) * math.sqrt(real.get("periods_per_year", 1.0))
    margin = shifted.get("sharpe", 0.0) - real.get("sharpe", 0.0)
    problems = ([] if not tier2_passes else ["labels permuted in blocks still pass tier 2"]) + (
        [f"labels shifted one holding period into the past (the window after next) beat "
         f"the real run by {margin:.2f} Sharpe "
         f"(> {CANARY_SE} SE = {CANARY_SE * se:.2f})"] if margin > CANARY_SE * se else [])
    detail = ("leakage suspected: " + "; ".join(problems)) if problems else (
        f"permuted-label copy fails tier 2 (Sharpe {permuted.get('sharpe', 0.0):.2f}); "
        f"shifted-label copy Sharpe {shifted.get('sharpe', 0.0):.2f} vs real "
        f"{real.get('sharpe', 0.0):.2f}")
    return _result("leakage_canaries", not problems, margin, f"<= {CANARY_SE} SE", detail,
                   {"permuted_passes_tier2": tier2_passes, "shifted_margin": margin,
                    "standard_error": se})


TIER3: tuple[Callable[[Evidence, GateSpec], CheckResult], ...] = (
    psr, dsr, bootstrap_sharpe, leakage_canaries)

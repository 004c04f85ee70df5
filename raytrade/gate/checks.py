"""Gate checks: each a pure function of evidence returning a CheckResult, persisted as is.

Tier 1 (sanity) asks whether the run can be judged at all; tier 2 (performance) whether it is
worth anything after costs. Thresholds come from the experiment's `gate` section.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from raytrade.config.experiment import GateSpec
from raytrade.core.records import CheckResult
from raytrade.core.types import Verdict
from raytrade.gate.evidence import Evidence

REQUIRED_METRICS = (
    "total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades",
    "exposure", "turnover", "profit_factor", "bh_total_return", "bh_sharpe", "bh_max_drawdown",
)


Check = Callable[[Evidence, GateSpec], CheckResult]


def _result(tier: int, name: str, passed: bool, value: float | None, threshold: str,
            detail: str) -> CheckResult:
    verdict = Verdict.PASSED if passed else Verdict.FAILED
    return CheckResult(tier, name, verdict, value, threshold, detail)


def artifacts_intact(ev: Evidence, _: GateSpec) -> CheckResult:
    missing = sorted(name for name, (_, found) in ev.artifacts.items() if found is None)
    changed = sorted(name for name, (want, found) in ev.artifacts.items()
                     if found is not None and found != want)
    problems = [*([f"missing {missing}"] if missing else []),
                *([f"hash differs {changed}"] if changed else [])]
    detail = "; ".join(problems) or f"{len(ev.artifacts)} files match their sha256"
    ok = bool(ev.artifacts) and not missing and not changed
    result = _result(1, "artifacts_intact", ok, float(len(ev.artifacts)), "all files, sha256",
                     detail)
    files = {name: list(pair) for name, pair in ev.artifacts.items()}
    return replace(result, evidence={"files": files})


def metrics_finite(ev: Evidence, _: GateSpec) -> CheckResult:
    bad = [m for m in REQUIRED_METRICS if not math.isfinite(ev.metrics.get(m, math.nan))]
    detail = f"missing or not finite: {bad}" if bad else f"{len(REQUIRED_METRICS)} metrics"
    return _result(1, "metrics_finite", not bad, float(len(bad)), "0 bad", detail)


def data_coverage(ev: Evidence, gate: GateSpec) -> CheckResult:
    ok = ev.coverage >= gate.min_coverage
    return _result(1, "data_coverage", ok, ev.coverage, f">= {gate.min_coverage}",
                   f"{ev.coverage:.2%} of the calendar's bars in the experiment window")


def min_trades(ev: Evidence, gate: GateSpec) -> CheckResult:
    trades = ev.metrics.get("trades", 0.0)
    return _result(1, "min_trades", trades >= gate.min_trades, trades, f">= {gate.min_trades}",
                   f"{trades:.0f} trades on the test segment")


def positive_return(ev: Evidence, _: GateSpec) -> CheckResult:
    value = ev.metrics.get("total_return", math.nan)
    return _result(2, "positive_return", value > 0, value, "> 0",
                   f"total return {value:.2%} after costs")


def sharpe(ev: Evidence, gate: GateSpec) -> CheckResult:
    value = ev.metrics.get("sharpe", math.nan)
    return _result(2, "sharpe", value > gate.min_sharpe, value, f"> {gate.min_sharpe}",
                   f"annualised Sharpe {value:.2f}")


def win_rate(ev: Evidence, gate: GateSpec) -> CheckResult:
    low, high = gate.win_rate
    value = ev.metrics.get("win_rate", math.nan)
    return _result(2, "win_rate", low <= value <= high, value, f"[{low}, {high}]",
                   f"{value:.1%} of trades won (outside the range suggests a fluke or a leak)")


def beats_buy_and_hold(ev: Evidence, gate: GateSpec) -> CheckResult:
    if gate.capital_protection:  # judged on drawdown: protecting capital is the hypothesis
        mine, bench = ev.metrics.get("max_drawdown", math.nan), ev.metrics.get(
            "bh_max_drawdown", math.nan)
        return _result(2, "beats_buy_and_hold", mine < bench, mine, f"< {bench:.4f}",
                       f"max drawdown {mine:.2%} vs buy-and-hold {bench:.2%}")
    mine, bench = ev.metrics.get("total_return", math.nan), ev.metrics.get(
        "bh_total_return", math.nan)
    return _result(2, "beats_buy_and_hold", mine > bench, mine, f"> {bench:.4f}",
                   f"return {mine:.2%} vs buy-and-hold {bench:.2%} over the same bars")


# Each check's function name is the name of its row in gate_checks.
TIER1: tuple[Check, ...] = (artifacts_intact, metrics_finite, data_coverage, min_trades)
TIER2: tuple[Check, ...] = (positive_return, sharpe, win_rate, beats_buy_and_hold)

"""How a paper session is doing, from the store alone: live PnL, trades and Sharpe next to what
the model's backtest (its test segment) led us to expect over as many bars, and its flags."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from raytrade.core.errors import InputError
from raytrade.store import paper as store
from raytrade.store.repository import run_metrics
from raytrade.store.session import Engine


@dataclass(frozen=True)
class Expectation:
    """The backtest's test segment, scaled to the live bars where that makes sense."""

    sharpe: float | None  # annualised
    total_return: float | None  # over the test segment
    return_over_live_bars: float | None  # the same per-bar growth, over the live bars
    win_rate: float | None
    trades_per_bar: float | None


@dataclass(frozen=True)
class SessionReport:
    name: str
    run_id: int
    status: str
    halt_reason: str | None
    decisions: int
    last_bar: datetime | None
    orders: int
    open_orders: int
    trades: int  # entries that filled
    capital: float
    start_equity: float | None  # the account's equity after the first decided bar
    equity: float | None
    pnl: float | None
    total_return: float | None
    sharpe: float | None  # annualised from per-bar equity returns; None under 2 bars
    expected: Expectation
    drift_flagged: bool
    flags: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_bar"] = None if self.last_bar is None else self.last_bar.isoformat()
        return out


def session_report(engine: Engine, name: str) -> SessionReport:
    """Return the report of the session `name`; InputError when there is none."""
    row = store.get_session(engine, name)
    if row is None:
        raise InputError(f"no paper session named {name!r}; `raytrade paper ls` lists them")
    decisions = store.decisions(engine, row.id)
    orders = store.orders(engine, row.id)
    points = store.equity(engine, row.id)
    metrics = {m.name: m.value for m in run_metrics(engine, row.run_id) if m.segment == "test"}
    capital = float(row.config.get("capital", 0.0))
    # PnL counts from the account's equity after the session's first bar, not from `capital`:
    # the account may hold more than the session trades.
    start = points[0].equity if points else None
    equity = points[-1].equity if points else None
    values = np.array([p.equity for p in points], dtype=np.float64)
    returns = values[1:] / values[:-1] - 1.0 if values.size > 1 and values.min() > 0 else None
    flags = store.flags(engine, row.id)
    return SessionReport(
        name=row.name, run_id=row.run_id, status=row.status.value, halt_reason=row.halt_reason,
        decisions=len(decisions), last_bar=decisions[-1].bar_time if decisions else None,
        orders=len(orders), open_orders=sum(o.is_open for o in orders),
        trades=sum(o.intent.startswith("enter") and o.filled_qty > 0 for o in orders),
        capital=capital, equity=equity,
        start_equity=start, pnl=None if equity is None or start is None else equity - start,
        total_return=None if equity is None or not start else equity / start - 1.0,
        sharpe=_sharpe(returns, metrics.get("periods_per_year")),
        expected=_expectation(metrics, len(points)),
        drift_flagged=any(f.kind == "drift" for f in flags),
        flags=[{"kind": f.kind, "at": f.created_at.isoformat(), "value": f.value,
                "detail": f.detail} for f in flags])


def _sharpe(returns: np.ndarray | None, per_year: float | None) -> float | None:
    if returns is None or returns.size < 2 or not per_year:
        return None
    spread = float(np.std(returns, ddof=1))
    if not spread > 0:
        return None
    return float(np.mean(returns)) / spread * math.sqrt(per_year)


def _expectation(metrics: dict[str, float], live_bars: int) -> Expectation:
    total, bars = metrics.get("total_return"), metrics.get("bars")
    over_live = None
    if total is not None and bars and total > -1.0:
        over_live = (1.0 + total) ** (live_bars / bars) - 1.0
    trades = metrics.get("trades")
    return Expectation(metrics.get("sharpe"), total, over_live, metrics.get("win_rate"),
                       None if trades is None or not bars else trades / bars)


__all__ = ["Expectation", "SessionReport", "session_report"]

"""`raytrade paper parity NAME`: a session's stored decisions recomputed through the batch
FeaturePipeline and the model, from the store and the lake alone (the session's actor need not
run). A mismatch halts the session in the store, with a `parity` flag saying what differed."""

from __future__ import annotations

from dataclasses import asdict

from raytrade.config.session import SessionConfig
from raytrade.core.errors import InputError
from raytrade.core.types import SessionStatus
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.parity import Decision, ParityReport, parity
from raytrade.live.strategy import DecisionRule
from raytrade.live.trader import load_for_session
from raytrade.live.window import parity_window
from raytrade.store import paper as store
from raytrade.store.session import Engine


def check_session_parity(engine: Engine, lake: Lake, name: str,
                         last: int | None = None) -> ParityReport:
    """Recompute the last `last` decisions of session `name` (all when None)."""
    row = store.get_session(engine, name)
    if row is None:
        raise InputError(f"no paper session named {name!r}; `raytrade paper ls` lists them")
    cfg = SessionConfig.model_validate(row.config)
    model = load_for_session(engine, row.run_id).loaded
    decisions = [Decision(**asdict(d)) for d in store.decisions(engine, row.id)]
    if last is not None:
        decisions = decisions[-last:] if last > 0 else []
    key = PartitionKey(cfg.bars.source, cfg.bars.timeframe, cfg.bars.symbol)
    bars = parity_window(lake, key, decisions, model.pipeline.warmup)
    report = parity(model.pipeline, model.model, DecisionRule.from_mapping(model.decision_rule),
                    bars, decisions)
    if not report.ok:
        store.record_flag(engine, row.id, "parity", value=float(report.mismatches),
                          detail=report.describe())
        if row.status is not SessionStatus.HALTED:
            store.set_status(engine, row.id, SessionStatus.HALTED, f"parity: {report.describe()}")
    return report


__all__ = ["check_session_parity"]

"""A paper session run against the real store and a lake partition, without Ray: it refuses
models without a passing gate row, records every decision, order, fill and equity point, proves
parity on a schedule, and after a crash (between bars, or between deciding and sending) resumes
with the same decisions, no order placed twice and the broker's position as its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from paper_harness import TIMEFRAME, bars, promoted_run, session_file
from sqlalchemy import Engine

from raytrade.config.session import SessionConfig
from raytrade.core.clock import FakeClock
from raytrade.core.errors import IntegrityError
from raytrade.core.types import SessionStatus
from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.brokers import SimulatedBroker
from raytrade.live.parity import Decision
from raytrade.live.report import session_report
from raytrade.live.trader import PaperTrader, StoreJournal, load_for_session
from raytrade.store import paper as store

SERVER = pytest.mark.parametrize("database_url", ["server"], indirect=True)
SYMBOL = "BTC-USD"
KEY = PartitionKey("fake", TIMEFRAME, SYMBOL)


class SimulatedCrashError(Exception):
    """Stands in for the process dying."""


class DiesBeforeSending(StoreJournal):
    """Writes the decision and its orders, then the process dies before sending them."""

    def decided(self, decision: Decision, orders: Any) -> None:
        super().decided(decision, orders)
        if orders:
            raise SimulatedCrashError(decision.bar_time)


def _trader(cfg: SessionConfig, engine: Engine, lake: Lake, clock: FakeClock) -> PaperTrader:
    model = load_for_session(engine, cfg.model.run_id)
    broker = SimulatedBroker(cash=cfg.capital, fee_bps=model.experiment.costs.fee_bps,
                             slippage_bps=model.experiment.costs.slippage_bps)
    return PaperTrader(cfg, engine=engine, lake=lake, broker=broker, clock=clock, model=model)


async def _feed(trader: PaperTrader, lake: Lake, clock: FakeClock, frame: pl.DataFrame) -> None:
    """Bars close one by one: each lands in the lake, the clock moves to its close, a step."""
    for row in frame.iter_slices(1):
        lake.upsert(row, source="fake", timeframe=TIMEFRAME)
        clock.set(row.item(0, "ts") + TIMEFRAME.duration)
        await trader.step()


def _run(cfg: SessionConfig, engine: Engine, lake: Lake, frame: pl.DataFrame, warm: int,
         crash_after: int | None = None) -> tuple[list[Decision], list[Any]]:
    """Seed the lake with `warm` bars, start, feed the rest; crash and restart once if asked.
    Return the stored decisions and the broker's positions at the end."""
    lake.upsert(frame.head(warm), source="fake", timeframe=TIMEFRAME)
    clock = FakeClock(frame.item(warm - 1, "ts") + TIMEFRAME.duration)
    live = frame.tail(frame.height - warm)

    async def go() -> list[Any]:
        trader = _trader(cfg, engine, lake, clock)
        await trader.start()
        if crash_after is not None:
            await _feed(trader, lake, clock, live.head(crash_after))
            live_rest = live.tail(live.height - crash_after)
            trader = _trader(cfg, engine, lake, clock)  # a new process: memory gone
            await trader.start()
        else:
            live_rest = live
        await _feed(trader, lake, clock, live_rest)
        return await trader.broker.positions()

    positions = asyncio.run(go())
    row = store.get_session(engine, cfg.name)
    assert row is not None
    return [Decision(**vars(d)) for d in store.decisions(engine, row.id)], positions


@SERVER
def test_a_model_without_a_passing_gate_row_is_refused(engine: Engine, tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    with pytest.raises(IntegrityError, match="has not succeeded"):
        load_for_session(engine, run_id + 100)
    with engine.begin() as conn:  # a gate check failed after the fact (a re-audit, say)
        conn.exec_driver_sql("UPDATE gate_checks SET verdict = 'failed' WHERE run_id = %s "
                             "AND id = (SELECT min(id) FROM gate_checks WHERE run_id = %s)",
                             (run_id, run_id))
    with pytest.raises(IntegrityError, match="no passing gate record"):
        load_for_session(engine, run_id)


@SERVER
def test_a_session_records_decisions_orders_fills_and_equity_and_proves_parity(
        engine: Engine, tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    cfg = session_file("recorded", run_id, SYMBOL)
    lake = Lake(tmp_path / "lake")
    frame = bars(SYMBOL, 400)
    decisions, positions = _run(cfg, engine, lake, frame, warm=100)
    assert len(decisions) == 301  # the newest seeded bar, then every bar fed
    session = store.get_session(engine, "recorded")
    assert session is not None and session.status is SessionStatus.RUNNING
    orders = store.orders(engine, session.id)
    ids = [o.client_order_id for o in orders]
    assert sorted(ids) == sorted(i for d in decisions for i in d.order_ids)
    assert len(ids) == len(set(ids)) > 10
    filled = [o for o in orders if o.status == "filled"]
    assert len(filled) >= len(orders) - 1  # the newest bar's order waits for the next open
    for order in filled:
        [(qty, price, fee, _)] = store.fills(engine, order.client_order_id)
        assert (qty, price) == pytest.approx((order.filled_qty, order.avg_price))
        assert fee > 0  # the experiment's fee, charged as the backtest charges it
    points = store.equity(engine, session.id)
    assert len(points) == 301 and points[-1].position_qty == sum(p.qty for p in positions)
    parity_flags = store.flags(engine, session.id, "parity")
    assert parity_flags == []  # checked every 50 decisions, never a mismatch
    report = session_report(engine, "recorded")
    assert report.decisions == 301 and report.trades >= 5 and report.equity == points[-1].equity
    assert report.sharpe is not None and report.expected.sharpe is not None
    assert report.expected.return_over_live_bars is not None


@SERVER
def test_a_restarted_session_decides_exactly_as_one_that_never_stopped(
        engine: Engine, tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    frame = bars(SYMBOL, 300)
    steady, steady_positions = _run(session_file("steady", run_id, SYMBOL), engine,
                                    Lake(tmp_path / "a"), frame, warm=100)
    restarted, positions = _run(session_file("restarted", run_id, SYMBOL), engine,
                                Lake(tmp_path / "b"), frame, warm=100, crash_after=77)
    keep = ("bar_time", "features", "output", "signal", "rule_target", "target", "action")
    assert [[getattr(d, k) for k in keep] for d in restarted] == \
           [[getattr(d, k) for k in keep] for d in steady]
    assert {p.symbol: p.qty for p in positions} == \
           pytest.approx({p.symbol: p.qty for p in steady_positions})
    assert positions  # the comparison is not between two empty books


@SERVER
def test_a_crash_between_deciding_and_sending_sends_the_order_once_on_restart(
        engine: Engine, tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    cfg = session_file("crashy", run_id, SYMBOL)
    lake = Lake(tmp_path / "lake")
    frame = bars(SYMBOL, 300)
    lake.upsert(frame.head(100), source="fake", timeframe=TIMEFRAME)
    clock = FakeClock(frame.item(99, "ts") + TIMEFRAME.duration)
    live = frame.tail(200)

    async def go() -> tuple[Any, Any, list[Any]]:
        first = _trader(cfg, engine, lake, clock)
        first.session.journal = DiesBeforeSending(engine, first.session_id, clock)
        await first.start()
        with pytest.raises(SimulatedCrashError):
            await _feed(first, lake, clock, live)
        second = _trader(cfg, engine, lake, clock)
        reconciled = await second.start()
        await _feed(second, lake, clock, live.filter(pl.col("ts") > second.session.newest_bar))
        return reconciled, second, await second.broker.positions()

    reconciled, second, positions = asyncio.run(go())
    assert (reconciled.resent, reconciled.abandoned) == (1, 0) and reconciled.restored >= 1
    orders = store.orders(engine, second.session_id)
    placed = Counter(o.client_order_id for o in orders)
    assert placed and max(placed.values()) == 1
    first_order = orders[0]
    assert first_order.status == "filled"  # sent on restart, filled at the next open
    held = sum(p.qty for p in positions)
    assert (held > 0) - (held < 0) == second.session.position


@SERVER
def test_an_entry_too_late_to_send_is_closed_as_never_sent_and_the_broker_side_wins(
        engine: Engine, tmp_path: Path) -> None:
    run_id = promoted_run(engine, tmp_path)
    cfg = session_file("late", run_id, SYMBOL, risk={
        "max_position_notional": 10_000.0, "max_daily_loss": 5_000.0, "stale_after_bars": 2})
    lake = Lake(tmp_path / "lake")
    frame = bars(SYMBOL, 300)
    lake.upsert(frame.head(100), source="fake", timeframe=TIMEFRAME)
    clock = FakeClock(frame.item(99, "ts") + TIMEFRAME.duration)

    async def go() -> Any:
        first = _trader(cfg, engine, lake, clock)
        first.session.journal = DiesBeforeSending(engine, first.session_id, clock)
        await first.start()
        with pytest.raises(SimulatedCrashError):
            await _feed(first, lake, clock, frame.tail(200))
        clock.advance(timedelta(hours=1))  # down for an hour: twelve bars
        second = _trader(cfg, engine, lake, clock)
        return await second.start(), second

    reconciled, second = asyncio.run(go())
    assert (reconciled.resent, reconciled.abandoned, reconciled.adopted) == (0, 1, True)
    [order] = store.orders(engine, second.session_id)
    assert order.status == "canceled" and "never sent" in (order.reason or "")
    assert second.session.position == 0
    [flag] = store.flags(engine, second.session_id, "reconcile")
    assert "took the broker's" in flag.detail

"""Paper sessions in the store: one row per session name, one order row per client order id
whatever the retries, one decision per bar, status changes with their reasons, flags listed."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from raytrade.config.loader import load_experiment
from raytrade.config.session import SessionConfig
from raytrade.core.errors import InputError
from raytrade.core.types import SessionStatus
from raytrade.store.paper import (
    DecisionRecord,
    EquityPoint,
    decisions,
    equity,
    fills,
    flags,
    get_session,
    orders,
    record_decision,
    record_equity,
    record_fill,
    record_flag,
    record_order,
    sessions,
    set_status,
    start_session,
    update_order,
)
from raytrade.store.repository import start_run

EXPERIMENT = Path(__file__).parents[3] / "experiments" / "quickstart.yaml"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
COID = "rt-0123456789abcdef0123456789abcdef"


def _config(run_id: int, **changes: object) -> SessionConfig:
    doc: dict[str, object] = {
        "name": "btc-paper", "model": {"run_id": run_id}, "broker": {"kind": "simulated"},
        "bars": {"source": "binance", "symbol": "BTC-USDT", "timeframe": "1m"},
        "capital": 10_000, "risk": {"max_position_notional": 5_000, "max_daily_loss": 300}}
    return SessionConfig.model_validate({**doc, **changes})


@pytest.fixture
def session_id(engine: Engine) -> int:
    run_id = start_run(engine, load_experiment(EXPERIMENT), code_version="test")
    return start_session(engine, _config(run_id)).id


def _decision(minute: int, features: tuple[float, ...] = (0.5, math.nan)) -> DecisionRecord:
    return DecisionRecord(T0 + timedelta(minutes=minute), features, (0.61,), signal=1,
                          rule_target=1, target=1, opened=True, action="enter-long",
                          order_ids=(COID,))


def test_starting_a_session_again_returns_the_same_row(engine: Engine) -> None:
    run_id = start_run(engine, load_experiment(EXPERIMENT), code_version="test")
    first = start_session(engine, _config(run_id))
    assert first.status is SessionStatus.RUNNING and first.run_id == run_id
    assert start_session(engine, _config(run_id)) == first
    assert [s.name for s in sessions(engine)] == ["btc-paper"]
    assert get_session(engine, "btc-paper") == first and get_session(engine, "other") is None
    with pytest.raises(InputError, match="different session file"):
        start_session(engine, _config(run_id, capital=20_000))


def test_a_session_needs_an_existing_model_run(engine: Engine) -> None:
    with pytest.raises(SAIntegrityError):
        start_session(engine, _config(999))


def test_status_moves_with_its_reason(engine: Engine, session_id: int) -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        set_status(engine, session_id, SessionStatus.HALTED)
    halted = set_status(engine, session_id, SessionStatus.HALTED, "kill switch: loss 312 >= 300")
    assert halted.status is SessionStatus.HALTED
    assert halted.halt_reason == "kill switch: loss 312 >= 300"
    resumed = set_status(engine, session_id, SessionStatus.RUNNING)
    assert resumed.status is SessionStatus.RUNNING and resumed.halt_reason is None
    assert set_status(engine, session_id, SessionStatus.STOPPED).status is SessionStatus.STOPPED
    # A restart finds the session where it was left, not reset to running.
    stored = get_session(engine, "btc-paper")
    assert stored is not None
    assert start_session(engine, _config(stored.run_id)).status is SessionStatus.STOPPED
    with pytest.raises(InputError, match="no paper session"):
        set_status(engine, 12345, SessionStatus.STOPPED)


def test_an_order_recorded_again_keeps_one_row(engine: Engine, session_id: int) -> None:
    first = record_order(engine, session_id, client_order_id=COID, bar_time=T0,
                         intent="enter-long", symbol="BTC-USDT", side="buy", notional=5_000.0)
    again = record_order(engine, session_id, client_order_id=COID, bar_time=T0,
                         intent="enter-long", symbol="BTC-USDT", side="buy", notional=4_000.0)
    assert again == first and again.notional == 5_000.0 and again.is_open
    [stored] = orders(engine, session_id)
    assert stored.client_order_id == COID and stored.bar_time == T0
    assert stored.bar_time.tzinfo is UTC


def test_an_order_never_moves_back_to_an_earlier_state(engine: Engine, session_id: int) -> None:
    record_order(engine, session_id, client_order_id=COID, bar_time=T0, intent="enter-long",
                 symbol="BTC-USDT", side="buy", qty=0.1)
    part = update_order(engine, COID, status="partially_filled", filled_qty=0.04,
                        avg_price=42_000.0, broker_order_id="B-1")
    assert part.status == "partially_filled" and part.broker_order_id == "B-1"
    done = update_order(engine, COID, status="filled", filled_qty=0.1, avg_price=42_010.0,
                        fee=4.2)
    assert done.status == "filled" and done.broker_order_id == "B-1" and not done.is_open
    stale = update_order(engine, COID, status="partially_filled", filled_qty=0.04)
    assert stale == done
    assert orders(engine, session_id, open_only=True) == []
    with pytest.raises(InputError, match="no paper order"):
        update_order(engine, "rt-unknown", status="filled", filled_qty=1.0)


def test_a_fill_with_a_venue_id_is_recorded_once(engine: Engine, session_id: int) -> None:
    record_order(engine, session_id, client_order_id=COID, bar_time=T0, intent="enter-long",
                 symbol="BTC-USDT", side="buy", qty=0.1)
    at = T0 + timedelta(minutes=1)
    assert record_fill(engine, COID, qty=0.1, price=42_000.0, fee=4.2, ts=at, fill_id="F-1")
    assert not record_fill(engine, COID, qty=0.1, price=42_000.0, fee=4.2, ts=at, fill_id="F-1")
    assert fills(engine, COID) == [(0.1, 42_000.0, 4.2, at)]


def test_a_decision_is_kept_once_per_bar(engine: Engine, session_id: int) -> None:
    assert record_decision(engine, session_id, _decision(0))
    # A restart that decides the same bar again keeps the decision the session acted on.
    assert not record_decision(engine, session_id, _decision(0, features=(9.0, 9.0)))
    for minute in (1, 2, 3):
        record_decision(engine, session_id, _decision(minute))
    [first, *_] = stored = decisions(engine, session_id)
    assert len(stored) == 4 and first.features[0] == 0.5 and math.isnan(first.features[1])
    assert first.output == (0.61,) and first.order_ids == (COID,)
    window = decisions(engine, session_id, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    assert [d.bar_time for d in window] == [T0 + timedelta(minutes=m) for m in (1, 2)]


def test_equity_is_one_row_per_bar(engine: Engine, session_id: int) -> None:
    record_equity(engine, session_id, EquityPoint(T0, 10_000.0, 0.0, 0.0, 10_000.0))
    record_equity(engine, session_id, EquityPoint(T0, 5_000.0, 0.1, 4_990.0, 9_990.0))
    assert equity(engine, session_id) == [EquityPoint(T0, 5_000.0, 0.1, 4_990.0, 9_990.0)]


def test_flags_are_listed_by_session_and_kind(engine: Engine, session_id: int) -> None:
    record_flag(engine, session_id, "parity", value=3.0,
                detail="3 of 120 decisions differ; first at 2024-01-01 00:05: ret_1")
    record_flag(engine, session_id, "drift", value=4.2, detail="CUSUM of the return gap > 4")
    assert [f.kind for f in flags(engine, session_id)] == ["parity", "drift"]
    [drift] = flags(engine, session_id, kind="drift")
    assert drift.value == 4.2 and drift.created_at.tzinfo is UTC

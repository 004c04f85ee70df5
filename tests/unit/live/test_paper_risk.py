"""Risk limits: the kill switch flattens and halts, stale data opens nothing, the order rate
is capped, a manual halt sends nothing more; the pure checks decide, the session obeys."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from raytrade.config.experiment import FeatureSpec
from raytrade.core.clock import FakeClock
from raytrade.features.pipeline import FeaturePipeline
from raytrade.live.brokers import Bar, SimulatedBroker
from raytrade.live.paper import PaperSession
from raytrade.live.risk import Evidence, Reason, RiskLimits, check, orders_needed

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
PIPELINE = FeaturePipeline.from_spec(FeatureSpec(groups=("returns",)))
LOOSE = RiskLimits(max_position_notional=1e9, max_daily_loss=1e9, max_orders_per_minute=100)


@dataclass
class Scripted:
    """A model stub: P(up) from a script, one value per call, repeating the last one."""

    outputs: list[float]
    calls: int = field(default=0)

    def predict(self, features: np.ndarray) -> np.ndarray:
        value = self.outputs[min(self.calls, len(self.outputs) - 1)]
        self.calls += 1
        return np.full(features.shape[0], value)


@dataclass(frozen=True)
class Bundle:
    pipeline: FeaturePipeline
    model: Scripted
    decision_rule: dict[str, Any]


def bars(n: int, interval: timedelta = HOUR, drift: float = -0.005) -> pl.DataFrame:
    close = 100.0 * np.exp(drift * np.arange(1, n + 1))
    opens = np.concatenate([[100.0], close[:-1]])
    return pl.DataFrame({
        "ts": [T0 + i * interval for i in range(n)], "symbol": "BTC-USDT", "open": opens,
        "high": np.maximum(opens, close) * 1.001, "low": np.minimum(opens, close) * 0.999,
        "close": close, "volume": 1.0, "vendor": "sample", "backfilled": False,
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def session(outputs: list[float], limits: RiskLimits = LOOSE, holding: int = 1000,
            interval: timedelta = HOUR) -> tuple[PaperSession, SimulatedBroker, FakeClock]:
    rule = {"kind": "binary", "threshold": 0.5, "holding_period": holding,
            "allow_short": False, "feature_names": list(PIPELINE.feature_names)}
    broker = SimulatedBroker(cash=10_000.0, fee_bps=10.0)
    clock = FakeClock(T0)
    paper = PaperSession(Bundle(PIPELINE, Scripted(outputs), rule), broker, name="risk",
                         symbol="BTC-USDT", bar_interval=interval, capital=10_000.0,
                         limits=limits, clock=clock)
    return paper, broker, clock


def stream(paper: PaperSession, broker: SimulatedBroker, clock: FakeClock, frame: pl.DataFrame,
           lag: timedelta = timedelta(0)) -> None:
    async def run() -> None:
        for row in frame.iter_rows(named=True):
            clock.set(max(clock.now(), row["ts"] + paper.bar_interval + lag))
            broker.on_bar(Bar.from_row(row))
            await paper.on_bar(row)
    asyncio.run(run())


def held(broker: SimulatedBroker) -> float:
    return sum(p.qty for p in asyncio.run(broker.positions()))


def test_kill_switch_flattens_and_halts() -> None:
    limits = RiskLimits(max_position_notional=1e9, max_daily_loss=50.0, max_orders_per_minute=9)
    paper, broker, clock = session([1.0], limits)
    stream(paper, broker, clock, bars(PIPELINE.warmup + 20))  # prices fall 0.5% a bar
    killed = next(k for k, d in enumerate(paper.decisions) if d.reason == Reason.KILL_SWITCH)
    assert paper.decisions[0].action == "enter-long"
    assert (paper.decisions[killed].target, paper.decisions[killed].action) == (0, "exit-long")
    assert len(paper.decisions[killed].order_ids) == 1
    after = paper.decisions[killed + 1:]
    assert after and all(d.reason == Reason.HALTED and not d.order_ids for d in after)
    assert paper.halted_reason is not None and paper.halted_reason.startswith("kill switch")
    assert held(broker) == 0.0  # the exit filled at the next open


def test_stale_data_opens_no_position() -> None:
    paper, broker, clock = session([1.0])
    stream(paper, broker, clock, bars(PIPELINE.warmup + 5), lag=2 * HOUR + timedelta(seconds=1))
    assert paper.decisions and all(
        d.signal == 1 and d.target == 0 and d.reason == Reason.STALE_DATA and not d.order_ids
        for d in paper.decisions)
    assert held(broker) == 0.0


def test_stale_data_still_lets_a_position_close() -> None:
    evidence = Evidence(now=T0 + 10 * HOUR, bar_close=T0, bar_interval=HOUR,
                        day_start_equity=1.0, equity=1.0, orders_last_minute=0, halted=False)
    assert check(1, 0, evidence, LOOSE).target == 0
    assert check(1, -1, evidence, LOOSE).target == 0  # a reversal only exits
    assert check(1, 1, evidence, LOOSE).target == 1  # holding on is not a new position
    assert check(0, 1, evidence, LOOSE).reason == Reason.STALE_DATA


def test_order_rate_is_capped_per_minute_of_clock_time() -> None:
    interval = timedelta(seconds=20)
    limits = RiskLimits(max_position_notional=1e9, max_daily_loss=1e9, max_orders_per_minute=1)
    paper, broker, clock = session([1.0, 0.0] * 50, limits, holding=1, interval=interval)
    stream(paper, broker, clock, bars(PIPELINE.warmup + 30, interval))
    limited = [d for d in paper.decisions if d.reason == Reason.ORDER_RATE]
    assert limited and all(not d.order_ids for d in limited)
    sent = [d.bar_time for d in paper.decisions for _ in d.order_ids]
    assert len(sent) > 3
    assert all(b - a >= timedelta(minutes=1) for a, b in itertools.pairwise(sent))


def test_kill_switch_flattens_even_past_the_order_rate_cap() -> None:
    evidence = Evidence(now=T0, bar_close=T0, bar_interval=HOUR, day_start_equity=100.0,
                        equity=10.0, orders_last_minute=99, halted=False)
    decision = check(-1, -1, evidence, RiskLimits(1e9, 50.0, 1))
    assert (decision.target, decision.halt, decision.reason) == (0, True, Reason.KILL_SWITCH)
    assert orders_needed(1, -1) == 2 and orders_needed(0, 0) == 0


def test_manual_halt_sends_nothing_more_and_keeps_the_position() -> None:
    paper, broker, clock = session([1.0, 1.0, 0.0, 1.0], holding=1)
    frame = bars(PIPELINE.warmup + 8)
    stream(paper, broker, clock, frame.head(PIPELINE.warmup + 1))
    assert [d.action for d in paper.decisions] == ["enter-long", "none"]  # held on
    paper.halt("operator")
    stream(paper, broker, clock, frame.tail(7))
    after = paper.decisions[2:]
    assert all(d.reason == Reason.HALTED and not d.order_ids and d.target == 1 for d in after)
    assert paper.halted_reason == "operator" and held(broker) > 0


def test_parity_mismatch_halts_the_session() -> None:
    paper, broker, clock = session([0.3])
    frame = bars(PIPELINE.warmup + 3)
    stream(paper, broker, clock, frame)
    altered = frame.with_columns(close=pl.col("close") * 1.01)
    report = paper.parity(altered)
    assert not report.ok and report.first_feature is not None
    assert paper.halted_reason is not None and paper.halted_reason.startswith("parity")

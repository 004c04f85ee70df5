"""Parity: 500 bars streamed one by one through a paper session produce exactly the signals,
positions and trades that the batch pipeline, the model and the backtest produce over the
same bars; and a bar changed after the fact is caught by the parity check, feature named."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from raytrade.config.experiment import FeatureSpec, ModelParams
from raytrade.core.clock import FakeClock
from raytrade.core.types import Timeframe
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.features.pipeline import FeaturePipeline
from raytrade.live.brokers import Bar, SimulatedBroker
from raytrade.live.paper import PaperSession
from raytrade.live.parity import parity
from raytrade.live.risk import RiskLimits
from raytrade.research.backtest import backtest
from raytrade.research.labels import forward_returns
from raytrade.research.training import TrainedModel, binary_signals, train_model

SYMBOL, HOLDING, LIVE_BARS, FEE_BPS, SLIP_BPS = "BTC-USDT", 4, 500, 10.0, 2.0
INTERVAL = Timeframe.H1.duration
LIMITS = RiskLimits(max_position_notional=1e12, max_daily_loss=1e12, max_orders_per_minute=10)


@dataclass(frozen=True)
class Loaded:
    pipeline: FeaturePipeline
    model: TrainedModel
    decision_rule: dict[str, Any]


@dataclass(frozen=True)
class Streamed:
    loaded: Loaded
    bars: pl.DataFrame  # warm-up plus the live bars, as streamed
    session: PaperSession
    broker: SimulatedBroker


def _train(pipeline: FeaturePipeline, history: pl.DataFrame) -> Loaded:
    frame = pipeline.transform(history.lazy()).collect()
    close = frame.get_column("close").to_numpy()
    forward = forward_returns(close, HOLDING)
    x = frame.select(pipeline.feature_names).to_numpy()
    usable = np.flatnonzero(~np.isnan(x).any(axis=1) & ~np.isnan(forward))
    train, val = usable[: len(usable) * 3 // 4], usable[len(usable) * 3 // 4:]
    y = (forward > 0).astype(np.float64)
    model = train_model(x[train], y[train], x[val], y[val], kind="binary",
                        params=ModelParams(num_boost_round=40, early_stopping_rounds=10,
                                           max_depth=3, eta=0.2),
                        seed=3, feature_names=pipeline.feature_names, threads=1)
    threshold = float(np.quantile(model.predict(x[val]), 0.6))
    rule = {"kind": "binary", "threshold": threshold, "best_iteration": model.best_iteration,
            "feature_names": list(pipeline.feature_names), "holding_period": HOLDING,
            "allow_short": False}
    return Loaded(pipeline, model, rule)


async def _stream(session: PaperSession, broker: SimulatedBroker, clock: FakeClock,
                  bars: pl.DataFrame) -> None:
    for row in bars.iter_rows(named=True):
        clock.set(row["ts"] + INTERVAL)  # the bar has just closed
        broker.on_bar(Bar.from_row(row))  # fills what the last bar ordered, at this open
        await session.on_bar(row)


@pytest.fixture(scope="module")
def streamed() -> Streamed:
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="crypto"))
    spec = SimulatorSpec(seed=11, signal_strength=0.1, missing_rate=0.0, outages_per_year=0.0)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bars = simulate_bars(SYMBOL, Timeframe.H1, start, start + timedelta(days=200), spec)
    n_live = pipeline.warmup - 1 + LIVE_BARS
    history, live = bars.head(bars.height - n_live), bars.tail(n_live)
    loaded = _train(pipeline, history)
    clock = FakeClock(live.item(0, "ts"))
    broker = SimulatedBroker(cash=100_000.0, fee_bps=FEE_BPS, slippage_bps=SLIP_BPS)
    session = PaperSession(loaded, broker, name="parity", symbol=SYMBOL, bar_interval=INTERVAL,
                           capital=100_000.0, limits=LIMITS, clock=clock)
    asyncio.run(_stream(session, broker, clock, live))
    return Streamed(loaded, live, session, broker)


def test_streamed_bars_give_the_backtests_signals_positions_and_trades(
        streamed: Streamed) -> None:
    decisions, loaded = streamed.session.decisions, streamed.loaded
    assert len(decisions) == LIVE_BARS
    batch = loaded.pipeline.transform(streamed.bars.lazy()).collect().tail(LIVE_BARS)
    x = batch.select(loaded.pipeline.feature_names).to_numpy()
    signals = binary_signals(loaded.model.predict(x), loaded.decision_rule["threshold"])
    assert [d.signal for d in decisions] == signals.tolist()
    assert 10 < signals.sum() < LIVE_BARS - 10  # the model trades, and not on every bar

    result = backtest(batch.get_column("close").to_numpy(), signals, holding_period=HOLDING,
                      fee_bps=FEE_BPS, slippage_bps=SLIP_BPS)
    targets = [d.target for d in decisions]
    # the backtest closes what is open at the segment's last bar; a live session cannot know
    assert targets[:-1] == result.position[:-1].tolist() and result.position[-1] == 0
    opened = [t for t, d in enumerate(decisions[:-1]) if d.opened]
    assert opened == result.trades["entry_index"].to_list()
    assert len(opened) == result.trades.height > 5

    entries, exits = result.trades["entry_index"].to_list(), result.trades["exit_index"]
    fresh = [e for k, e in enumerate(entries) if k == 0 or e != exits[k - 1]]
    entered = [t for t, d in enumerate(decisions[:-1]) if "enter-long" in d.action]
    assert entered == fresh  # continuations send no order, as the backtest pays no cost
    assert all(d.reason is None for d in decisions)


def test_every_order_reaches_the_broker_once_and_fills_at_the_next_open(
        streamed: Streamed) -> None:
    async def states() -> list[Any]:
        ids = [i for d in streamed.session.decisions for i in d.order_ids]
        assert len(ids) == len(set(ids))
        return [await streamed.broker.order(i) for i in ids]

    found = asyncio.run(states())
    assert found and all(s is not None for s in found)
    final = streamed.session.decisions[-1].order_ids  # nothing comes after them to fill them
    assert all(s.status == "filled" and s.updated_at > d.bar_time
               for d in streamed.session.decisions if not set(d.order_ids) & set(final)
               for s in found if s.client_order_id in d.order_ids)


def test_parity_reports_no_mismatch_over_the_streamed_bars(streamed: Streamed) -> None:
    report = parity(streamed.loaded.pipeline, streamed.loaded.model, streamed.session.rule,
                    streamed.bars, streamed.session.decisions)
    assert report.ok, report.describe()
    assert (report.checked, report.mismatches, report.max_abs_diff) == (LIVE_BARS, 0, 0.0)


def test_a_bar_changed_after_the_fact_is_caught_with_the_first_feature_named(
        streamed: Streamed) -> None:
    k = streamed.bars.height - 200
    altered = streamed.bars.with_columns(
        close=pl.when(pl.int_range(pl.len()) == k).then(pl.col("close") * 1.01)
        .otherwise(pl.col("close")))
    report = parity(streamed.loaded.pipeline, streamed.loaded.model, streamed.session.rule,
                    altered, streamed.session.decisions)
    assert report.mismatches > 0 and report.max_abs_diff > 0
    assert report.first_bar == streamed.bars.item(k, "ts")
    assert report.first_feature == "ret_1"  # the first feature in model order that reads it
    assert "ret_1" in report.describe()

"""Benchmark a paper session's latency: a closed bar's arrival to its order reaching the broker.

    python bench/paper.py [--bars 10000 --batch-sample 1000 --repeat 5 --profile]

A small binary XGBoost model is trained on simulated hourly BTC-USDT bars (the crypto feature
set, as tests/integration/live/test_paper_parity.py does), then `--bars` later bars are
streamed one by one into a `PaperSession` trading through the `SimulatedBroker` on a fake
clock. "The order reaches the broker" is the moment `submit` is called: a thin wrapper around
the broker stamps it. Reported, over the bars after the warm-up: arrival -> submit for the bars
that send an order, and the whole `on_bar` call for every bar (p50, p99, max).
Baseline, measured in the same run on the same bars: computing the same row with the batch
`FeaturePipeline.transform` over a window of `warmup` bars (median over `--batch-sample` rows),
and the full batch over all streamed bars, amortised per row (median of `--repeat`). The live
features are checked against the full batch: any difference exits 1.
Target on 2 cores: p99 arrival -> submit < 20 ms; exit 1 if missed. `--profile` also prints
where `on_bar` spends its time (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from raytrade.config.experiment import FeatureSpec, ModelParams
from raytrade.core.clock import FakeClock
from raytrade.core.types import Timeframe
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.features.pipeline import FeaturePipeline
from raytrade.live.brokers import Bar, SimulatedBroker
from raytrade.live.brokers.base import Account, OrderRequest, OrderState, Position
from raytrade.live.paper import PaperSession
from raytrade.live.risk import RiskLimits
from raytrade.research.labels import forward_returns
from raytrade.research.training import TrainedModel, train_model

SYMBOL, HOLDING, HISTORY_DAYS = "BTC-USDT", 4, 200
INTERVAL = Timeframe.H1.duration
LIMITS = RiskLimits(max_position_notional=1e12, max_daily_loss=1e12, max_orders_per_minute=10)
TARGET_P99_MS = 20.0


@dataclass(frozen=True)
class Loaded:
    pipeline: FeaturePipeline
    model: TrainedModel
    decision_rule: dict[str, Any]


class StampingBroker:
    """The simulated broker, with the perf_counter time of every `submit` call recorded."""

    name = "simulated"

    def __init__(self, inner: SimulatedBroker) -> None:
        self.inner = inner
        self.submitted: list[float] = []

    async def submit(self, order: OrderRequest) -> OrderState:
        self.submitted.append(time.perf_counter())
        return await self.inner.submit(order)

    async def cancel(self, client_order_id: str) -> OrderState:
        return await self.inner.cancel(client_order_id)

    async def order(self, client_order_id: str) -> OrderState | None:
        return await self.inner.order(client_order_id)

    async def open_orders(self) -> list[OrderState]:
        return await self.inner.open_orders()

    async def positions(self) -> list[Position]:
        return await self.inner.positions()

    async def account(self) -> Account:
        return await self.inner.account()

    async def close(self) -> None:
        await self.inner.close()


def train(pipeline: FeaturePipeline, history: pl.DataFrame) -> Loaded:
    """Fit the parity test's small model: P(close up after HOLDING bars), 40 rounds."""
    frame = pipeline.transform(history.lazy()).collect()
    close = frame.get_column("close").to_numpy()
    forward = forward_returns(close, HOLDING)
    x = frame.select(pipeline.feature_names).to_numpy()
    usable = np.flatnonzero(~np.isnan(x).any(axis=1) & ~np.isnan(forward))
    fit, val = usable[: len(usable) * 3 // 4], usable[len(usable) * 3 // 4:]
    y = (forward > 0).astype(np.float64)
    model = train_model(x[fit], y[fit], x[val], y[val], kind="binary",
                        params=ModelParams(num_boost_round=40, early_stopping_rounds=10,
                                           max_depth=3, eta=0.2),
                        seed=3, feature_names=pipeline.feature_names, threads=1)
    threshold = float(np.quantile(model.predict(x[val]), 0.6))
    rule = {"kind": "binary", "threshold": threshold, "best_iteration": model.best_iteration,
            "feature_names": list(pipeline.feature_names), "holding_period": HOLDING,
            "allow_short": False}
    return Loaded(pipeline, model, rule)


@dataclass
class Stream:
    on_bar_ms: list[float]  # every decided bar
    to_submit_ms: list[float]  # bars that sent an order: arrival -> first submit call
    features: np.ndarray  # (bars, features) as the session computed them


async def stream(session: PaperSession, broker: StampingBroker, clock: FakeClock,
                 bars: pl.DataFrame) -> Stream:
    on_bar_ms: list[float] = []
    to_submit_ms: list[float] = []
    features = []
    for row in bars.iter_rows(named=True):
        clock.set(row["ts"] + INTERVAL)  # the bar has just closed
        broker.inner.on_bar(Bar.from_row(row))  # fills what the last bar ordered
        sent = len(broker.submitted)
        began = time.perf_counter()  # the bar arrives
        decision = await session.on_bar(row)
        ended = time.perf_counter()
        if decision is None:
            continue
        on_bar_ms.append((ended - began) * 1e3)
        features.append(decision.features)
        if len(broker.submitted) > sent:
            to_submit_ms.append((broker.submitted[sent] - began) * 1e3)
    return Stream(on_bar_ms, to_submit_ms, np.array(features))


def batch_window_ms(pipeline: FeaturePipeline, bars: pl.DataFrame, sample: int) -> float:
    """Median time of one row by `transform` over that row's last `warmup` bars."""
    w = pipeline.warmup
    ends = np.linspace(w, bars.height, num=min(sample, bars.height - w + 1), dtype=int)
    times = []
    for end in ends:
        window = bars.slice(int(end) - w, w).lazy()
        began = time.perf_counter()
        pipeline.transform(window).collect().tail(1)
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times)


def batch_full(pipeline: FeaturePipeline, bars: pl.DataFrame,
               repeat: int) -> tuple[float, pl.DataFrame]:
    """Median time of the whole batch `transform`, and its result."""
    times, frame = [], pl.DataFrame()
    for _ in range(repeat):
        began = time.perf_counter()
        frame = pipeline.transform(bars.lazy()).collect()
        times.append(time.perf_counter() - began)
    return statistics.median(times), frame


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--batch-sample", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="crypto"))
    n_streamed = pipeline.warmup - 1 + args.bars
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=HISTORY_DAYS) + INTERVAL * (n_streamed + 48)
    spec = SimulatorSpec(seed=11, signal_strength=0.1, missing_rate=0.0, outages_per_year=0.0)
    bars = simulate_bars(SYMBOL, Timeframe.H1, start, end, spec)
    history, live = bars.head(bars.height - n_streamed), bars.tail(n_streamed)
    loaded = train(pipeline, history)

    clock = FakeClock(live.item(0, "ts"))
    broker = StampingBroker(SimulatedBroker(cash=100_000.0, fee_bps=10.0, slippage_bps=2.0))
    session = PaperSession(loaded, broker, name="bench", symbol=SYMBOL, bar_interval=INTERVAL,
                           capital=100_000.0, limits=LIMITS, clock=clock)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    result = asyncio.run(stream(session, broker, clock, live))
    if profiler is not None:
        profiler.disable()

    window_ms = batch_window_ms(pipeline, live, args.batch_sample)
    full_s, batch = batch_full(pipeline, live, args.repeat)
    full_row_ms = full_s / batch.height * 1e3
    expected = batch.tail(args.bars).select(pipeline.feature_names).to_numpy()
    mismatches = int((~np.isclose(result.features, expected, rtol=0.0, atol=0.0,
                                  equal_nan=True)).any(axis=1).sum())

    print(f"paper session, {len(result.on_bar_ms)} hourly {SYMBOL} bars after a warm-up of "
          f"{pipeline.warmup}, {len(pipeline.feature_names)} crypto features, "
          f"{len(result.to_submit_ms)} bars sent an order:")
    for label, values in (("arrival -> submit (bars with an order)", result.to_submit_ms),
                          ("on_bar, every bar", result.on_bar_ms)):
        print(f"  {label:<40} p50 {pct(values, 50):6.2f} ms  p99 {pct(values, 99):6.2f} ms  "
              f"max {max(values):6.2f} ms")
    p50, p99 = pct(result.to_submit_ms, 50), pct(result.to_submit_ms, 99)
    print(f"baseline, same bars, same run:\n"
          f"  batch transform over a {pipeline.warmup}-bar window, per row (median of "
          f"{min(args.batch_sample, live.height - pipeline.warmup + 1)}): {window_ms:.2f} ms\n"
          f"  full batch transform of {batch.height} rows, amortised per row (median of "
          f"{args.repeat}): {full_row_ms * 1e3:.2f} us")
    print(f"ratios: submit p50 / window row = {p50 / window_ms:.2f}x, "
          f"submit p99 / window row = {p99 / window_ms:.2f}x, "
          f"submit p50 / full-batch row = {p50 / full_row_ms:.0f}x")
    print(f"live features equal to the batch's in {args.bars - mismatches} of {args.bars} rows")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    met = p99 < TARGET_P99_MS
    print(f"target p99 < {TARGET_P99_MS:g} ms on 2 cores: {'met' if met else 'MISSED'}")
    return 0 if met and mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the equities feature set against the same 14 features written plainly in pandas.

    python bench/features.py [--bars 5000000 --symbols 50 --repeat 7 --pandas-repeat 3]

Bars come from the seeded simulator (5-minute crypto-style symbols, volume included); their
generation is not timed. Both implementations run in this process on the same frame; the script
prints rows/s of each (medians), the ratio, and the largest difference between them, and exits
non-zero if the values disagree (null positions, or a difference above 1e-9 relative).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl

from raytrade.config.experiment import FeatureSpec
from raytrade.core.types import Timeframe
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.features import FeaturePipeline

TOLERANCE = 1e-9
TARGET_ROWS_PER_S = 10e6
TARGET_RATIO = 8.0
START = datetime(2020, 1, 1, tzinfo=UTC)


def make_bars(n_bars: int, n_symbols: int, seed: int) -> pl.DataFrame:
    """Return `n_bars` simulated 5-minute bars, split evenly over `n_symbols`, sorted."""
    per_symbol = n_bars // n_symbols
    end = START + timedelta(minutes=5 * int(per_symbol * 1.05 + 1000))  # room for feed gaps
    frames = []
    for i in range(n_symbols):
        bars = simulate_bars(f"S{i:03d}-USD", Timeframe.M5, START, end, SimulatorSpec(seed=seed))
        frames.append(bars.head(per_symbol))
    return pl.concat(frames).sort("symbol", "ts")


def pandas_features(df: pd.DataFrame) -> pd.DataFrame:
    """Return the equities set computed the plain pandas way: groupby, shift, rolling."""
    sym = df["symbol"]
    close, high, low, volume = df["close"], df["high"], df["low"], df["volume"]

    def lag(s: pd.Series, k: int) -> pd.Series:
        return s.groupby(sym, sort=False).shift(k)

    def rolling(s: pd.Series, n: int) -> pd.core.window.rolling.RollingGroupby:
        return s.groupby(sym, sort=False).rolling(n)

    def flat(s: pd.Series) -> pd.Series:
        return s.reset_index(level=0, drop=True)

    log_close = np.log(close)
    ret = log_close - lag(log_close, 1)
    hl = np.log(high / low)
    out = pd.DataFrame(index=df.index)
    out["ret_1"], out["ret_5"] = ret, log_close - lag(log_close, 5)
    out["ret_20"] = log_close - lag(log_close, 20)
    out["rv_20"] = flat(rolling(ret, 20).std())
    out["pk_20"] = np.sqrt(flat(rolling(hl * hl, 20).mean()) / (4 * math.log(2)))
    gains, moves = flat(rolling(ret.clip(lower=0), 14).mean()), flat(rolling(ret.abs(), 14).mean())
    out["rsi_14"] = (100 * gains / moves).where(moves != 0, 50.0).where(moves.notna())
    out["roc_10"] = close / lag(close, 10) - 1
    out["ma_dist_50"] = close / flat(rolling(close, 50).mean()) - 1
    sma = flat(rolling(close, 20).mean())
    out["ma_slope_20"] = sma / lag(sma, 5) - 1
    out["clv"] = ((2 * close - high - low) / (high - low)).where(high != low, 0.0)
    out["vol_z_20"] = _zscore(volume, flat(rolling(volume, 20).mean()),
                              flat(rolling(volume, 20).var()))
    typical = (high + low + close) / 3
    vwap = flat(rolling(typical * volume, 20).sum()) / flat(rolling(volume, 20).sum())
    out["vwap_dist_20"] = close / vwap - 1
    ts = df["ts"]
    day_us = (ts.dt.hour * 3600 + ts.dt.minute * 60 + ts.dt.second) * 1e6 + ts.dt.microsecond
    angle = day_us * (2 * math.pi / 86_400e6)
    out["tod_sin"], out["tod_cos"] = np.sin(angle), np.cos(angle)
    return out


def _zscore(x: pd.Series, mean: pd.Series, var: pd.Series) -> pd.Series:
    z = (x - mean) / np.sqrt(var)
    return z.where(var > 1e-14 * mean * mean, 0.0).where(var.notna())


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    """Return the wall times of `repeat` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def report_speed(label: str, times: list[float], rows: int) -> float:
    """Print the median time and rows/s of `times`; return the median."""
    median = statistics.median(times)
    runs = ", ".join(f"{t:.3f}" for t in times)
    print(f"{label + ':':16s} median {median:.3f} s  {rows / median / 1e6:6.2f} M rows/s  "
          f"(runs: {runs})")
    return median


def compare(ours: pl.DataFrame, theirs: pd.DataFrame,
            names: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Return, per feature, (max |a - b| / max(|b|, rms(b)), max |a - b|); inf if nulls differ.

    Relative to the feature's own scale where a value is smaller than its typical size: a
    feature that crosses zero (`ratio - 1`, a z-score) turns a rounding difference of 1e-16 of
    the ratio into any relative difference at all near zero, in every pair of implementations.
    """
    worst = {}
    for name in names:
        a = ours.get_column(name).fill_nan(None).to_numpy().astype(np.float64)
        b = theirs[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            worst[name] = (math.inf, math.inf)
            continue
        ok = ~np.isnan(b)
        diff, b = np.abs(a[ok] - b[ok]), b[ok]
        if not b.size:
            worst[name] = (0.0, 0.0)
            continue
        rms = math.sqrt(float(np.mean(b * b))) or 1.0
        worst[name] = (float(np.max(diff / np.maximum(np.abs(b), rms))), float(np.max(diff)))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=5_000_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pandas-repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    bars = make_bars(args.bars, args.symbols, args.seed)
    frame = bars.to_pandas()
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="equities"))
    names = pipeline.feature_names
    print(f"{bars.height:,} bars of {args.symbols} symbols; {len(names)} features; "
          f"polars {pl.__version__}, pandas {pd.__version__}; "
          f"load average before: {os.getloadavg()[0]:.2f}")

    # one untimed run each first: allocator and page-cache warm-up
    ours_times, ours = timed(lambda: pipeline.transform(bars.lazy()).collect(), args.repeat + 1)
    theirs_times, theirs = timed(lambda: pandas_features(frame), args.pandas_repeat + 1)
    assert isinstance(ours, pl.DataFrame) and isinstance(theirs, pd.DataFrame)
    ours_s = report_speed("FeaturePipeline", ours_times[1:], bars.height)
    theirs_s = report_speed("pandas", theirs_times[1:], bars.height)
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on these cores slows both)")
    ratio = theirs_s / ours_s
    met = bars.height / ours_s >= TARGET_ROWS_PER_S and ratio >= TARGET_RATIO
    print(f"ratio: {ratio:.1f}x faster than pandas; target >= {TARGET_ROWS_PER_S / 1e6:.0f} M "
          f"rows/s and >= {TARGET_RATIO:.0f}x: {'met' if met else 'NOT met'}")

    worst = compare(ours, theirs, names)
    print("per feature: max |diff| / max(|pandas|, rms of the feature), and max |diff|")
    for name, (rel, absolute) in worst.items():
        print(f"  {name:14s} {rel:.2e}  {absolute:.2e}")
    overall = max(rel for rel, _ in worst.values())
    print(f"max rel diff vs pandas: {overall:.2e} (tolerance {TOLERANCE:.0e}); null positions "
          f"{'differ' if math.isinf(overall) else 'identical'}")
    if not overall <= TOLERANCE:
        print("FAIL: the pipeline and pandas disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

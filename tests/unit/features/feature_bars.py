"""Random canonical bars for feature property tests, and the reusable truncation checker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from raytrade.data.schema import conform, sort_bars

SYMBOLS = ("AAA-USD", "BBB", "CCC-EUR")
T0 = datetime(2021, 3, 27, 22, 0, tzinfo=UTC)  # a weekend and a DST change nearby
Compute = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class SeriesSpec:
    """How one random symbol's bars look: size, price level, volatility, quirks."""

    seed: int
    n: int
    level: float
    vol: float
    flat_share: float  # share of bars with no move at all (close = previous close, high = low)
    zero_volume_share: float
    null_volume_share: float


def series_specs(min_n: int = 1, max_n: int = 120) -> st.SearchStrategy[SeriesSpec]:
    return st.builds(
        SeriesSpec,
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(min_n, max_n),
        level=st.sampled_from([1e-4, 0.5, 100.0, 65_000.0]),
        vol=st.sampled_from([0.0, 1e-5, 2e-3, 0.05]),
        flat_share=st.sampled_from([0.0, 0.0, 0.3, 1.0]),
        zero_volume_share=st.sampled_from([0.0, 0.0, 0.2]),
        null_volume_share=st.sampled_from([0.0, 0.0, 0.0, 0.1]),
    )


def series_bars(spec: SeriesSpec, symbol: str) -> pl.DataFrame:
    """Return canonical bars of one symbol drawn from `spec` (5-minute steps, random gaps)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n
    moves = rng.standard_normal(n) * spec.vol * (rng.random(n) >= spec.flat_share)
    close = spec.level * np.exp(np.cumsum(moves))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.standard_normal((2, n))) * spec.vol * (moves != 0)
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = np.exp(rng.standard_normal(n)) * 1_000.0
    volume[rng.random(n) < spec.zero_volume_share] = 0.0
    volume_list: list[float | None] = volume.tolist()
    for i in np.flatnonzero(rng.random(n) < spec.null_volume_share):
        volume_list[i] = None
    steps = np.cumsum(rng.integers(1, 4, n))  # gaps of up to two missing bars
    ts = [T0 + timedelta(minutes=5 * int(s)) for s in steps]
    frame = pl.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close,
                          "volume": pl.Series(volume_list, dtype=pl.Float64)})
    return conform(frame, symbol=symbol, vendor="test")


@st.composite
def bar_frames(draw: st.DrawFn, min_symbols: int = 1, max_symbols: int = 3,
               min_n: int = 1, max_n: int = 120) -> pl.DataFrame:
    """Draw bars of one to three symbols, sorted by (symbol, ts)."""
    count = draw(st.integers(min_symbols, max_symbols))
    specs = draw(st.lists(series_specs(min_n, max_n), min_size=count, max_size=count))
    frames = [series_bars(spec, symbol) for spec, symbol in zip(specs, SYMBOLS, strict=False)]
    return sort_bars(pl.concat(frames))


def assert_truncation_invariant(compute: Compute, bars: pl.DataFrame,
                                cuts: Sequence[datetime]) -> None:
    """Assert that features at each bar, computed from the bars up to a cut, equal the features
    computed from every bar: for each cut, all symbols lose the bars after it.

    Raises AssertionError naming the cut if any value differs (nulls included, exactly).
    """
    full = compute(bars)
    for cut in cuts:
        truncated = compute(bars.filter(pl.col("ts") <= cut))
        expected = full.filter(pl.col("ts") <= cut)
        try:
            assert_frame_equal(truncated, expected, check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"features up to {cut} depend on later bars: {exc}") from None


def cut_times(bars: pl.DataFrame, fractions: Sequence[float]) -> list[datetime]:
    """Return bar times at the given fractions of the frame's distinct timestamps."""
    times = bars.get_column("ts").unique().sort().to_list()
    return [times[min(int(f * len(times)), len(times) - 1)] for f in fractions]

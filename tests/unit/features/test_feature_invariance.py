"""Features never read the future and never read another symbol's bars."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest
from feature_bars import (
    Compute,
    SeriesSpec,
    assert_truncation_invariant,
    bar_frames,
    cut_times,
    series_bars,
    series_specs,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from raytrade.data.schema import sort_bars
from raytrade.features import FEATURES, Feature, FeaturePipeline
from raytrade.features.exprs import Node, bar, derive

EVERY_FEATURE = FeaturePipeline(tuple(FEATURES.values()))
PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FRACTIONS = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4)


def compute_with(pipeline: FeaturePipeline) -> Compute:
    return lambda bars: pipeline.transform(bars.lazy()).collect()


@PROPERTY
@given(bars=bar_frames(), fractions=FRACTIONS)
def test_every_feature_at_a_bar_ignores_later_bars(bars: pl.DataFrame,
                                                   fractions: list[float]) -> None:
    assert_truncation_invariant(compute_with(EVERY_FEATURE), bars, cut_times(bars, fractions))


def _next_bar_return() -> Node:
    close = bar("close")
    return derive("leak_next", close.ref.shift(-1) / close.ref - 1.0, close)


def _centred_mean() -> Node:
    close = bar("close")
    return derive("leak_centred", close.ref.rolling_mean(5, center=True), close)


@pytest.mark.parametrize("formula", [_next_bar_return, _centred_mean])
@settings(max_examples=10, deadline=None)
@given(bars=bar_frames(max_symbols=1, min_n=20),
       fractions=st.lists(st.floats(0.4, 0.8), min_size=1, max_size=3))
def test_truncation_check_catches_a_leaking_feature(formula: Callable[[], Node],
                                                    bars: pl.DataFrame,
                                                    fractions: list[float]) -> None:
    # defined only here: the same checker that passes every registered feature must fail these
    leak = Feature("leak", "returns", 5, False, formula)
    leaking = FeaturePipeline((leak,))
    with pytest.raises(AssertionError, match="depend on later bars"):
        assert_truncation_invariant(compute_with(leaking), bars, cut_times(bars, fractions))


@PROPERTY
@given(own=series_specs(min_n=1, max_n=90), others=st.lists(series_specs(), min_size=1,
                                                                max_size=2))
def test_a_symbols_features_ignore_other_symbols_bars(own: SeriesSpec,
                                                      others: list[SeriesSpec]) -> None:
    alone = series_bars(own, "BBB")
    neighbours = [series_bars(spec, sym) for spec, sym in zip(others, ("AAA-USD", "CCC-EUR"),
                                                               strict=False)]
    together = sort_bars(pl.concat([alone, *neighbours]))
    compute = compute_with(EVERY_FEATURE)
    mixed = compute(together).filter(pl.col("symbol") == "BBB")
    assert_frame_equal(mixed, compute(alone), check_exact=True)


@settings(max_examples=10, deadline=None)
@given(bars=bar_frames(min_symbols=2, min_n=60, max_n=200))
def test_chunked_evaluation_equals_one_piece(bars: pl.DataFrame) -> None:
    # chunks overlap by warmup - 1 rows, shorter than some chunks and longer than others
    plan = EVERY_FEATURE.plan
    whole = plan.run(bars, chunk_rows=bars.height)
    for rows in (17, 64):
        assert_frame_equal(plan.run(bars, chunk_rows=rows), whole, check_exact=True)

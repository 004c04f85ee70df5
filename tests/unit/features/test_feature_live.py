"""The live path gives the batch numbers; declared windows are exactly what formulas read."""

from __future__ import annotations

import polars as pl
import pytest
from feature_bars import SeriesSpec, series_bars, series_specs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from raytrade.config.experiment import FEATURE_GROUPS, FeatureSpec
from raytrade.core.errors import InputError
from raytrade.features import FEATURES, Feature, FeaturePipeline
from raytrade.features.plan import compile_plan

PIPELINES = {
    "crypto": FeaturePipeline.from_spec(FeatureSpec(set="crypto")),
    "equities": FeaturePipeline.from_spec(FeatureSpec(set="equities")),
    "all groups": FeaturePipeline.from_spec(FeatureSpec(groups=FEATURE_GROUPS)),
}
SINGLES = {name: FeaturePipeline((feature,)) for name, feature in FEATURES.items()}


def batch(pipeline: FeaturePipeline, bars: pl.DataFrame) -> pl.DataFrame:
    return pipeline.transform(bars.lazy()).collect()


@pytest.mark.parametrize("name", list(PIPELINES))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=series_specs(min_n=50, max_n=150), picks=st.lists(st.floats(0.0, 1.0), min_size=1,
                                                                 max_size=4),
       extra=st.integers(0, 30))
def test_live_row_equals_the_batch_row(name: str, spec: SeriesSpec, picks: list[float],
                                       extra: int) -> None:
    pipeline = PIPELINES[name]
    bars = series_bars(spec, "BTC-USD")
    rows = batch(pipeline, bars)
    first = pipeline.warmup - 1  # the first bar with a full buffer behind it
    for pick in picks:
        t = first + int(pick * (bars.height - 1 - first))
        start = max(0, t + 1 - pipeline.warmup - extra)  # `warmup` bars or more
        live = pipeline.transform_latest(bars.slice(start, t + 1 - start))
        assert live.height == 1
        assert_frame_equal(live, rows.slice(t, 1), check_exact=True)


@pytest.mark.parametrize("name", list(FEATURES))
@settings(max_examples=8, deadline=None)
@given(spec=series_specs(min_n=60, max_n=90))
def test_each_feature_needs_exactly_its_window(name: str, spec: SeriesSpec) -> None:
    feature, pipeline = FEATURES[name], SINGLES[name]
    bars = series_bars(spec, "BTC-USD")
    rows = batch(pipeline, bars)
    # a live buffer of exactly `window` bars gives the batch value at every bar
    for t in (feature.window - 1, bars.height - 1):
        live = pipeline.transform_latest(bars.slice(t + 1 - feature.window, feature.window))
        assert_frame_equal(live, rows.slice(t, 1), check_exact=True)
    # and every earlier row of the symbol is warm-up
    assert rows.get_column(name).head(feature.window - 1).null_count() == feature.window - 1


@pytest.mark.parametrize("feature", list(FEATURES.values()), ids=list(FEATURES))
def test_declared_window_is_what_the_formula_reads(feature: Feature) -> None:
    # unmasked, a formula's first value comes where its shifts stop reaching before the frame
    spec = SeriesSpec(seed=3, n=80, level=100.0, vol=2e-3, flat_share=0.0,
                      zero_volume_share=0.0, null_volume_share=0.0)
    raw = compile_plan({"raw": feature.node()}, feature.window).run(series_bars(spec, "BBB"))
    first_value = raw.get_column("raw").is_not_null().arg_true().first()
    assert first_value == feature.window - 1


def test_live_path_takes_one_symbol_with_a_full_buffer() -> None:
    pipeline = PIPELINES["equities"]
    spec = SeriesSpec(seed=1, n=60, level=10.0, vol=1e-3, flat_share=0.0,
                      zero_volume_share=0.0, null_volume_share=0.0)
    bars = series_bars(spec, "AAPL")
    with pytest.raises(InputError, match="last 50 bars; got 49"):
        pipeline.transform_latest(bars.tail(49))
    two = pl.concat([bars, series_bars(spec, "MSFT")])
    with pytest.raises(InputError, match="one symbol; got 2"):
        pipeline.transform_latest(two)

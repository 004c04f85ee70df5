"""Sets, metadata, volume coverage, input checks and the numbers each formula gives."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from raytrade.config.experiment import FEATURE_GROUPS, FeatureSpec
from raytrade.core.errors import InputError, IntegrityError
from raytrade.data.schema import conform
from raytrade.features import FEATURES, PIPELINE_VERSION, SETS, FeaturePipeline

MONDAY = datetime(2024, 1, 8, tzinfo=UTC)


def smooth_bars(n: int = 64, symbol: str = "AAPL", volume: float | None = 1_000.0) -> pl.DataFrame:
    """Return deterministic bars (no RNG): a drifting, oscillating close every 5 minutes."""
    close = [100.0 * math.exp(0.002 * i + 0.01 * math.sin(0.9 * i)) for i in range(n)]
    open_ = [close[0], *close[:-1]]
    high = [max(o, c) * (1.0 + 0.001 * (1.0 + math.cos(1.3 * i)))
            for i, (o, c) in enumerate(zip(open_, close, strict=True))]
    low = [min(o, c) * (1.0 - 0.001 * (1.0 + math.sin(1.1 * i)))
           for i, (o, c) in enumerate(zip(open_, close, strict=True))]
    volumes = [None if volume is None else volume + 37.0 * ((7 * i) % 11) for i in range(n)]
    frame = pl.DataFrame({"ts": [MONDAY + timedelta(minutes=5 * i) for i in range(n)],
                          "open": open_, "high": high, "low": low, "close": close,
                          "volume": pl.Series(volumes, dtype=pl.Float64)})
    return conform(frame, symbol=symbol, vendor="test")


# The last bar of `smooth_bars()`. If a formula changes on purpose, bump PIPELINE_VERSION (old
# models' metadata is then refused) and paste the new numbers here.
GOLDEN = {
    "ret_1": 0.010314186488923127, "ret_5": 0.002161758168967687, "ret_20": 0.03308804749192884,
    "rv_20": 0.006239290793267938, "natr_14": 0.007622358977732471, "pk_20": 0.004891402275753385,
    "rsi_14": 67.34336803259342, "roc_10": 0.02732179208599783, "zclose_20": 1.6282963197305498,
    "ma_dist_50": 0.05133990118313858, "ma_slope_20": 0.009763000593564497,
    "hl_range": 0.013473050514249178, "clv": 0.705245280725569, "vol_z_20": -1.1736501688236547,
    "vol_ratio_20": 0.8778464403623127, "vwap_dist_20": 0.021606601533782355,
    "tod_sin": 0.9807852804032304, "tod_cos": 0.19509032201612833, "dow_sin": 0.0, "dow_cos": 1.0,
}


def test_formulas_give_the_recorded_numbers() -> None:
    row = FeaturePipeline(tuple(FEATURES.values())).transform_latest(smooth_bars())
    got = row.select(list(GOLDEN)).row(0, named=True)
    for name, expected in GOLDEN.items():
        assert got[name] == pytest.approx(expected, rel=1e-9, abs=1e-15), name


def test_formulas_mean_what_their_names_say() -> None:
    bars = smooth_bars()
    row = FeaturePipeline(tuple(FEATURES.values())).transform_latest(bars).row(0, named=True)
    close = bars.get_column("close").to_list()
    assert row["ret_1"] == pytest.approx(math.log(close[-1] / close[-2]), rel=1e-12)
    assert row["roc_10"] == pytest.approx(close[-1] / close[-11] - 1, rel=1e-12)
    assert row["ma_dist_50"] == pytest.approx(close[-1] / (sum(close[-50:]) / 50) - 1, rel=1e-9)
    rets = [math.log(b / a) for a, b in zip(close[-21:-1], close[-20:], strict=True)]
    mean = sum(rets) / 20
    assert row["rv_20"] == pytest.approx(
        math.sqrt(sum((r - mean) ** 2 for r in rets) / 19), rel=1e-9)
    gains = sum(max(r, 0.0) for r in rets[-14:])
    assert row["rsi_14"] == pytest.approx(100 * gains / sum(abs(r) for r in rets[-14:]), rel=1e-9)
    # 64 bars of 5 minutes from Monday 00:00 UTC: the last opens at 05:15 UTC, a Monday
    angle = 2 * math.pi * (5 * 60 + 15) / 1440
    assert (row["tod_sin"], row["tod_cos"]) == pytest.approx((math.sin(angle), math.cos(angle)))
    assert (row["dow_sin"], row["dow_cos"]) == (0.0, 1.0)


@pytest.mark.parametrize(("step", "expected"), [(1.001, 100.0), (0.999, 0.0), (1.0, 50.0)])
def test_rsi_is_exact_at_its_extremes(step: float, expected: float) -> None:
    bars = smooth_bars(20).with_columns(close=100.0 * pl.lit(step).pow(pl.int_range(20)))
    pipeline = FeaturePipeline((FEATURES["rsi_14"],))
    assert pipeline.transform_latest(bars).item(0, "rsi_14") == expected


def test_sets_have_twelve_and_fourteen_features() -> None:
    crypto = FeaturePipeline.from_spec(FeatureSpec(set="crypto"))
    equities = FeaturePipeline.from_spec(FeatureSpec(set="equities"))
    assert len(crypto.feature_names) == 12 and len(equities.feature_names) == 14
    assert not crypto.needs_volume and equities.needs_volume
    assert not any(FEATURES[n].group == "volume" for n in crypto.feature_names)
    assert set(crypto.feature_names) < set(equities.feature_names)
    assert crypto.warmup == equities.warmup == 50


def test_registry_names_match_and_sets_name_registered_features() -> None:
    assert all(key == feature.name for key, feature in FEATURES.items())
    assert all(name in FEATURES for names in SETS.values() for name in names)
    assert {f.group for f in FEATURES.values()} == set(FEATURE_GROUPS)
    assert all(f.needs_volume == (f.group == "volume") for f in FEATURES.values())


def test_groups_give_registry_order_whatever_their_order() -> None:
    one = FeaturePipeline.from_spec(FeatureSpec(groups=("calendar", "returns")))
    other = FeaturePipeline.from_spec(FeatureSpec(groups=("returns", "calendar")))
    assert one == other
    assert one.feature_names == ("ret_1", "ret_5", "ret_20", "tod_sin", "tod_cos", "dow_sin",
                                 "dow_cos")
    assert not one.needs_volume and one.warmup == 21


def test_a_spec_must_name_a_set_or_groups() -> None:
    with pytest.raises(InputError, match="exactly one of"):
        FeaturePipeline.from_spec(FeatureSpec())


@pytest.mark.parametrize("name", ["crypto", "equities"])
def test_metadata_round_trips_through_json(name: str) -> None:
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set=name))  # type: ignore[arg-type]
    meta = json.loads(json.dumps(pipeline.metadata()))
    rebuilt = FeaturePipeline.from_metadata(meta)
    assert rebuilt == pipeline and rebuilt.spec_hash == pipeline.spec_hash
    assert meta["feature_names"] == list(pipeline.feature_names)
    assert meta["warmup"] == pipeline.warmup and meta["pipeline_version"] == PIPELINE_VERSION
    assert meta["features"][0]["params"] == {"lag": 1}


def test_spec_hash_differs_between_sets() -> None:
    hashes = {FeaturePipeline.from_spec(FeatureSpec(set=s)).spec_hash for s in SETS}  # type: ignore[arg-type]
    assert len(hashes) == len(SETS)


def _meta() -> dict[str, Any]:
    return FeaturePipeline.from_spec(FeatureSpec(set="crypto")).metadata()


def test_metadata_from_another_version_is_refused() -> None:
    meta = {**_meta(), "pipeline_version": PIPELINE_VERSION + 1}
    with pytest.raises(IntegrityError, match=f"version {PIPELINE_VERSION + 1}"):
        FeaturePipeline.from_metadata(meta)


def test_edited_metadata_is_refused() -> None:
    meta = _meta()
    meta["features"][1]["params"]["lag"] = 6
    with pytest.raises(IntegrityError, match="does not match its spec_hash"):
        FeaturePipeline.from_metadata(meta)


def test_rehashed_metadata_that_differs_from_the_registry_is_refused() -> None:
    from raytrade.features.metadata import hash_of

    meta = _meta()
    meta["features"][1]["params"]["lag"] = 6
    body = {k: v for k, v in meta.items() if k != "spec_hash"}
    with pytest.raises(IntegrityError, match="differently"):
        FeaturePipeline.from_metadata({**body, "spec_hash": hash_of(body)})
    body["feature_names"] = ["ret_1", "nope"]
    with pytest.raises(IntegrityError, match="nope"):
        FeaturePipeline.from_metadata({**body, "spec_hash": hash_of(body)})


def _with_volume(bars: pl.DataFrame, present: int, total: int) -> pl.DataFrame:
    volume = [100.0 if i < present else (None if i % 2 else 0.0) for i in range(total)]
    return bars.with_columns(volume=pl.Series(volume, dtype=pl.Float64))


def test_sparse_volume_is_refused_with_its_coverage() -> None:
    bars = pl.concat([smooth_bars(8, "AAPL"), _with_volume(smooth_bars(8, "MSFT"), 5, 8)])
    equities = FeaturePipeline.from_spec(FeatureSpec(set="equities"))
    with pytest.raises(InputError, match=r"symbol MSFT: volume coverage is 62\.5%") as info:
        equities.check_volume(bars)
    assert "use `features: {set: crypto}` or groups without `volume`" in str(info.value)
    equities.check_volume(bars, threshold=0.6)
    FeaturePipeline.from_spec(FeatureSpec(set="crypto")).check_volume(bars)


def test_bars_without_a_volume_column_have_no_coverage() -> None:
    bars = smooth_bars(8).drop("volume")
    with pytest.raises(InputError, match=r"coverage is 0\.0%"):
        FeaturePipeline.from_spec(FeatureSpec(set="equities")).check_volume(bars)


def test_transform_adds_one_float_column_per_feature_and_keeps_rows() -> None:
    bars = pl.concat([smooth_bars(70, "AAPL"), smooth_bars(30, "MSFT")])
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="equities"))
    out = pipeline.transform(bars.lazy()).collect(engine="streaming")
    assert out.columns == [*bars.columns, *pipeline.feature_names]
    assert all(out.schema[n] == pl.Float64 for n in pipeline.feature_names)
    assert_frame_equal(out.select(bars.columns), bars)
    warmups = out.group_by("symbol").agg(pl.col("ma_dist_50").null_count()).sort("symbol")
    assert warmups.get_column("ma_dist_50").to_list() == [49, 30]


def test_unsorted_bars_are_refused() -> None:
    bars = smooth_bars(10)
    swapped = pl.concat([bars.slice(0, 4), bars.slice(5, 1), bars.slice(4, 1), bars.slice(6)])
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="crypto"))
    with pytest.raises(InputError, match="sorted by"):
        pipeline.transform(swapped.lazy()).collect()


def test_missing_columns_and_name_clashes_are_refused() -> None:
    pipeline = FeaturePipeline.from_spec(FeatureSpec(set="equities"))
    with pytest.raises(InputError, match="volume"):
        pipeline.transform(smooth_bars(5).drop("volume").lazy())
    with pytest.raises(InputError, match="ret_1"):
        pipeline.transform(smooth_bars(5).with_columns(ret_1=pl.lit(0.0)).lazy())

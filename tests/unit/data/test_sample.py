"""The seeded market simulator: deterministic, range-independent, and shaped like markets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError
from scipy.stats import kurtosis

from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.data import sample
from raytrade.data.gaps import missing_windows
from raytrade.data.sample import SAMPLE_SOURCE, SimulatorSpec, simulate_bars
from raytrade.data.schema import BAR_SCHEMA, validate_bars

COMPLETE = SimulatorSpec(missing_rate=0.0, outages_per_year=0.0)  # no missing bars


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def log_returns(bars: pl.DataFrame) -> np.ndarray:
    return np.diff(np.log(bars["close"].to_numpy()))


def autocorr(x: np.ndarray, lag: int = 1) -> float:
    return float(np.corrcoef(x[lag:], x[:-lag])[0, 1])


@pytest.fixture(scope="module")
def btc_year() -> pl.DataFrame:
    return simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1), COMPLETE)


def test_same_seed_gives_identical_bars() -> None:
    first = simulate_bars("ETH-USD", Timeframe.M15, utc(2024, 3, 1), utc(2024, 4, 1),
                          SimulatorSpec(seed=7))
    again = simulate_bars("ETH-USD", Timeframe.M15, utc(2024, 3, 1), utc(2024, 4, 1),
                          SimulatorSpec(seed=7))
    assert_frame_equal(first, again)


def test_different_seeds_give_different_paths() -> None:
    a, b = (simulate_bars("ETH-USD", Timeframe.H1, utc(2024, 3, 1), utc(2024, 4, 1),
                          COMPLETE.model_copy(update={"seed": s})) for s in (1, 2))
    assert a["ts"].equals(b["ts"])
    assert not np.allclose(a["close"].to_numpy(), b["close"].to_numpy())


@pytest.mark.parametrize(("symbol", "timeframe", "small", "large"), [
    ("BTC-USD", Timeframe.M5, (utc(2024, 1, 1), utc(2024, 2, 1)),
     (utc(2024, 1, 1), utc(2024, 7, 1))),
    ("AAPL", Timeframe.M15, (utc(2024, 2, 10, 15, 7), utc(2024, 3, 3)),
     (utc(2023, 12, 1), utc(2024, 5, 1))),
    ("SOL-USD", Timeframe.D1, (utc(2023, 3, 1), utc(2023, 4, 1)),
     (utc(2021, 1, 1), utc(2024, 1, 1))),
    ("MSFT", Timeframe.H4, (utc(2022, 12, 20), utc(2023, 1, 10)),
     (utc(2022, 1, 1), utc(2024, 1, 1))),
])
def test_sub_range_equals_the_slice_of_a_larger_range(
        symbol: str, timeframe: Timeframe, small: tuple[datetime, datetime],
        large: tuple[datetime, datetime]) -> None:
    spec = SimulatorSpec(seed=3, signal_strength=0.05, signal_lookback=2)
    part = simulate_bars(symbol, timeframe, *small, spec)
    whole = simulate_bars(symbol, timeframe, *large, spec)
    assert part.height > 0
    assert_frame_equal(part, whole.filter(pl.col("ts").is_between(*small, closed="left")))


@pytest.mark.parametrize("timeframe", list(Timeframe))
@pytest.mark.parametrize("symbol", ["BTC-USD", "AAPL"])
def test_bars_are_canonical_and_valid(symbol: str, timeframe: Timeframe) -> None:
    end = utc(2024, 2, 1) if timeframe.minutes < 60 else utc(2025, 1, 1)
    bars = simulate_bars(symbol, timeframe, utc(2024, 1, 1), end, SimulatorSpec())
    assert dict(bars.schema) == dict(BAR_SCHEMA)
    validate_bars(bars)
    assert bars.height > 0
    assert bars["ts"].is_sorted()
    assert bars["vendor"].unique().to_list() == [SAMPLE_SOURCE]
    assert not bars["backfilled"].any()
    assert bars["symbol"].unique().to_list() == [symbol]


def test_equities_trade_only_in_regular_sessions() -> None:
    bars = simulate_bars("AAPL", Timeframe.M5, utc(2024, 12, 1), utc(2025, 1, 1), COMPLETE)
    local = bars["ts"].dt.convert_time_zone("America/New_York")
    assert (local.dt.weekday() <= 5).all()  # polars: Monday 1 .. Sunday 7
    minutes = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
    assert minutes.min() == 9 * 60 + 30 and minutes.max() == 15 * 60 + 55
    per_day = local.dt.date().value_counts()
    counts = dict(zip(per_day["ts"].to_list(), per_day["count"].to_list(), strict=True))
    assert date(2024, 12, 25) not in counts
    assert counts[date(2024, 12, 23)] == 78
    assert counts[date(2024, 12, 24)] == 42  # early close


def test_equity_volume_is_u_shaped_over_the_session() -> None:
    bars = simulate_bars("AAPL", Timeframe.M5, utc(2024, 1, 1), utc(2024, 7, 1), COMPLETE)
    local = bars["ts"].dt.convert_time_zone("America/New_York")
    hm = local.dt.hour().cast(pl.Int32) * 100 + local.dt.minute().cast(pl.Int32)
    slot = bars.with_columns(hm=hm).group_by("hm").agg(pl.col("volume").median())
    by_slot = dict(zip(slot["hm"].to_list(), slot["volume"].to_list(), strict=True))
    assert by_slot[930] > 2 * by_slot[1230]
    assert by_slot[1555] > 1.2 * by_slot[1230]


def test_missing_bars_occur_at_the_configured_rate() -> None:
    spec = SimulatorSpec(missing_rate=0.01, outages_per_year=0.0)
    bars = simulate_bars("BTC-USD", Timeframe.M1, utc(2024, 1, 1), utc(2024, 5, 1), spec)
    complete = simulate_bars("BTC-USD", Timeframe.M1, utc(2024, 1, 1), utc(2024, 5, 1), COMPLETE)
    rate = 1 - bars.height / complete.height
    assert 0.009 < rate < 0.011
    # dropping bars never changes the ones that remain
    assert_frame_equal(bars, complete.filter(pl.col("ts").is_in(bars["ts"].implode())))


def test_outages_are_runs_of_missing_bars() -> None:
    spec = SimulatorSpec(missing_rate=0.0, outages_per_year=50.0, outage_max_hours=1.0)
    bars = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1), spec)
    expected = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1),
                             COMPLETE)["ts"]
    windows = missing_windows(bars["ts"], expected)
    lengths = [(last - first).total_seconds() / 300 + 1 for first, last in windows]
    assert 30 < len(windows) < 75
    assert min(lengths) >= 2 and max(lengths) <= 24  # 2..12 bars, two may touch
    assert np.mean(lengths) == pytest.approx(7, abs=1.5)


def test_default_spec_leaves_a_few_bars_missing(btc_year: pl.DataFrame) -> None:
    bars = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1),
                         SimulatorSpec())
    missing = btc_year.height - bars.height
    assert 0.0015 * btc_year.height < missing < 0.01 * btc_year.height


def test_returns_have_fat_tails(btc_year: pl.DataFrame) -> None:
    thin = COMPLETE.model_copy(update={"tail_df": 1000.0, "vol_shock": 0.0})
    gaussian = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1), thin)
    excess = kurtosis(log_returns(btc_year))  # 0 for a normal distribution
    assert excess > 3.0
    assert excess > kurtosis(log_returns(gaussian)) + 2.0


def test_volatility_clusters(btc_year: pl.DataFrame) -> None:
    absolute = np.abs(log_returns(btc_year))
    significant = 4 / np.sqrt(absolute.size)
    assert autocorr(absolute, 1) > significant
    assert autocorr(absolute, 12) > significant
    # beyond what intraday seasonality and the monthly volatility level give on their own
    calm = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1),
                         COMPLETE.model_copy(update={"vol_shock": 0.0}))
    assert autocorr(absolute, 1) > autocorr(np.abs(log_returns(calm)), 1) + 0.05


def test_volume_rises_with_absolute_returns(btc_year: pl.DataFrame) -> None:
    absolute = np.abs(log_returns(btc_year))
    assert np.corrcoef(absolute, btc_year["volume"].to_numpy()[1:])[0, 1] > 0.2


def test_regimes_differ_in_drift_and_volatility() -> None:
    spec = COMPLETE.model_copy(update={"seed": 11})
    macro = sample._context("BTC-USD", Timeframe.D1, spec).macro
    first = sample._month_of(utc(1995, 1, 1))
    regimes = macro.regime[first:first + 360]
    assert set(regimes.tolist()) == {0, 1, 2}  # bull, bear, sideways all occur in 30 years
    bars = simulate_bars("BTC-USD", Timeframe.D1, utc(1995, 1, 1), utc(2025, 1, 1), spec)
    monthly = bars.group_by_dynamic("ts", every="1mo").agg(
        ret=pl.col("close").log().diff().sum(), vol=pl.col("close").log().diff().std())
    assert monthly.height == 360
    ret, vol = monthly["ret"].to_numpy(), monthly["vol"].to_numpy()
    bull, bear = regimes == 0, regimes == 1
    assert ret[bull].mean() - ret[bear].mean() > 0.08
    assert np.median(vol[bear]) > 1.3 * np.median(vol[bull])


@pytest.mark.parametrize("rho", [0.0, 0.1, -0.1])
@pytest.mark.parametrize("lookback", [1, 4])
def test_planted_signal_correlation_is_close_to_rho(rho: float, lookback: int) -> None:
    spec = SimulatorSpec(seed=5, signal_strength=rho, signal_lookback=lookback)
    bars = simulate_bars("BTC-USD", Timeframe.M5, utc(2024, 1, 1), utc(2025, 1, 1), spec)
    log_close = pl.col("close").log()
    pairs = bars.select(past=log_close - log_close.shift(lookback),
                        future=log_close.shift(-1) - log_close).drop_nulls()
    corr = np.corrcoef(pairs["past"], pairs["future"])[0, 1]
    assert corr == pytest.approx(rho, abs=0.02)


def test_symbols_differ_and_crypto_is_more_volatile() -> None:
    crypto = simulate_bars("BTC-USD", Timeframe.D1, utc(2010, 1, 1), utc(2020, 1, 1), COMPLETE)
    equity = simulate_bars("AAPL", Timeframe.D1, utc(2010, 1, 1), utc(2020, 1, 1), COMPLETE)
    other = simulate_bars("MSFT", Timeframe.D1, utc(2010, 1, 1), utc(2020, 1, 1), COMPLETE)
    assert log_returns(crypto).std() > 1.5 * log_returns(equity).std()
    assert not np.allclose(equity["close"].to_numpy(), other["close"].to_numpy())


def test_spec_is_frozen_strict_and_rejects_a_non_stationary_signal() -> None:
    with pytest.raises(ValidationError, match="stationary"):
        SimulatorSpec(signal_strength=0.5, signal_lookback=4)
    with pytest.raises(ValidationError):
        SimulatorSpec(signal_strenght=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SimulatorSpec().seed = 3  # type: ignore[misc]


def test_bad_requests_are_input_errors() -> None:
    with pytest.raises(InputError, match="naive"):
        simulate_bars("AAPL", Timeframe.D1, datetime(2024, 1, 1), utc(2024, 2, 1),
                      COMPLETE)
    with pytest.raises(InputError, match="1970"):
        simulate_bars("AAPL", Timeframe.D1, utc(1960, 1, 1), utc(1961, 1, 1), COMPLETE)
    with pytest.raises(InputError, match="canonical symbol"):
        simulate_bars("btc/usd", Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1), COMPLETE)
    assert simulate_bars("AAPL", Timeframe.D1, utc(2024, 1, 2), utc(2024, 1, 2),
                         COMPLETE).is_empty()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), symbol=st.sampled_from(["BTC-USD", "DOGE-USDT", "AAPL", "X"]),
       timeframe=st.sampled_from(list(Timeframe)), month=st.integers(0, 130 * 12 - 1),
       rho=st.sampled_from([0.0, 0.3, -0.3]))
def test_ohlc_is_consistent_for_any_seed_symbol_and_timeframe(
        seed: int, symbol: str, timeframe: Timeframe, month: int, rho: float) -> None:
    start = sample._month_start(month)
    end = sample._month_start(min(month + 1, 130 * 12))
    bars = simulate_bars(symbol, timeframe, start, end,
                         SimulatorSpec(seed=seed, signal_strength=rho, tail_df=4.5))
    validate_bars(bars)
    broken = bars.filter(
        (pl.col("high") < pl.max_horizontal("open", "close"))
        | (pl.col("low") > pl.min_horizontal("open", "close"))
        | ~pl.col("vwap").is_between(pl.col("low"), pl.col("high"))
        | (pl.col("trades") < 1) | (pl.col("volume") <= 0))
    assert broken.is_empty()

"""Feature formulas by group, the feature registry and the named sets.

Every formula is a pure factory returning a `Node` (see `exprs.py`) and reads only the bars of
its declared window, the current bar included: `window` is the warm-up, the number of bars a
symbol needs before the feature has a value. Units: returns are natural-log returns per bar,
volatilities are per bar (not annualised), calendar angles come from UTC timestamps.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import polars as pl

from raytrade.config.experiment import FEATURE_GROUPS, FeatureGroup
from raytrade.features.exprs import (
    MINUTES_PER_DAY,
    Node,
    at_least,
    bar,
    cycle,
    day_of_week,
    derive,
    lag_diff,
    lag_ratio,
    log_of,
    minute_of_day,
    product,
    square,
    window_mean,
    window_moments,
    window_sum,
)

Param = int | str
Wave = Literal["sin", "cos"]
# A window variance below this share of the squared mean is rounding noise (std < 1e-7 of the
# level): the z-score is then 0 (a flat window), not noise divided by noise.
FLAT_VARIANCE = 1e-14
TINY = sys.float_info.min  # smallest normal float (polars mishandles subnormal literals)


@dataclass(frozen=True)
class Feature:
    """One model input: its stable name, group, warm-up, whether it reads volume, its formula."""

    name: str
    group: FeatureGroup
    window: int
    """Bars of history read, the current bar included: earlier rows of a symbol are null."""
    needs_volume: bool
    formula: Callable[..., Node]
    params: tuple[tuple[str, Param], ...] = ()

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"feature {self.name}: window must be >= 1, got {self.window}")
        if self.group not in FEATURE_GROUPS:
            raise ValueError(f"feature {self.name}: unknown group {self.group!r}")

    def node(self) -> Node:
        """Return the computation of this feature."""
        return self.formula(**dict(self.params))

    def describe(self) -> dict[str, object]:
        """Return the JSON-ready description that feature metadata records."""
        return {"name": self.name, "group": self.group, "window": self.window,
                "needs_volume": self.needs_volume, "formula": self.formula.__name__,
                "params": dict(self.params)}


# --- returns -----------------------------------------------------------------------------------

def log_return(lag: int) -> Node:
    """Return ln(close[t] / close[t - lag])."""
    return lag_diff(log_of(bar("close")), lag)


# --- volatility --------------------------------------------------------------------------------

def realized_vol(n: int) -> Node:
    """Return the sample std of the last `n` one-bar log returns."""
    sum_sq = window_sum(square(log_return(1)), n)
    total = log_return(n)  # the sum of the n one-bar returns telescopes to ln(c[t] / c[t-n])
    var = derive(f"rv_var{n}", (sum_sq.ref - total.ref * total.ref * (1.0 / n)) * (1.0 / (n - 1)),
                 sum_sq, total)
    return derive(f"rv{n}", at_least(var, 0.0).sqrt(), var)


def normalized_atr(n: int) -> Node:
    """Return the mean true range of the last `n` bars divided by the close."""
    high, low, close = bar("high"), bar("low"), bar("close")
    prev = derive("lag1(close)", close.ref.shift(1), close)
    # true range = max(high, prev close) - min(low, prev close); a null previous close falls
    # through to `otherwise` and stays null
    top = pl.when(prev.ref <= high.ref).then(high.ref).otherwise(prev.ref)
    bottom = pl.when(prev.ref >= low.ref).then(low.ref).otherwise(prev.ref)
    true_range = derive("true_range", top - bottom, high, low, prev)
    mean = window_mean(true_range, n)
    return derive(f"natr{n}", mean.ref / close.ref, mean, close)


def parkinson_vol(n: int) -> Node:
    """Return Parkinson's range-based volatility: sqrt(mean(ln(high/low)^2) / (4 ln 2))."""
    sum_sq = window_sum(square(high_low_range()), n)
    return derive(f"parkinson{n}", (sum_sq.ref * (1.0 / (4.0 * math.log(2.0) * n))).sqrt(),
                  sum_sq)


# --- momentum ----------------------------------------------------------------------------------

def rsi(n: int) -> Node:
    """Return 100 * gains / (gains + losses) over the last `n` log returns; 50 if none moved.

    A finite window of plain sums, not Wilder's exponential average: that one reads every
    earlier bar, so no finite buffer reproduces it.
    """
    ret = log_return(1)
    gains = window_sum(derive(f"gain({ret.key})", at_least(ret, 0.0), ret), n)
    moves = window_sum(derive(f"abs({ret.key})", ret.ref.abs(), ret), n)
    # 100 G / M written as 50 + 50 (G - L) / M, so a window without moves (G = M = 0) gives
    # 0 / tiny + 50 = 50; all gains give exactly 100 and all losses exactly 0
    balance = (gains.ref * 2.0 - moves.ref) / at_least(moves, TINY)
    return derive(f"rsi{n}", balance * 50.0 + 50.0, gains, moves)


def rate_of_change(n: int) -> Node:
    """Return close[t] / close[t - n] - 1."""
    return lag_ratio(bar("close"), n)


def close_zscore(n: int) -> Node:
    """Return (close - mean) / std of the last `n` closes; 0 over a flat window.

    Ill-conditioned like any variance of prices: relative rounding ~1e-16 * (mean / std)^2.
    """
    return _zscore(bar("close"), n)


# --- trend -------------------------------------------------------------------------------------

def ma_distance(n: int) -> Node:
    """Return close / SMA(n) - 1."""
    close = bar("close")
    mean = window_mean(close, n)
    return derive(f"ma_dist{n}", close.ref / mean.ref - 1.0, close, mean)


def ma_slope(n: int, lag: int) -> Node:
    """Return SMA(n)[t] / SMA(n)[t - lag] - 1: the slope of the moving average."""
    return lag_ratio(window_mean(bar("close"), n), lag)


# --- range -------------------------------------------------------------------------------------

def high_low_range() -> Node:
    """Return ln(high / low) of the bar."""
    high, low = bar("high"), bar("low")
    return log_of(derive("high/low", high.ref / low.ref, high, low))


def close_location() -> Node:
    """Return where the close sits in the bar's range: -1 at the low, +1 at the high, 0 if flat."""
    high, low, close = bar("high"), bar("low"), bar("close")
    # a flat bar (high = low = close) gives 0 / tiny = 0
    span = derive("high-low", high.ref - low.ref, high, low)
    clv = (close.ref * 2.0 - high.ref - low.ref) / at_least(span, TINY)
    return derive("clv", clv, high, low, close, span)


# --- volume ------------------------------------------------------------------------------------

def volume_zscore(n: int) -> Node:
    """Return (volume - mean) / std of the last `n` volumes; 0 over a flat window."""
    return _zscore(bar("volume"), n)


def volume_ratio(n: int) -> Node:
    """Return volume / mean volume of the last `n` bars; null when none traded."""
    volume = bar("volume")
    mean = window_mean(volume, n)
    return derive(f"vol_ratio{n}", pl.when(mean.ref > 0.0).then(volume.ref / mean.ref),
                  volume, mean)


def vwap_distance(n: int) -> Node:
    """Return close / VWAP(n) - 1, VWAP from typical prices (h+l+c)/3; null when none traded."""
    high, low, close, volume = bar("high"), bar("low"), bar("close"), bar("volume")
    typical = derive("typical", (high.ref + low.ref + close.ref) * (1.0 / 3.0), high, low, close)
    traded, value = window_sum(volume, n), window_sum(product(typical, volume), n)
    dist = close.ref * traded.ref / value.ref - 1.0
    return derive(f"vwap_dist{n}", pl.when(traded.ref > 0.0).then(dist), close, traded, value)


# --- calendar (UTC: a US equity session opens at 14:30 in winter, 13:30 in summer) ------------

def time_of_day(wave: Wave) -> Node:
    """Return the sine or cosine of the UTC minute of the day (one cycle a day)."""
    return cycle(minute_of_day(bar("ts")), MINUTES_PER_DAY, wave)


def weekday(wave: Wave) -> Node:
    """Return the sine or cosine of the UTC day of the week (one cycle a week, Monday at 0)."""
    return cycle(day_of_week(bar("ts")), 7, wave)


def _zscore(x: Node, n: int) -> Node:
    mean, var = window_moments(x, n)
    # a null variance (a null volume in the window) falls through to `otherwise`: null
    flat = var.ref <= mean.ref * mean.ref * FLAT_VARIANCE
    z = pl.when(flat).then(0.0).otherwise((x.ref - mean.ref) / var.ref.sqrt())
    return derive(f"z{n}({x.key})", z, x, mean, var)


def _f(name: str, group: FeatureGroup, window: int, formula: Callable[..., Node],
       volume: bool = False, **params: Param) -> Feature:
    return Feature(name, group, window, volume, formula, tuple(params.items()))


# The registry, in the canonical column order (groups in FEATURE_GROUPS order).
FEATURES: Mapping[str, Feature] = MappingProxyType({
    "ret_1": _f("ret_1", "returns", 2, log_return, lag=1),
    "ret_5": _f("ret_5", "returns", 6, log_return, lag=5),
    "ret_20": _f("ret_20", "returns", 21, log_return, lag=20),
    "rv_20": _f("rv_20", "volatility", 21, realized_vol, n=20),
    "natr_14": _f("natr_14", "volatility", 15, normalized_atr, n=14),
    "pk_20": _f("pk_20", "volatility", 20, parkinson_vol, n=20),
    "rsi_14": _f("rsi_14", "momentum", 15, rsi, n=14),
    "roc_10": _f("roc_10", "momentum", 11, rate_of_change, n=10),
    "zclose_20": _f("zclose_20", "momentum", 20, close_zscore, n=20),
    "ma_dist_50": _f("ma_dist_50", "trend", 50, ma_distance, n=50),
    "ma_slope_20": _f("ma_slope_20", "trend", 25, ma_slope, n=20, lag=5),
    "hl_range": _f("hl_range", "range", 1, high_low_range),
    "clv": _f("clv", "range", 1, close_location),
    "vol_z_20": _f("vol_z_20", "volume", 20, volume_zscore, volume=True, n=20),
    "vol_ratio_20": _f("vol_ratio_20", "volume", 20, volume_ratio, volume=True, n=20),
    "vwap_dist_20": _f("vwap_dist_20", "volume", 20, vwap_distance, volume=True, n=20),
    "tod_sin": _f("tod_sin", "calendar", 1, time_of_day, wave="sin"),
    "tod_cos": _f("tod_cos", "calendar", 1, time_of_day, wave="cos"),
    "dow_sin": _f("dow_sin", "calendar", 1, weekday, wave="sin"),
    "dow_cos": _f("dow_cos", "calendar", 1, weekday, wave="cos"),
})

# Named sets, in model column order. Both hold the same twelve price and calendar features:
# returns over 1, 5 and 20 bars; close-to-close and range (Parkinson) volatility; RSI and the
# 10-bar rate of change; distance to the 50-bar and slope of the 20-bar moving average; the
# close location in the bar; the UTC time of day (intraday seasonality of volume and
# volatility; day of week is left to `groups`). `zclose_20` stays out: a variance of prices is
# ill-conditioned (rounding ~1e-16 * (mean/std)^2, ~1e-9 on a calm 20-bar window), so no two
# implementations agree to 1e-9 (pandas' running variance was off by up to 7e-5 on the
# benchmark bars). Crypto leaves out every volume feature: crypto volume differs by venue and
# some venues report none, so its coverage is unreliable. Equities add the volume z-score and
# the distance to the rolling VWAP: consolidated-tape volume is complete.
SETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "crypto": ("ret_1", "ret_5", "ret_20", "rv_20", "pk_20", "rsi_14", "roc_10", "ma_dist_50",
               "ma_slope_20", "clv", "tod_sin", "tod_cos"),
    "equities": ("ret_1", "ret_5", "ret_20", "rv_20", "pk_20", "rsi_14", "roc_10", "ma_dist_50",
                 "ma_slope_20", "clv", "vol_z_20", "vwap_dist_20", "tod_sin", "tod_cos"),
})


def set_features(name: str) -> tuple[Feature, ...]:
    """Return the features of a named set, in model column order."""
    return tuple(FEATURES[f] for f in SETS[name])


def group_features(groups: tuple[str, ...]) -> tuple[Feature, ...]:
    """Return every feature of the given groups, in registry order whatever the groups' order."""
    wanted = set(groups)
    return tuple(f for f in FEATURES.values() if f.group in wanted)

"""The seeded market simulator (source `sample`): bars that look like markets, offline.

Bars are deterministic for a seed and independent of the range asked for, so fake vendors can
serve slices of one ground truth. A macro layer per (seed, symbol) runs monthly from 1970-01 to
2099-12: regimes (bull, bear, sideways; a Markov chain) with their own drift and volatility, a
slowly varying volatility level, and each month's log return, mean-reverting weakly to the
symbol's price level. A micro layer per (seed, symbol, timeframe, chunk), a chunk being a
calendar month (up to 1h) or year (4h, 1d), draws Student-t shocks with EGARCH(1,1) clustering,
intraday seasonality and the planted signal, bridged so the chunk's log returns add up to its
macro return; so a chunk needs no other chunk. Seeds come from hashlib, never `hash()`.
Equities trade only in NYSE regular sessions (`gaps.expected_timestamps`); crypto trades 24/7.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import brentq
from scipy.signal import lfilter

from raytrade.core.errors import InputError
from raytrade.core.types import AssetClass, Timeframe, asset_class_of, periods_per_year
from raytrade.data.gaps import as_utc, expected_timestamps, nyse_sessions
from raytrade.data.schema import BAR_SCHEMA, empty_bars

SAMPLE_SOURCE = "sample"

_FIRST_YEAR, _END_YEAR = 1970, 2100  # the macro path covers [1970-01-01, 2100-01-01) UTC
_N_MONTHS = (_END_YEAR - _FIRST_YEAR) * 12
_US_MINUTE = 60_000_000
_US_DAY = 1440 * _US_MINUTE
_YEAR_CHUNKS = frozenset({Timeframe.H4, Timeframe.D1})
_PROFILE, _MACRO = 1, 2  # stream tags of the per-symbol seeds

# Regimes: 0 bull, 1 bear, 2 sideways. Drift is a Sharpe ratio times the month's volatility.
_REGIME_SHARPE = (1.0, -1.5, 0.0)
_REGIME_VOL = (0.85, 1.5, 0.75)
_VOL_LEVEL_AR, _VOL_LEVEL_SHOCK = 0.9, 0.1  # monthly AR(1) of log volatility level
_MEAN_REVERSION = 0.1  # per year, of log price towards the symbol's level (keeps prices sane)
_OVERNIGHT_VARIANCE = 0.25  # share of an equity session's close-to-close variance before open
_Layout = tuple[np.ndarray, np.ndarray, np.ndarray]  # variance weight, volume share, gap share


class SimulatorSpec(BaseModel):
    """Parameters of the simulator; the same spec, symbol and timeframe give the same bars."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    seed: int = Field(default=0, ge=0)
    """Root seed: with the symbol, timeframe and the rest of the spec it fixes every bar."""
    signal_strength: float = Field(default=0.0, ge=-0.5, le=0.5)
    """Plant this correlation between the past `signal_lookback`-bar and the next log return.

    Exact in the shocks; close in crypto bars. Intraday equity bars show about 15% less,
    diluted by the overnight move in each session's first bar."""
    signal_lookback: int = Field(default=1, ge=1, le=512)
    """Bars in the past return that carries the planted signal."""
    missing_rate: float = Field(default=0.002, ge=0.0, le=0.5)
    """Probability that a bar is missing on its own (an isolated feed gap)."""
    outages_per_year: float = Field(default=4.0, ge=0.0, le=10_000.0)
    """Expected feed outages (runs of missing bars) in a year of bars."""
    outage_max_hours: float = Field(default=6.0, gt=0.0, le=24.0 * 31)
    """Longest outage; lengths are uniform from 2 bars to this long (at least 2 bars)."""
    regime_persistence: float = Field(default=0.9, ge=0.0, lt=1.0)
    """Monthly probability of staying in the current regime (bull, bear or sideways)."""
    tail_df: float = Field(default=5.0, gt=4.0, le=1000.0)
    """Student-t degrees of freedom of the shocks: lower is fatter; above 4 kurtosis is finite."""
    vol_persistence: float = Field(default=0.98, ge=0.0, lt=1.0)
    """Per-bar persistence of log variance (EGARCH beta): higher means longer vol clusters."""
    vol_shock: float = Field(default=0.2, ge=0.0, le=1.0)
    """Response of log variance to the size of the last shock (EGARCH alpha)."""

    @model_validator(mode="after")
    def _signal_is_stationary(self) -> SimulatorSpec:
        strength = abs(self.signal_strength) * math.sqrt(self.signal_lookback)
        if strength >= 0.9:
            raise ValueError(
                f"|signal_strength| * sqrt(signal_lookback) is {strength:.3f}; it must stay "
                "below 0.9 for the planted autoregression to be stationary")
        _signal_filter(self.signal_strength, self.signal_lookback)
        return self


def simulate_bars(
    symbol: str, timeframe: Timeframe, start: datetime, end: datetime, spec: SimulatorSpec
) -> pl.DataFrame:
    """Return canonical bars of `symbol` with open times in [start, end), vendor `sample`."""
    ctx = _context(symbol, timeframe, spec)
    lo, hi = _bounds(start, end)
    chunks = [_chunk(ctx, chunk) for chunk in _chunks(timeframe, lo, hi)]
    if not chunks:
        return empty_bars()
    bars = pl.concat(chunks).filter(pl.col("ts").is_between(lo, hi, closed="left"),
                                    ~pl.col("missing")).with_columns(
        symbol=pl.lit(symbol), vendor=pl.lit(SAMPLE_SOURCE), backfilled=pl.lit(False))
    return bars.select(pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items())


@dataclass(frozen=True)
class _Profile:
    """What makes one symbol differ from another, drawn once per (seed, symbol)."""

    asset_class: AssetClass
    key: int  # stable 64-bit hash of the symbol
    log_level: float  # log price the macro path reverts to
    vol: float  # annualised volatility
    dollar_volume: float  # dollars traded on an average day
    trade_size: float  # dollars per trade on average


@dataclass(frozen=True)
class _Macro:
    """Monthly path from 1970-01: arrays indexed by month number."""

    regime: np.ndarray  # 0 bull, 1 bear, 2 sideways
    vol: np.ndarray  # annualised volatility of the month
    years: np.ndarray  # length of the month in years
    drift: np.ndarray  # expected part of the month's log return
    ret: np.ndarray  # the month's log return
    log_start: np.ndarray  # log price at each month's start (one more than months)


@dataclass(frozen=True)
class _Context:
    timeframe: Timeframe
    spec: SimulatorSpec
    profile: _Profile
    macro: _Macro


def _context(symbol: str, timeframe: Timeframe, spec: SimulatorSpec) -> _Context:
    try:
        asset_class = asset_class_of(symbol)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    profile = _profile(symbol, asset_class, spec.seed)
    return _Context(timeframe, spec, profile, _macro(profile, spec))


def _symbol_key(symbol: str) -> int:
    return int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest(), "big")


def _profile(symbol: str, asset_class: AssetClass, seed: int) -> _Profile:
    key = _symbol_key(symbol)
    u = np.random.default_rng(np.random.SeedSequence([seed, key, _PROFILE])).random(4)
    crypto = asset_class is AssetClass.CRYPTO  # wider price range, 2-3x equity volatility
    lo = np.log([0.5, 1e8, 300.0] if crypto else [10.0, 5e7, 3000.0])
    hi = np.log([50_000.0, 1e10, 3000.0] if crypto else [500.0, 5e9, 15_000.0])
    level, dollars, size = lo + u[[0, 2, 3]] * (hi - lo)  # log-uniform draws
    vol = (0.5 + 0.5 * u[1]) if crypto else (0.15 + 0.3 * u[1])
    return _Profile(asset_class, key, float(level), float(vol), math.exp(dollars),
                    math.exp(size))


def _macro(profile: _Profile, spec: SimulatorSpec) -> _Macro:
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, profile.key, _MACRO]))
    n = _N_MONTHS
    stay = rng.random(n) < spec.regime_persistence
    hop = 1 + (rng.random(n) < 0.5)  # leaving a regime: to either other one, equally likely
    regime = (rng.integers(0, 3) + np.cumsum(np.where(stay, 0, hop))) % 3
    level_sd = _VOL_LEVEL_SHOCK / math.sqrt(1 - _VOL_LEVEL_AR**2)
    log_level = lfilter([_VOL_LEVEL_SHOCK], [1.0, -_VOL_LEVEL_AR], rng.standard_normal(n),
                        zi=[_VOL_LEVEL_AR * level_sd * rng.standard_normal()])[0]
    vol = (profile.vol * np.asarray(_REGIME_VOL)[regime]
           * np.exp(log_level - level_sd**2 / 2))
    months = np.arange(f"{_FIRST_YEAR}-01", f"{_END_YEAR}-02", dtype="datetime64[M]")
    years = np.diff(months.astype("datetime64[D]")).astype(np.float64) / 365.25
    noise = vol * np.sqrt(years) * rng.standard_normal(n)
    pull = 1.0 - _MEAN_REVERSION / 12
    # log price less the symbol's level: x[m+1] = pull * x[m] + drift + noise
    impulse = np.asarray(_REGIME_SHARPE)[regime] * vol * years + noise
    dev = np.concatenate(([0.0], lfilter([1.0], [1.0, -pull], impulse)))
    ret = np.diff(dev)
    return _Macro(regime, vol, years, ret - noise, ret, profile.log_level + dev)


def _bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    lo, hi = as_utc(start, "start"), as_utc(end, "end")
    first, stop = datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC), datetime(_END_YEAR, 1, 1, tzinfo=UTC)
    if lo < first or hi > stop:
        raise InputError(f"sample bars exist from {first:%Y-%m-%d} to {stop:%Y-%m-%d}; "
                         f"asked for {lo} to {hi}")
    return lo, max(lo, hi)


def _month_of(moment: datetime) -> int:
    return (moment.year - _FIRST_YEAR) * 12 + moment.month - 1


def _month_start(month: int) -> datetime:
    return datetime(_FIRST_YEAR + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _chunks(timeframe: Timeframe, lo: datetime, hi: datetime) -> range:
    """Return the chunk numbers whose months touch [lo, hi)."""
    if hi <= lo:
        return range(0)
    size = 12 if timeframe in _YEAR_CHUNKS else 1
    last = _month_of(hi - timedelta(microseconds=1))
    return range(_month_of(lo) // size, last // size + 1)


def _chunk(ctx: _Context, chunk: int) -> pl.DataFrame:
    """Generate every bar of one chunk (a month or a year), missing ones flagged, not dropped."""
    size = 12 if ctx.timeframe in _YEAR_CHUNKS else 1
    months = np.arange(chunk * size, (chunk + 1) * size)
    ts_series = expected_timestamps(ctx.profile.asset_class, ctx.timeframe,
                                    _month_start(int(months[0])),
                                    _month_start(int(months[-1]) + 1))
    ts = ts_series.dt.epoch("us").to_numpy()
    starts = months.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)
    rel = np.searchsorted(starts, ts, side="right") - 1  # month of each bar within the chunk
    streams = [np.random.default_rng(np.random.SeedSequence(
        [ctx.spec.seed, ctx.profile.key, ctx.timeframe.minutes, chunk, k])) for k in range(4)]
    weight, day_share, gap_share = _layout(ctx, ts)
    u, h = _shocks(streams[0], ts.size, ctx.spec)
    r, var = _log_returns(ctx.macro, months, rel, weight, u, h)
    log_close = ctx.macro.log_start[months[0]] + np.cumsum(r)
    bars = _ohlc(streams[1], log_close, r, var, gap_share)
    activity = (0.3 + 0.875 * np.abs(u)) * np.sqrt(h) * ctx.macro.vol[months][rel] / ctx.profile.vol
    volume, trades = _volume(streams[2], ctx.profile, day_share * activity, bars["close"])
    return pl.DataFrame({"ts": ts_series, **bars, "volume": volume, "trades": trades,
                         "missing": _missing(streams[3], ts.size, ctx)})


def _layout(ctx: _Context, ts: np.ndarray) -> _Layout:
    """Return per-bar variance weight, share of a day's volume, and overnight share of variance.

    Variance and volume follow the same intraday pattern (volume ~ variance): a U over the US
    session for equities, a mild UTC-hour cycle with quieter weekends for crypto.
    """
    step = ctx.timeframe.minutes * _US_MINUTE
    if ctx.profile.asset_class is AssetClass.CRYPTO:
        hour = ((ts % _US_DAY) + step / 2) / (60 * _US_MINUTE)
        cycle = 0.0 if ctx.timeframe is Timeframe.D1 else 0.2
        season = (1 + cycle * np.cos(2 * np.pi * (hour - 14.5) / 24)) ** 2  # busiest 14:30 UTC
        weekend = ((ts // _US_DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        day_share = season * np.where(weekend, 0.6, 1.0) * step / _US_DAY
        return season * np.where(weekend, 0.8, 1.0), day_share, np.zeros(ts.size)
    if ctx.timeframe is Timeframe.D1:
        ones = np.ones(ts.size)
        return ones, ones, np.full(ts.size, _OVERNIGHT_VARIANCE)
    return _equity_intraday_layout(ts, step)


def _equity_intraday_layout(ts: np.ndarray, step: int) -> _Layout:
    if ts.size == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    days = ts[[0, -1]].astype("datetime64[us]").astype("datetime64[D]") + np.array([-1, 1])
    sessions = nyse_sessions(days[0].item(), days[1].item())
    opens = sessions["open"].dt.epoch("us").to_numpy()
    closes = sessions["close"].dt.epoch("us").to_numpy()
    idx = np.searchsorted(closes, ts, side="right")  # the session each bar overlaps
    o, c = opens[idx], closes[idx]
    lo, hi = np.maximum(ts, o), np.minimum(ts + step, c)
    x = ((lo + hi) / 2 - o) / (c - o)  # position in the session, 0 at the open, 1 at the close
    season = (0.7 + 1.3 * (1 - x) ** 4 + 0.5 * x**4) ** 2 * (hi - lo) / _US_MINUTE
    session_total = np.bincount(idx, weights=season, minlength=opens.size)[idx]
    day_share = season / session_total * (c - o) / (390 * _US_MINUTE)  # short days trade less
    overnight = np.where(ts <= o, session_total * _OVERNIGHT_VARIANCE
                         / (1 - _OVERNIGHT_VARIANCE), 0.0)
    return season + overnight, day_share, overnight / (season + overnight)


def _shocks(rng: np.random.Generator, n: int,
            spec: SimulatorSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return unit-variance shocks carrying the planted signal, and EGARCH variance (mean ~1)."""
    coef, gain = _signal_filter(spec.signal_strength, spec.signal_lookback)
    burn = 64 * spec.signal_lookback + 256  # lets both filters forget their start
    df = spec.tail_df
    eps = rng.standard_t(df, n + burn) * math.sqrt((df - 2) / df)
    u = lfilter([gain], [1.0, *([-coef] * spec.signal_lookback)], eps) if coef else eps
    mean_abs = 2 * math.sqrt(df - 2) / ((df - 1) * math.sqrt(math.pi)) * math.exp(
        math.lgamma((df + 1) / 2) - math.lgamma(df / 2))
    beta, alpha = spec.vol_persistence, spec.vol_shock
    var_logh = alpha**2 * (1 - mean_abs**2) / (1 - beta**2)
    # EGARCH(1,1), no leverage: log h[t] = beta * log h[t-1] + alpha * (|eps[t-d]| - E|eps|).
    # With a planted signal d = k + 1: volatility reacts to a shock once it leaves the signal
    # window, so volatility feedback does not distort the planted correlation.
    delay = [0.0] * (spec.signal_lookback + 1 if coef else 1)
    logh = lfilter([*delay, alpha], [1.0, -beta], np.abs(eps) - mean_abs,
                   zi=[math.sqrt(var_logh) * rng.standard_normal(), *delay[1:]])[0]
    return u[burn:], np.exp(logh[burn:] - var_logh / 2)


def _log_returns(macro: _Macro, months: np.ndarray, rel: np.ndarray, weight: np.ndarray,
                 u: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return bar log returns and variances that add up to the chunk's macro return."""
    if u.size == 0:
        return u, u
    month_weight = np.bincount(rel, weights=weight, minlength=months.size)
    share = weight / month_weight[rel]  # the bar's share of its month's variance
    var = (macro.vol[months] ** 2 * macro.years[months])[rel] * share * h
    r = macro.drift[months][rel] * share + np.sqrt(var) * u
    # Brownian bridge onto the macro return: each bar takes the gap in proportion to its variance
    r += (macro.ret[months].sum() - r.sum()) * var / var.sum()
    return r, var


def _ohlc(rng: np.random.Generator, log_close: np.ndarray, r: np.ndarray, var: np.ndarray,
          gap_share: np.ndarray) -> dict[str, np.ndarray]:
    """Return open, high, low, close and vwap from the close path; high/low are bridge extremes."""
    n = r.size
    sigma = np.sqrt(var)
    # the overnight part of the move is a Brownian bridge point at its share of the variance
    gap = gap_share * r + np.sqrt(gap_share * (1 - gap_share)) * sigma * rng.standard_normal(n)
    log_open = log_close - r + gap
    move, s2 = r - gap, var * (1 - gap_share)
    # extremes of a Brownian bridge from 0 to `move` with variance s2 (exact sampling)
    up = (move + np.sqrt(move**2 + 2 * s2 * rng.standard_exponential(n))) / 2
    down = (move - np.sqrt(move**2 + 2 * s2 * rng.standard_exponential(n))) / 2
    log_high, log_low = log_open + up, log_open + down
    span = log_high - log_low
    mid = ((log_open + log_close) / 2 - log_low) / np.where(span > 0, span, 1.0)
    where = np.clip(np.where(span > 0, mid, 0.5) + 0.15 * rng.standard_normal(n), 0.05, 0.95)
    open_, close = np.exp(log_open), np.exp(log_close)
    high = np.maximum(np.exp(log_high), np.maximum(open_, close))
    low = np.minimum(np.exp(log_low), np.minimum(open_, close))
    vwap = np.clip(np.exp(log_low + where * span), low, high)
    return {"open": open_, "high": high, "low": low, "close": close, "vwap": vwap}


def _volume(rng: np.random.Generator, profile: _Profile, activity: np.ndarray,
            close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return volume (units of the asset) and trade counts; busier bars move more."""
    dollars = profile.dollar_volume * activity * np.exp(0.35 * rng.standard_normal(close.size)
                                                        - 0.35**2 / 2)
    trades = np.rint(dollars / profile.trade_size
                     * np.exp(0.2 * rng.standard_normal(close.size) - 0.02))
    return dollars / close, np.maximum(trades, 1).astype(np.int64)


def _missing(rng: np.random.Generator, n: int, ctx: _Context) -> np.ndarray:
    """Flag isolated missing bars and outages (runs of at least two missing bars)."""
    spec, timeframe = ctx.spec, ctx.timeframe
    isolated = rng.random(n) < spec.missing_rate
    per_bar = spec.outages_per_year / periods_per_year(timeframe, ctx.profile.asset_class)
    longest = max(2, int(spec.outage_max_hours * 60 // timeframe.minutes))
    starts = np.flatnonzero(rng.random(n) < per_bar)
    stops = np.minimum(starts + rng.integers(2, longest + 1, starts.size), n)
    marks = np.bincount(starts, minlength=n + 1) - np.bincount(stops, minlength=n + 1)
    return isolated | (np.cumsum(marks[:n]) > 0)


@functools.lru_cache(maxsize=128)
def _signal_filter(rho: float, lookback: int) -> tuple[float, float]:
    """Return (c, gain) so u[t] = c * (u[t-1] + ... + u[t-k]) + gain * eps[t] plants `rho`.

    c is solved so corr(u[t-k+1] + ... + u[t], u[t+1]) equals rho exactly, and gain makes
    var(u) 1 for unit-variance eps. c stays inside (-1, 1/k), where the AR is stationary.
    """
    if rho == 0.0:
        return 0.0, 1.0
    bracket = (0.0, 0.98 / lookback) if rho > 0 else (max(-0.98, -2.0 / lookback), 0.0)
    try:
        coef = brentq(lambda c: _lead_correlation(c, lookback)[0] - rho, *bracket, xtol=1e-12)
    except ValueError:
        raise ValueError(f"signal_strength {rho} cannot be planted with signal_lookback "
                         f"{lookback} by a stationary autoregression") from None
    return coef, 1 / math.sqrt(_lead_correlation(coef, lookback)[1])


def _lead_correlation(coef: float, lookback: int) -> tuple[float, float]:
    """Return corr(sum of the last k u, next u) and var(u) of the AR with unit-variance noise."""
    length = max(4096, 64 * lookback)  # the impulse response has died out well before this
    psi = lfilter([1.0], [1.0, *([-coef] * lookback)], np.r_[1.0, np.zeros(length - 1)])
    spectrum = np.fft.rfft(psi, 2 * length)
    acov = np.fft.irfft(spectrum * spectrum.conj(), 2 * length)[: lookback + 1]
    lags = np.arange(1, lookback)
    var_sum = lookback * acov[0] + 2 * ((lookback - lags) * acov[lags]).sum()
    return float(acov[1:].sum() / math.sqrt(var_sum * acov[0])), float(acov[0])


__all__ = ["SAMPLE_SOURCE", "SimulatorSpec", "simulate_bars"]

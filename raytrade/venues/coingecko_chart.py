"""What the CoinGecko fake serves, as data: price samples and OHLC candles of one coin.

CoinGecko publishes an index price, not trades. The fake takes one sample per bucket of the
granularity (5 minutes, an hour, a day) from the simulator bars of that timeframe: the sample
is stamped a little after the bucket opens (0.5 to 60 s for 5 minutes, to 120 s for hours,
exactly 00:00 UTC for days, as CoinGecko stamps daily points) and its price is the bar's open,
the price when the bucket began. So CoinGecko's sample in a bucket equals Binance's kline open of
the same timeframe, not its close: a legitimate vendor difference, not a fault. `total_volumes`
is the rolling 24-hour dollar volume before the sample (never per-bucket volume);
`market_caps` is price times a fixed supply. `/ohlc` candles aggregate simulator bars (15-minute
bars in pairs for 30-minute candles, 4-hour bars, daily bars in fours on the epoch grid for
4-day candles) and are stamped at their close.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from raytrade.core.types import Timeframe
from raytrade.venues.markets import BarBook, Market, stable_key, to_ms, uniform

JITTER_MS: dict[Timeframe, tuple[int, int]] = {
    Timeframe.M5: (500, 60_000), Timeframe.H1: (500, 120_000), Timeframe.D1: (0, 1)}
CANDLES: tuple[tuple[int, timedelta, Timeframe], ...] = (  # up to `days`: size, built from
    (2, timedelta(minutes=30), Timeframe.M15),
    (30, timedelta(hours=4), Timeframe.H4),
    (10**6, timedelta(days=4), Timeframe.D1),
)
DAY = timedelta(days=1)


def supply_of(market: Market) -> float:
    """Return the coin's circulating supply (fixed; only market caps use it)."""
    return 1e7 * (1 + stable_key("supply", market.symbol) % 1000)


def samples(book: BarBook, market: Market, granularity: Timeframe, present: pl.DataFrame,
            lo: datetime, hi: datetime) -> pl.DataFrame:
    """Return samples `t` (ms), `price`, `market_cap`, `total_volume` stamped in [lo, hi].

    `present` are the bars the venue serves (outage windows removed) around [lo, hi]; the
    24-hour volume is taken from every simulated bar, served or not.
    """
    first = lo - granularity.duration
    every = book.bars(market, granularity, first - DAY, hi, keep_withheld=True)
    window = max(1, 1440 // granularity.minutes)
    dollars = (pl.col("volume") * pl.col("vwap")).rolling_sum(window, min_samples=1).shift(1)
    volumes = every.with_columns(total_volume=dollars.fill_null(0.0)).select("ts", "total_volume")
    bars = present.filter(pl.col("ts") >= first).join(volumes, on="ts", how="left")
    ts_ms = bars["ts"].dt.epoch("ms").to_numpy()
    low, high = JITTER_MS[granularity]
    jitter = low + np.floor(uniform(ts_ms, "jitter", market.symbol) * (high - low))
    out = bars.select(
        t=pl.Series(ts_ms + jitter.astype(np.int64)),
        price=pl.col("open"),
        market_cap=pl.col("open") * supply_of(market),
        total_volume=pl.col("total_volume"),
    )
    return out.filter(pl.col("t").is_between(to_ms(lo), to_ms(hi)))


def bucket_bars(points: pl.DataFrame, granularity: Timeframe) -> pl.DataFrame:
    """Return samples turned honestly into bars: per bucket holding samples, open the first
    sample, high the highest, low the lowest, close the last; no volume (the reference for
    `truth`, and what a client should compute)."""
    step = granularity.minutes * 60_000
    return (points.with_columns(bucket=pl.col("t") // step * step).sort("t")
            .group_by("bucket", maintain_order=True)
            .agg(open=pl.col("price").first(), high=pl.col("price").max(),
                 low=pl.col("price").min(), close=pl.col("price").last())
            .select(pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC")
                    .dt.cast_time_unit("us").alias("ts"), "open", "high", "low", "close"))


def candle_plan(days: int) -> tuple[timedelta, Timeframe]:
    """Return the candle size CoinGecko picks for `days` and the bars it is built from."""
    for most, size, source in CANDLES:
        if days <= most:
            return size, source
    raise AssertionError("unreachable: the last plan covers any number of days")


def candles(present: pl.DataFrame, size: timedelta) -> pl.DataFrame:
    """Return OHLC candles of `size` on the epoch grid from `present` bars, stamped at open
    (`ts`); a candle exists when at least one of its bars was served."""
    step = int(size.total_seconds() * 1000)
    ms = pl.col("ts").dt.epoch("ms")
    return (present.sort("ts").with_columns(bucket=ms // step * step)
            .group_by("bucket", maintain_order=True)
            .agg(open=pl.col("open").first(), high=pl.col("high").max(),
                 low=pl.col("low").min(), close=pl.col("close").last())
            .select(pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC")
                    .dt.cast_time_unit("us").alias("ts"), "open", "high", "low", "close"))


__all__ = ["CANDLES", "bucket_bars", "candle_plan", "candles", "samples", "supply_of"]

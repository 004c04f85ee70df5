"""The bars a parity check needs: the checked decisions' bars and `warmup` rows before them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from raytrade.data.lake import Lake, PartitionKey
from raytrade.live.parity import Decision


def parity_window(lake: Lake, key: PartitionKey, decisions: Sequence[Decision],
                  warmup: int) -> pl.DataFrame:
    """Return the partition's bars from `warmup` rows before the first decision through the
    last (rows, not time: the live window holds rows, gaps or not)."""
    if not decisions:
        return lake.scan(key).head(0).collect()
    first, last = decisions[0].bar_time, decisions[-1].bar_time
    reach = key.timeframe.duration * warmup * 2
    earliest = lake.scan(key).select(pl.col("ts").min()).collect().item()
    while True:
        start = first - reach
        bars = lake.scan(key, start=start, end=last + timedelta(microseconds=1)).collect()
        bars = bars.sort("ts")
        before = bars.filter(pl.col("ts") < first).height
        if before >= warmup or earliest is None or earliest >= start:
            return bars.tail(bars.height - max(before - warmup, 0))
        reach *= 4


__all__ = ["parity_window"]

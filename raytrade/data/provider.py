"""Where an experiment's bars come from: the simulator, a bundled dataset, or the lake.

`sample` is a virtual source: the simulator is deterministic, so generating the window on demand
is the same as reading it from an infinite lake. `bundled` reads the packages' files. Every other
source is read from the Parquet lake, where collectors and imports put it.
"""

from __future__ import annotations

import polars as pl

from raytrade.config.experiment import DataSpec, SampleSpec
from raytrade.core.errors import MissingDataError
from raytrade.data.bundled import BUNDLED_SOURCE, load_bundled
from raytrade.data.lake import Lake, PartitionKey
from raytrade.data.sample import SAMPLE_SOURCE, SimulatorSpec, simulate_bars
from raytrade.data.schema import validate_bars


def load_bars(spec: DataSpec, lake: Lake) -> pl.DataFrame:
    """Return the validated, time-ordered bars of the spec's window, or raise MissingDataError."""
    start, end = spec.window()
    if spec.source == SAMPLE_SOURCE:
        bars = simulate_bars(spec.symbol, spec.timeframe, start, end,
                             simulator_spec(spec.sample or SampleSpec()))
    elif spec.source == BUNDLED_SOURCE:
        bars = load_bundled(spec.symbol, spec.timeframe).bars.filter(
            pl.col("ts").is_between(start, end, closed="left"))
    else:
        key = PartitionKey(spec.source, spec.timeframe, spec.symbol)
        bars = lake.scan(key, start, end).collect().sort("ts")
    if bars.is_empty():
        raise MissingDataError(
            f"no {spec.timeframe} bars for {spec.symbol} from source {spec.source} between "
            f"{spec.start} and {spec.end}: import or collect them first (`raytrade data ls` "
            "shows what the lake holds)")
    return validate_bars(bars)


def simulator_spec(sample: SampleSpec) -> SimulatorSpec:
    return SimulatorSpec(seed=sample.seed, signal_strength=sample.signal_strength,
                         signal_lookback=sample.signal_lookback)

"""Pure polars expression factories: the building blocks every feature formula is made of.

A `Node` is one named column defined by a `pl.Expr` over the bar columns and earlier nodes. The
pipeline evaluates nodes in dependency order, one `with_columns` per depth, so features share
intermediate columns (log close, window sums) instead of each recomputing them.

Every factory reads only the current and earlier rows (`shift(k)` with k >= 1 and no fill), so
the first rows of a frame come out null rather than computed from fewer bars. Frames hold one or
more symbols sorted by (symbol, ts); the pipeline masks the rows whose window reaches into the
previous symbol (see `valid_window`).

Window sums are exact and history-independent: the sum over the `n` rows ending at row t is
built from power-of-two partial sums, `s_2k(t) = s_k(t) + s_k(t - k)`, so it depends only on
those `n` values, added in an order fixed relative to t. A running sum (`rolling_sum`) carries
rounding from every earlier row (measured here: 4e-12 relative after a volatility spike), so a
live buffer of `warmup` bars would not reproduce the batch value, and over a symbol-sorted
column one symbol's prices would leak rounding into the next symbol's features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

COLUMN_PREFIX = "__rt_"  # intermediate columns; dropped before the pipeline returns
US_PER_MINUTE = 60_000_000  # `ts` is Datetime(us, UTC): epoch microseconds
MINUTES_PER_DAY = 1_440
TWO_PI = 2.0 * math.pi


@dataclass(frozen=True, eq=False)
class Node:
    """One column of the computation: a bar column (no inputs) or an expression over inputs.

    `key` identifies the computation: two nodes with the same key must hold the same
    expression, which is what lets features share intermediate columns.
    """

    key: str
    expr: pl.Expr
    inputs: tuple[Node, ...] = ()
    depth: int = field(init=False)
    """Evaluation stage: 0 for bar columns, else one more than the deepest input."""

    def __post_init__(self) -> None:
        depth = 1 + max(i.depth for i in self.inputs) if self.inputs else 0
        object.__setattr__(self, "depth", depth)

    @property
    def is_bar_column(self) -> bool:
        return not self.inputs

    @property
    def column(self) -> str:
        return self.key if self.is_bar_column else COLUMN_PREFIX + self.key

    @property
    def ref(self) -> pl.Expr:
        """Return a reference to this node's column, for use in later nodes."""
        return pl.col(self.column)


def bar(column: str) -> Node:
    """Return the node of a canonical bar column."""
    return Node(column, pl.col(column))


def derive(key: str, expr: pl.Expr, *inputs: Node) -> Node:
    """Return a node computed from `inputs` (refer to them with `.ref` inside `expr`)."""
    if not inputs:
        raise ValueError(f"node {key!r} needs at least one input")
    return Node(key, expr, inputs)


def log_of(x: Node) -> Node:
    return derive(f"log({x.key})", x.ref.log(), x)


def lag_diff(x: Node, lag: int) -> Node:
    """Return x[t] - x[t - lag]; null for the first `lag` rows."""
    _check_positive("lag", lag)
    return derive(f"diff{lag}({x.key})", x.ref - x.ref.shift(lag), x)


def lag_ratio(x: Node, lag: int) -> Node:
    """Return x[t] / x[t - lag] - 1; null for the first `lag` rows."""
    _check_positive("lag", lag)
    return derive(f"ratio{lag}({x.key})", x.ref / x.ref.shift(lag) - 1.0, x)


def square(x: Node) -> Node:
    return derive(f"sq({x.key})", x.ref * x.ref, x)


def product(x: Node, y: Node) -> Node:
    return derive(f"mul({x.key},{y.key})", x.ref * y.ref, x, y)


def window_sum(x: Node, n: int) -> Node:
    """Return the exact sum of `x` over the `n` rows ending at each row; null for the first n-1."""
    _check_positive("n", n)
    blocks = {1: x}
    size = 1
    while 2 * size <= n:
        half = blocks[size]
        blocks[2 * size] = derive(f"sum{2 * size}({x.key})", half.ref + half.ref.shift(size), half)
        size *= 2
    total, span = blocks[size], size
    for bit in reversed([b for b in blocks if b < size and (n - size) & b]):
        part = blocks[bit]
        # the newest `span` rows, then the next `bit` rows further back
        total = derive(f"sum{span + bit}({x.key})", total.ref + part.ref.shift(span), total, part)
        span += bit
    return total


def window_mean(x: Node, n: int) -> Node:
    """Return the mean of `x` over the `n` rows ending at each row."""
    total = window_sum(x, n)
    return derive(f"mean{n}({x.key})", total.ref * (1.0 / n), total)


def window_moments(x: Node, n: int) -> tuple[Node, Node]:
    """Return (mean, sample variance) of `x` over `n` rows, from exact window sums.

    The variance comes from sums of x and x², so its relative rounding is about
    1e-16 * (mean / std)²: nil for returns (mean ~ 0), 1e-10 for prices whose window std is
    0.1% of their level. Rounding can make it slightly negative; it is floored at 0.
    """
    if n < 2:
        raise ValueError(f"a window variance needs n >= 2, got {n}")
    s1, s2, mean = window_sum(x, n), window_sum(square(x), n), window_mean(x, n)
    spread = derive(f"spread{n}({x.key})", (s2.ref - s1.ref * mean.ref) * (1.0 / (n - 1)),
                    s1, s2, mean)
    var = derive(f"var{n}({x.key})", at_least(spread, 0.0), spread)
    return mean, var


def at_least(x: Node, bound: float) -> pl.Expr:
    """Return max(x, bound), null where x is null (3x faster than `clip` in polars 2.1)."""
    return pl.when(x.ref < bound).then(bound).otherwise(x.ref)


def minute_of_day(ts: Node) -> Node:
    """Return the UTC minute of the day of `ts`, 0 to 1439 (bars open on whole minutes)."""
    # floor division and modulo: bars before 1970 land in [0, 1440) as well
    minute = ts.ref.dt.epoch("us") // US_PER_MINUTE % MINUTES_PER_DAY
    return derive(f"minute_of_day({ts.key})", minute, ts)


def day_of_week(ts: Node) -> Node:
    """Return the UTC day of the week of `ts`, Monday 0 to Sunday 6."""
    # 1970-01-01 (epoch day 0) was a Thursday, day 3 when Monday is day 0
    weekday = (ts.ref.dt.epoch("us") // (US_PER_MINUTE * MINUTES_PER_DAY) + 3) % 7
    return derive(f"day_of_week({ts.key})", weekday, ts)


def cycle(position: Node, period: int, wave: Literal["sin", "cos"]) -> Node:
    """Return sin or cos of 2 pi position / period, for integer positions in [0, period).

    Read from a table of `period` values: a lookup costs a third of computing sin per bar.
    """
    fn = math.sin if wave == "sin" else math.cos
    table = pl.Series([fn(TWO_PI * k / period) for k in range(period)], dtype=pl.Float64)
    return derive(f"{wave}{period}({position.key})", pl.lit(table).gather(position.ref),
                  position)


def valid_window(symbol_run: Node, window: int) -> Node:
    """Return True where the `window` rows ending at a row all belong to one symbol.

    `symbol_run` numbers the runs of equal symbols (`rle_id`); in a frame sorted by symbol,
    the window is clean exactly when its first and last rows are in the same run. Null where
    the window starts before the frame.
    """
    if window < 2:
        raise ValueError(f"a one-bar window needs no mask, got window {window}")
    return derive(f"valid{window}", symbol_run.ref == symbol_run.ref.shift(window - 1),
                  symbol_run)


def symbol_runs() -> Node:
    """Return the run number of each row's symbol (rows must be grouped by symbol)."""
    symbol = bar("symbol")
    return derive("symbol_run", symbol.ref.rle_id(), symbol)


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")

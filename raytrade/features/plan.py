"""Evaluate nodes over bars: one `with_columns` per depth, in overlapping chunks, in memory.

A plan turns the node graph of several features into stages (every node of one depth in one
`with_columns`, so polars runs them in parallel and each shared node once). Frames are cut into
row chunks that overlap by `reach - 1` rows; every output row's window then lies inside its
chunk, and because each node's value depends only on the rows of its window (exact window sums),
the chunked result equals the one-piece result bit for bit. Chunks keep intermediate columns
in cache and bound memory (one chunk's intermediates at a time, not the whole frame's).

The in-memory engine is named explicitly: polars 2's default (streaming) engine ran these
shift-heavy plans 2-6x slower here (2.1-4.2 s against 0.4-0.9 s for 5 M bars).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from raytrade.features.exprs import COLUMN_PREFIX, Node

CHUNK_ROWS = 131_072
# Nodes are shared by construction, so common-subexpression search only costs planning time,
# paid once per chunk (about a third of a small query's 1.8 ms).
_OPTIMIZATIONS = pl.QueryOptFlags(comm_subexpr_elim=False, comm_subplan_elim=False)
_INTERMEDIATES = f"^{COLUMN_PREFIX}.*$"


@dataclass(frozen=True)
class Plan:
    """Stages of intermediate columns and the output columns they end in."""

    stages: tuple[tuple[pl.Expr, ...], ...]
    outputs: tuple[pl.Expr, ...]
    reach: int
    """Rows any output reads, the current one included (the largest window)."""

    def apply(self, bars: pl.LazyFrame) -> pl.LazyFrame:
        """Return `bars` plus the output columns (row order kept; one symbol run per window)."""
        for stage in self.stages:
            bars = bars.with_columns(stage)
        return bars.select(pl.exclude(_INTERMEDIATES), *self.outputs)

    def run(self, bars: pl.DataFrame, chunk_rows: int = CHUNK_ROWS) -> pl.DataFrame:
        """Return `bars` plus the output columns, computed chunk by chunk in parallel."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        overlap = self.reach - 1
        parts = []
        for start in range(0, max(bars.height, 1), chunk_rows):
            first = max(0, start - overlap)  # rows before `start` only feed the windows
            chunk = bars.slice(first, start + chunk_rows - first).lazy()
            parts.append(self.apply(chunk).slice(start - first))
        frames = pl.collect_all(parts, engine="in-memory", optimizations=_OPTIMIZATIONS)
        return pl.concat(frames, rechunk=False)


def compile_plan(outputs: Mapping[str, Node], reach: int) -> Plan:
    """Return the plan computing each output node under its name, each shared node once."""
    nodes: dict[str, Node] = {}
    for node in outputs.values():
        _collect(node, nodes)
    by_depth: dict[int, list[pl.Expr]] = {}
    for node in nodes.values():
        by_depth.setdefault(node.depth, []).append(node.expr.alias(node.column))
    stages = tuple(tuple(by_depth[depth]) for depth in sorted(by_depth))
    return Plan(stages, tuple(node.ref.alias(name) for name, node in outputs.items()), reach)


def _collect(node: Node, nodes: dict[str, Node]) -> None:
    if node.is_bar_column:
        return
    seen = nodes.get(node.key)
    if seen is not None:
        if seen is not node and not seen.expr.meta.eq(node.expr):
            raise ValueError(f"two different computations share the node key {node.key!r}")
        return
    for parent in node.inputs:
        _collect(parent, nodes)
    nodes[node.key] = node

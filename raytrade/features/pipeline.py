"""FeaturePipeline: one feature computation for training, backtesting and live inference.

Batch (`transform`) and live (`transform_latest`) run the same compiled plan. Each feature at a
bar reads only the `window` bars ending there, through exact window sums (see `exprs.py`), so
the live row computed from a buffer of `warmup` bars equals the batch row bit for bit, and no
symbol's bars touch another symbol's features. Rows inside a symbol's warm-up are null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from raytrade.config.experiment import FeatureSpec
from raytrade.core.errors import InputError, IntegrityError
from raytrade.features.exprs import Node, derive, symbol_runs, valid_window
from raytrade.features.groups import FEATURES, Feature, group_features, set_features
from raytrade.features.metadata import HASH_KEY, build_metadata, verified_names
from raytrade.features.plan import Plan, compile_plan

PIPELINE_VERSION = 1
"""Bump whenever any formula, window or the set contents change: old metadata is then refused."""

VOLUME_FIX = ("use `features: {set: crypto}` or groups without `volume`, "
              "or a source with volume")


@dataclass(frozen=True)
class FeaturePipeline:
    """An immutable list of features and the plan that computes them."""

    features: tuple[Feature, ...]
    _plan: Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("a feature pipeline needs at least one feature")
        if len(set(names)) != len(names):
            raise ValueError(f"feature names repeat: {names}")
        object.__setattr__(self, "_plan", _feature_plan(self.features, self.warmup))

    @classmethod
    def from_spec(cls, spec: FeatureSpec) -> FeaturePipeline:
        """Return the pipeline of a named set or of every feature in the listed groups."""
        if (spec.set is None) == (spec.groups is None):
            raise InputError("features: expected exactly one of `set: crypto|equities` or "
                             "`groups: [...]`")
        if spec.set is not None:
            return cls(set_features(spec.set))
        return cls(group_features(spec.groups or ()))

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> FeaturePipeline:
        """Return the pipeline that wrote `meta`; IntegrityError if it cannot be the same."""
        names = verified_names(meta, PIPELINE_VERSION)
        unknown = [n for n in names if n not in FEATURES]
        if unknown or not names:
            raise IntegrityError(f"feature metadata names features this version does not know: "
                                 f"{unknown or 'none at all'}")
        try:
            pipeline = cls(tuple(FEATURES[n] for n in names))
        except ValueError as exc:
            raise IntegrityError(f"feature metadata lists an impossible pipeline: {exc}") from None
        if pipeline.metadata() != dict(meta):
            raise IntegrityError("feature metadata describes its features differently from this "
                                 f"version's registry (pipeline version {PIPELINE_VERSION})")
        return pipeline

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Return the feature column names in model column order."""
        return tuple(f.name for f in self.features)

    @property
    def warmup(self) -> int:
        """Return the bars a symbol needs before every feature has a value (the live buffer)."""
        return max(f.window for f in self.features)

    @property
    def needs_volume(self) -> bool:
        return any(f.needs_volume for f in self.features)

    @property
    def plan(self) -> Plan:
        """Return the compiled evaluation plan (stages of intermediate columns)."""
        return self._plan

    @property
    def spec_hash(self) -> str:
        """Return the feature fingerprint a run records: the hash of `metadata()`."""
        return str(self.metadata()[HASH_KEY])

    def metadata(self) -> dict[str, Any]:
        """Return JSON-ready metadata: features and parameters, warm-up, version, hash."""
        return build_metadata(self.features, self.warmup, PIPELINE_VERSION)

    def transform(self, bars: pl.LazyFrame) -> pl.LazyFrame:
        """Return `bars` plus one Float64 column per feature; warm-up rows are null.

        `bars` hold canonical bar columns of one or more symbols, sorted by (symbol, ts).
        """
        schema = bars.collect_schema()
        self._check_columns(schema.names())
        out = {**dict(schema), **{name: pl.Float64() for name in self.feature_names}}
        # Deferred: nothing runs until the result is collected, and then on the in-memory
        # engine whatever engine the caller picks (a `map_batches` node inside polars 2's
        # streaming engine ran 2x slower). Filters on the result are not pushed below it, so
        # they cannot shorten the windows.
        return pl.defer(lambda: self._compute(bars.collect(engine="in-memory")), schema=out)

    def transform_latest(self, bars: pl.DataFrame) -> pl.DataFrame:
        """Return the newest bar with its features, from the last `warmup` bars of one symbol.

        The numbers equal the batch row of that bar.
        """
        self._check_columns(bars.columns)
        symbols = bars.get_column("symbol").unique(maintain_order=True).to_list()
        if len(symbols) != 1:
            raise InputError(f"transform_latest takes the bars of one symbol; got {len(symbols)}"
                             f" symbols {symbols[:5]}")
        if bars.height < self.warmup:
            raise InputError(f"symbol {symbols[0]}: live features need the last {self.warmup} "
                             f"bars; got {bars.height}")
        return self._compute(bars.tail(self.warmup)).tail(1)

    def check_volume(self, bars: pl.DataFrame, threshold: float = 0.9) -> None:
        """Raise InputError if volume features are asked for and a symbol's volume is sparse.

        Coverage is the share of a symbol's bars with a non-null, positive volume.
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not self.needs_volume or bars.is_empty():
            return
        has_volume = (pl.col("volume").is_finite() & (pl.col("volume") > 0)).fill_null(False)
        if "volume" not in bars.columns:
            has_volume = pl.lit(False)
        worst = (bars.group_by("symbol").agg(coverage=has_volume.mean())
                 .sort("coverage", "symbol").row(0, named=True))
        if worst["coverage"] < threshold:
            raise InputError(
                f"symbol {worst['symbol']}: volume coverage is {worst['coverage']:.1%} of bars, "
                f"below the {threshold:.0%} that volume features need; {VOLUME_FIX}")

    def _check_columns(self, columns: list[str]) -> None:
        needed = ["ts", "symbol", "high", "low", "close", *(["volume"] * self.needs_volume)]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise InputError(f"bars lack the columns {missing} that the features read")
        clashes = [c for c in self.feature_names if c in columns]
        if clashes:
            raise InputError(f"bars already have columns named like features: {clashes}")

    def _compute(self, bars: pl.DataFrame) -> pl.DataFrame:
        _check_order(bars)
        return self._plan.run(bars)


def _feature_plan(features: tuple[Feature, ...], warmup: int) -> Plan:
    runs = symbol_runs()
    outputs: dict[str, Node] = {}
    for feature in features:
        node = feature.node()
        value = node.ref.cast(pl.Float64)
        if feature.window == 1:
            outputs[feature.name] = derive(f"out:{feature.name}", value, node)
            continue
        # null unless all `window` bars belong to this symbol: no warm-up values, no leakage
        valid = valid_window(runs, feature.window)
        outputs[feature.name] = derive(f"out:{feature.name}", pl.when(valid.ref).then(value),
                                       valid, node)
    return compile_plan(outputs, warmup)


def _check_order(bars: pl.DataFrame) -> None:
    """Raise InputError unless `ts` strictly increases within each run of one symbol."""
    same = pl.col("symbol") == pl.col("symbol").shift(1)
    later = pl.col("ts") > pl.col("ts").shift(1)
    bad = bars.select((same & later.not_()).fill_null(False).arg_true().first()).item()
    if bad is not None:
        row = bars.row(int(bad), named=True)
        raise InputError(f"symbol {row['symbol']}: bars must be sorted by (symbol, ts) without "
                         f"duplicates; bar {row['ts']} comes after an equal or later one")

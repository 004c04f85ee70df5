"""Cross-field rules of an experiment: one small pure function per rule.

Each rule returns the problems it finds with the absolute key path; `check_rules` gathers them
into one ConfigError so a user sees every broken rule at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from raytrade.core.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from raytrade.config.experiment import ExperimentConfig

Rule = Callable[["ExperimentConfig"], list[ConfigProblem]]
SUM_TOLERANCE = 1e-9


def split_fractions_sum_to_one(cfg: ExperimentConfig) -> list[ConfigProblem]:
    s = cfg.split
    total = s.train + s.validation + s.test
    if abs(total - 1.0) <= SUM_TOLERANCE:
        return []
    found = f"train {s.train} + validation {s.validation} + test {s.test} = {total:g}"
    return [ConfigProblem("split", found, "fractions that sum to 1")]


def embargo_covers_holding_period(cfg: ExperimentConfig) -> list[ConfigProblem]:
    # A shorter embargo lets the labels at the end of one segment read prices from the next.
    embargo = cfg.split.embargo
    if embargo == "auto" or embargo >= cfg.label.holding_period:
        return []
    expected = (f"`auto` or an integer >= label.holding_period ({cfg.label.holding_period}), "
                "so labels never read across a segment boundary")
    return [ConfigProblem("split.embargo", repr(embargo), expected)]


def folds_match_scheme(cfg: ExperimentConfig) -> list[ConfigProblem]:
    s = cfg.split
    if s.scheme == "walk_forward" and s.folds < 2:
        return [ConfigProblem("split.folds", repr(s.folds), "at least 2 folds for walk_forward")]
    if s.scheme == "holdout" and s.folds != 1:
        return [ConfigProblem("split.folds", repr(s.folds),
                              "1 for the holdout scheme (or split.scheme: walk_forward)")]
    return []


def one_feature_selection(cfg: ExperimentConfig) -> list[ConfigProblem]:
    f = cfg.features
    if (f.set is None) == (f.groups is None):
        found = "both `set` and `groups`" if f.set is not None else "neither `set` nor `groups`"
        return [ConfigProblem("features", found,
                              "exactly one of `set: crypto|equities` or `groups: [...]`")]
    if f.groups is not None and len(set(f.groups)) != len(f.groups):
        return [ConfigProblem("features.groups", repr(list(f.groups)), "each group at most once")]
    return []


def win_rate_ordered(cfg: ExperimentConfig) -> list[ConfigProblem]:
    low, high = cfg.gate.win_rate
    if low < high:
        return []
    return [ConfigProblem("gate.win_rate", f"[{low}, {high}]",
                          "[low, high] with 0 <= low < high <= 1")]


def window_ordered(cfg: ExperimentConfig) -> list[ConfigProblem]:
    if cfg.data.start < cfg.data.end:
        return []
    return [ConfigProblem("data.end", cfg.data.end.isoformat(),
                          f"a date after data.start ({cfg.data.start.isoformat()})")]


def stop_loss_needs_multiclass(cfg: ExperimentConfig) -> list[ConfigProblem]:
    if cfg.label.stop_loss is None or cfg.model.kind == "multiclass":
        return []
    return [ConfigProblem("label.stop_loss", repr(cfg.label.stop_loss),
                          "no stop_loss for model.kind binary (it applies to multiclass barriers)")]


def sample_only_for_sample_source(cfg: ExperimentConfig) -> list[ConfigProblem]:
    if cfg.data.sample is None or cfg.data.source == "sample":
        return []
    return [ConfigProblem("data.sample", "simulator settings",
                          f"no `sample` section for source {cfg.data.source} (only for sample)")]


def sample_signal_is_stationary(cfg: ExperimentConfig) -> list[ConfigProblem]:
    sample = cfg.data.sample
    if sample is None or abs(sample.signal_strength) * sample.signal_lookback ** 0.5 < 0.9:
        return []
    return [ConfigProblem("data.sample.signal_strength", repr(sample.signal_strength),
                          "|signal_strength| * sqrt(signal_lookback) below 0.9 (a stationary "
                          "planted signal)")]


def short_needs_multiclass(cfg: ExperimentConfig) -> list[ConfigProblem]:
    if not cfg.strategy.allow_short or cfg.model.kind == "multiclass":
        return []
    return [ConfigProblem("strategy.allow_short", "true",
                          "false for model.kind binary (only a multiclass model predicts falls)")]


def split_dates_ordered(cfg: ExperimentConfig) -> list[ConfigProblem]:
    s, data = cfg.split, cfg.data
    if s.validation_start is None and s.test_start is None:
        return []
    if s.validation_start is None or s.test_start is None:
        return [ConfigProblem("split", "only one of validation_start and test_start",
                              "both dates, or neither (then the fractions apply)")]
    if s.scheme != "holdout":
        return [ConfigProblem("split.scheme", s.scheme, "holdout when splitting by dates")]
    if not data.start < s.validation_start < s.test_start <= data.end:
        return [ConfigProblem("split.test_start", s.test_start.isoformat(),
                              f"data.start ({data.start}) < split.validation_start "
                              f"({s.validation_start}) < split.test_start <= data.end "
                              f"({data.end})")]
    return []


RULES: tuple[Rule, ...] = (
    window_ordered,
    sample_only_for_sample_source,
    sample_signal_is_stationary,
    one_feature_selection,
    stop_loss_needs_multiclass,
    short_needs_multiclass,
    split_fractions_sum_to_one,
    embargo_covers_holding_period,
    folds_match_scheme,
    split_dates_ordered,
    win_rate_ordered,
)


def check_rules(cfg: ExperimentConfig) -> ConfigError | None:
    """Return a ConfigError with every broken cross-field rule, or None."""
    problems = [problem for rule in RULES for problem in rule(cfg)]
    return ConfigError(problems) if problems else None

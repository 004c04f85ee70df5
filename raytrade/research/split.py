"""Chronological splits: train | embargo | validation | embargo | test, never shuffled.

Segments are index ranges into a time-ordered frame. The embargo (bars) is dropped between
segments so that a label at the end of one segment, which reads `holding_period` bars ahead,
cannot see prices inside the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from raytrade.config.experiment import SplitSpec
from raytrade.core.errors import MissingDataError

MIN_SEGMENT = 10  # bars; fewer cannot train, early-stop or test anything meaningful


@dataclass(frozen=True)
class Fold:
    """One train/validation/test arrangement; `test` blocks of successive folds are adjacent."""

    train: range
    validation: range
    test: range


def assert_chronological(ts: np.ndarray) -> None:
    """Raise ValueError unless `ts` is strictly increasing (the code never shuffles time)."""
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError("bars are not in strictly increasing time order")


def make_folds(ts: np.ndarray, spec: SplitSpec, embargo: int) -> list[Fold]:
    """Return the folds for rows opening at `ts` (time-ordered UTC datetime64): one for holdout
    (by fractions, or by dates when the spec gives them), `spec.folds` for walk-forward."""
    assert_chronological(ts)
    n = ts.size
    if spec.validation_start is not None and spec.test_start is not None:
        folds = _by_dates(ts, spec.validation_start, spec.test_start, embargo)
    elif spec.scheme == "holdout":
        folds = _holdout(n, spec, embargo)
    else:
        folds = _walk_forward(n, spec, embargo)
    for fold in folds:
        for name in ("train", "validation", "test"):
            if len(getattr(fold, name)) < MIN_SEGMENT:
                raise MissingDataError(
                    f"too few bars for the split: the {name} segment has "
                    f"{len(getattr(fold, name))} bars (of {n} with features, embargo {embargo}); "
                    "widen the data window or use fewer folds")
    return folds


def _holdout(n: int, spec: SplitSpec, embargo: int) -> list[Fold]:
    train_end = int(n * spec.train)
    val_end = int(n * (spec.train + spec.validation))
    return [Fold(train=range(0, train_end),
                 validation=range(train_end + embargo, val_end),
                 test=range(val_end + embargo, n))]


def _by_dates(ts: np.ndarray, validation: date, test: date, embargo: int) -> list[Fold]:
    # The dates are kept exactly; the embargo is taken from the end of the segment before.
    v, t = (int(np.searchsorted(ts, np.datetime64(day.isoformat()), side="left"))
            for day in (validation, test))
    return [Fold(train=range(0, max(v - embargo, 0)), validation=range(v, max(t - embargo, v)),
                 test=range(t, ts.size))]


def _walk_forward(n: int, spec: SplitSpec, embargo: int) -> list[Fold]:
    # The last `test` share of the data is cut into `folds` adjacent test blocks; each fold
    # validates on the block before its test block and trains on everything before that
    # (expanding) or on a window of the first fold's train length (rolling).
    test_size = int(n * spec.test) // spec.folds
    val_size = max(int(test_size * spec.validation / spec.test), 1)
    first_test = n - test_size * spec.folds
    first_train = first_test - embargo - val_size - embargo
    folds = []
    for k in range(spec.folds):
        test_start = first_test + k * test_size
        test_end = n if k == spec.folds - 1 else test_start + test_size
        val_end = test_start - embargo
        train_end = val_end - val_size - embargo
        train_start = 0 if spec.window == "expanding" else max(train_end - first_train, 0)
        folds.append(Fold(train=range(train_start, train_end),
                          validation=range(val_end - val_size, val_end),
                          test=range(test_start, test_end)))
    return folds

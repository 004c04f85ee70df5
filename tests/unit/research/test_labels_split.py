"""Splits are chronological with an embargo; labels are computed inside a segment only."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raytrade.config.experiment import SplitSpec
from raytrade.core.errors import MissingDataError
from raytrade.research.labels import DOWN, FLAT, UP, barrier_labels, binary_labels
from raytrade.research.split import assert_chronological, make_folds


def _ts(n: int) -> np.ndarray:
    return np.datetime64("2024-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h")


def test_holdout_is_chronological_with_embargo_gaps() -> None:
    [fold] = make_folds(_ts(1000), SplitSpec(), embargo=12)
    assert (fold.train.start, fold.train.stop) == (0, 600)
    assert fold.validation.start - fold.train.stop == 12
    assert fold.test.start - fold.validation.stop == 12 and fold.test.stop == 1000


@given(n=st.integers(300, 5000), folds=st.integers(2, 6), embargo=st.integers(0, 20),
       rolling=st.booleans())
def test_walk_forward_folds_never_look_ahead(n: int, folds: int, embargo: int,
                                             rolling: bool) -> None:
    spec = SplitSpec(scheme="walk_forward", folds=folds,
                     window="rolling" if rolling else "expanding")
    result = make_folds(_ts(n), spec, embargo)
    assert len(result) == folds and result[-1].test.stop == n
    for k, fold in enumerate(result):
        assert fold.train.stop + embargo <= fold.validation.start
        assert fold.validation.stop + embargo <= fold.test.start
        if k:
            assert fold.test.start == result[k - 1].test.stop  # adjacent out-of-sample blocks


def test_too_little_data_is_a_clear_error() -> None:
    with pytest.raises(MissingDataError, match="too few bars"):
        make_folds(_ts(30), SplitSpec(), embargo=12)


def test_split_by_dates_keeps_the_dates_and_embargoes_before_them() -> None:
    ts = _ts(24 * 60)  # 60 days of hourly bars from 2024-01-01
    spec = SplitSpec(validation_start=date(2024, 2, 1), test_start=date(2024, 2, 15))
    [fold] = make_folds(ts, spec, embargo=6)
    assert ts[fold.validation.start] == np.datetime64("2024-02-01T00:00")
    assert ts[fold.test.start] == np.datetime64("2024-02-15T00:00")
    assert fold.train.stop == fold.validation.start - 6
    assert fold.validation.stop == fold.test.start - 6 and fold.test.stop == ts.size


def test_shuffled_time_is_refused() -> None:
    with pytest.raises(ValueError, match="increasing time order"):
        assert_chronological(np.array([1, 3, 2]))


def test_binary_labels_use_the_forward_return_and_leave_the_tail_unlabelled() -> None:
    close = np.array([100.0, 101.0, 99.0, 103.0, 100.0])
    labels = binary_labels(close, holding_period=2, profit_target=0.01)
    np.testing.assert_array_equal(labels[:3], [0.0, 1.0, 1.0])  # 99/100-1, 103/101-1, 100/99-1
    assert np.isnan(labels[3:]).all()


def test_barrier_labels_take_the_first_barrier_touched() -> None:
    close = np.array([100.0, 101.0, 99.0, 103.0, 100.0, 100.0, 100.0])
    labels = barrier_labels(close, 2, profit_target=0.015, stop_loss=0.015)
    np.testing.assert_array_equal(labels[:5], [FLAT, DOWN, UP, DOWN, FLAT])
    assert np.isnan(labels[5:]).all()


@given(seed=st.integers(0, 10_000), end=st.integers(50, 190), h=st.integers(1, 20))
def test_labels_never_read_prices_past_segment_end(seed: int, end: int, h: int) -> None:
    """Change every price after the segment's end: no label inside the segment changes."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    tampered = close.copy()
    tampered[end:] *= rng.uniform(0.5, 1.5, 200 - end)
    for label in (lambda c: binary_labels(c, h, 0.002),
                  lambda c: barrier_labels(c, h, 0.01, 0.01)):
        np.testing.assert_array_equal(label(close[:end]), label(tampered[:end]))

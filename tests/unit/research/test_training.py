"""XGBoost training: learns a real effect, is deterministic for a seed, round-trips its JSON."""

from __future__ import annotations

import numpy as np

from raytrade.config.experiment import ModelParams
from raytrade.research.labels import DOWN, FLAT, UP
from raytrade.research.training import (
    binary_signals,
    choose_threshold,
    load_model,
    multiclass_signals,
    train_model,
)

NAMES = ("signal", "noise")
PARAMS = ModelParams(num_boost_round=60, early_stopping_rounds=10, max_depth=3, eta=0.2)


def _data(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(float)
    return x, y


def _fit(seed: int = 7):  # type: ignore[no-untyped-def]
    (xt, yt), (xv, yv) = _data(1), _data(2)
    return train_model(xt, yt, xv, yv, kind="binary", params=PARAMS, seed=seed,
                       feature_names=NAMES, threads=1)


def test_binary_model_finds_a_real_effect_and_stops_early() -> None:
    model = _fit()
    x, y = _data(3)
    accuracy = np.mean((model.predict(x) >= 0.5) == y)
    assert accuracy > 0.75
    assert 0 <= model.best_iteration < PARAMS.num_boost_round
    assert np.isfinite(model.validation_loss)


def test_training_is_deterministic_for_a_seed_and_json_round_trips() -> None:
    first, second = _fit(), _fit()
    x, _ = _data(4)
    np.testing.assert_array_equal(first.predict(x), second.predict(x))
    reloaded = load_model(first.to_json(), kind="binary", feature_names=NAMES,
                          best_iteration=first.best_iteration)
    np.testing.assert_array_equal(reloaded.predict(x), first.predict(x))


def test_multiclass_model_outputs_three_class_probabilities() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))
    y = np.select([x[:, 0] < -0.5, x[:, 0] > 0.5], [DOWN, UP], FLAT).astype(float)
    model = train_model(x[:2000], y[:2000], x[2000:], y[2000:], kind="multiclass",
                        params=PARAMS, seed=1, feature_names=NAMES, threads=1)
    proba = model.predict(x[2000:])
    assert proba.shape == (1000, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    long_only = multiclass_signals(proba, allow_short=False)
    with_short = multiclass_signals(proba, allow_short=True)
    assert set(np.unique(long_only)) <= {0, 1} and -1 in with_short


def test_threshold_is_chosen_where_validation_returns_are_best() -> None:
    p = np.linspace(0, 1, 200)
    fwd = np.where(p > 0.8, 0.01, -0.002)  # only the most confident fifth pays
    threshold = choose_threshold(p, fwd, round_trip_cost=0.001)
    assert 0.75 < threshold <= 0.85
    assert binary_signals(np.array([0.5, threshold, 0.99]), threshold).tolist() == [0, 1, 1]

"""Data-parallel XGBoost on a real local Ray (2 CPUs, 2 workers of 1 CPU each): the model it
returns is as good as single-process `train_model`'s, carries the feature names, stops early on
the whole validation set, and below `min_rows` it *is* `train_model`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import ray

from raytrade.config.experiment import ModelParams
from raytrade.core.errors import InputError
from raytrade.research.training import Kind, TrainedModel, Trainer, train_model
from raytrade.runtime.distributed import distributed_trainer
from raytrade.runtime.local import start_local

NAMES = tuple(f"feature_{i}" for i in range(8))
TRAIN, VALIDATION, TEST = 16_000, 4_000, 4_000
# A high learning rate with deep trees overfits within a few dozen rounds, so with 2,000 rounds
# allowed the run can only end early if early stopping works.
PARAMS = ModelParams(max_depth=6, eta=0.3, num_boost_round=2_000, early_stopping_rounds=10)
# Distributed `hist` merges per-worker quantile sketches, so its split candidates differ a
# little from single-process ones; the gradients and histograms are summed exactly.
AUC_TOLERANCE = 0.01
ACCURACY_TOLERANCE = 0.02


@dataclass(frozen=True)
class Data:
    x: np.ndarray
    y: np.ndarray

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        start, stop = {"train": (0, TRAIN), "validation": (TRAIN, TRAIN + VALIDATION),
                       "test": (TRAIN + VALIDATION, TRAIN + VALIDATION + TEST)}[name]
        return self.x[start:stop], self.y[start:stop]


@dataclass(frozen=True)
class Pair:
    distributed: TrainedModel
    single: TrainedModel


def _planted(kind: Kind, seed: int) -> Data:
    """Rows whose label depends on three of the eight features plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(TRAIN + VALIDATION + TEST, len(NAMES)))
    score = x[:, 0] + 0.6 * x[:, 1] - 0.4 * x[:, 2] ** 2 + rng.normal(scale=0.8, size=len(x))
    if kind == "binary":
        return Data(x, (score > np.median(score)).astype(np.float64))
    return Data(x, np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.float64))


def _fit(trainer: Trainer, data: Data, kind: Kind) -> TrainedModel:
    x_train, y_train = data.part("train")
    x_val, y_val = data.part("validation")
    return trainer(x_train, y_train, x_val, y_val, kind=kind, params=PARAMS, seed=7,
                   feature_names=NAMES, threads=2)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUC with tied scores at their average rank (trees tie many rows)."""
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _logloss(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    picked = np.clip(proba[np.arange(len(y)), y.astype(int)], 1e-15, 1.0)
    return float(-np.mean(np.log(picked)))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    start_local(num_cpus=2)
    assert ray.cluster_resources()["CPU"] == 2.0  # type: ignore[no-untyped-call]
    yield
    ray.shutdown()


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def data(kind: Kind) -> Data:
    return _planted(kind, seed=11)


@pytest.fixture(scope="module")
def pair(local_ray: None, kind: Kind, data: Data) -> Pair:
    # Both CPUs go to the two workers: Ray Train's controller and helper actors ask for none.
    trainer = distributed_trainer(2, min_rows=TRAIN, cpus_per_worker=1.0)
    return Pair(_fit(trainer, data, kind), _fit(train_model, data, kind))


def test_distributed_booster_keeps_the_feature_names(pair: Pair) -> None:
    assert pair.distributed.feature_names == NAMES
    assert pair.distributed.booster.feature_names == list(NAMES)


def test_distributed_model_predicts_the_shapes_evaluation_expects(pair: Pair, kind: Kind,
                                                                  data: Data) -> None:
    x_test, _ = data.part("test")
    proba = pair.distributed.predict(x_test)
    if kind == "binary":
        assert proba.shape == (TEST,)
    else:
        assert proba.shape == (TEST, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all((proba >= 0) & (proba <= 1))


def test_distributed_model_is_as_good_as_single_process(pair: Pair, kind: Kind,
                                                        data: Data) -> None:
    x_test, y_test = data.part("test")
    dist, single = pair.distributed.predict(x_test), pair.single.predict(x_test)
    if kind == "binary":
        dist_auc, single_auc = _auc(y_test, dist), _auc(y_test, single)
        assert dist_auc > 0.75, f"held-out AUC {dist_auc:.3f}: the planted signal was missed"
        assert abs(dist_auc - single_auc) <= AUC_TOLERANCE, (dist_auc, single_auc)
    else:
        dist_acc = float(np.mean(dist.argmax(axis=1) == y_test))
        single_acc = float(np.mean(single.argmax(axis=1) == y_test))
        assert dist_acc > 0.5, f"held-out accuracy {dist_acc:.3f} against 1/3 by chance"
        assert abs(dist_acc - single_acc) <= ACCURACY_TOLERANCE, (dist_acc, single_acc)


def test_distributed_training_stops_early_on_the_validation_loss(pair: Pair) -> None:
    model = pair.distributed
    assert model.best_iteration < 200 < PARAMS.num_boost_round
    # Training ran exactly `early_stopping_rounds` past the best round, then stopped.
    assert (model.booster.num_boosted_rounds()
            == model.best_iteration + 1 + PARAMS.early_stopping_rounds)


def test_validation_loss_is_the_whole_validation_sets(pair: Pair, data: Data) -> None:
    """Each worker evaluates only its shard; XGBoost sums the shards' losses across workers,
    so the loss early stopping saw is the one on every validation row (a worker-local loss
    would differ)."""
    x_val, y_val = data.part("validation")
    recomputed = _logloss(y_val, pair.distributed.predict(x_val))
    assert pair.distributed.validation_loss == pytest.approx(recomputed, rel=1e-5)
    assert pair.distributed.validation_loss == pytest.approx(pair.single.validation_loss,
                                                             rel=0.05)


def test_below_min_rows_it_is_train_model(local_ray: None) -> None:
    data = _planted("binary", seed=3)
    trainer = distributed_trainer(2, min_rows=TRAIN + 1)
    delegated, direct = _fit(trainer, data, "binary"), _fit(train_model, data, "binary")
    x_test, _ = data.part("test")
    assert np.array_equal(delegated.predict(x_test), direct.predict(x_test))
    assert delegated.to_json() == direct.to_json()
    assert (delegated.best_iteration, delegated.validation_loss) == (
        direct.best_iteration, direct.validation_loss)


def test_a_worker_group_larger_than_the_cluster_is_refused_not_awaited(local_ray: None) -> None:
    with pytest.raises(InputError, match="needs 3 CPU"):
        _fit(distributed_trainer(3, min_rows=10), _planted("binary", seed=3), "binary")


def test_an_actor_holding_a_cpu_is_refused_the_cpu_it_holds(local_ray: None) -> None:
    """Tune runs each trial as an actor that keeps its CPU while its workers train: on 2 CPUs,
    2 workers of 1 CPU would wait for that CPU forever."""

    @ray.remote(num_cpus=1)
    class Trial:
        def run(self, trainer: Trainer, x: np.ndarray, y: np.ndarray, params: ModelParams,
                names: tuple[str, ...]) -> None:
            # Only arguments and raytrade here: Ray's workers cannot import this test module.
            trainer(x, y, x, y, kind="binary", params=params, seed=1, feature_names=names)

    x, y = _planted("binary", seed=3).part("train")
    trial = Trial.remote()  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="needs 2 CPU"):
        ray.get(trial.run.remote(distributed_trainer(2, min_rows=10), x, y, PARAMS, NAMES),
                timeout=120)

"""XGBoost training and prediction: the only module that imports xgboost.

`hist` trees, early stopping on the validation segment, an explicit seed, and `device="cuda"` only
when the caller was handed a GPU. The binary decision threshold is chosen on validation, never
on test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import xgboost as xgb

from raytrade.config.experiment import ModelParams
from raytrade.research.labels import DOWN, UP

Kind = Literal["binary", "multiclass"]
Device = Literal["cpu", "cuda"]
THRESHOLD_QUANTILES = np.linspace(0.5, 0.95, 10)
MIN_VALIDATION_SIGNALS = 10


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    kind: Kind
    best_iteration: int
    feature_names: tuple[str, ...]
    validation_loss: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return P(label 1) per row for binary, or (rows, 3) class probabilities."""
        matrix = xgb.DMatrix(features, feature_names=list(self.feature_names))
        return np.asarray(self.booster.predict(
            matrix, iteration_range=(0, self.best_iteration + 1)), dtype=np.float64)

    def to_json(self) -> bytes:
        return bytes(self.booster.save_raw(raw_format="json"))


class Trainer(Protocol):
    """Anything that trains like `train_model` (the runtime adds a distributed one)."""

    def __call__(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                 y_val: np.ndarray, *, kind: Kind, params: ModelParams, seed: int,
                 feature_names: tuple[str, ...], device: Device = "cpu",
                 threads: int | None = None) -> TrainedModel: ...


def train_model(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                *, kind: Kind, params: ModelParams, seed: int, feature_names: tuple[str, ...],
                device: Device = "cpu", threads: int | None = None) -> TrainedModel:
    """Train with early stopping on validation and return the booster at its best round."""
    names = list(feature_names)
    train = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    val = xgb.DMatrix(x_val, label=y_val, feature_names=names)
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        xgb_params(kind, params, seed, device, threads), train,
        num_boost_round=params.num_boost_round, evals=[(val, "validation")],
        early_stopping_rounds=params.early_stopping_rounds, evals_result=history,
        verbose_eval=False)
    best = int(getattr(booster, "best_iteration", params.num_boost_round - 1))
    losses = next(iter(history["validation"].values()))
    return TrainedModel(booster, kind, best, feature_names, float(losses[best]))


def xgb_params(kind: Kind, params: ModelParams, seed: int, device: Device,
               threads: int | None) -> dict[str, object]:
    """Return the booster parameters every trainer uses (the runtime's distributed one too)."""
    objective = ({"objective": "binary:logistic", "eval_metric": "logloss"} if kind == "binary"
                 else {"objective": "multi:softprob", "num_class": 3, "eval_metric": "mlogloss"})
    return {
        **objective, "tree_method": "hist", "device": device, "seed": seed,
        "nthread": threads or len(os.sched_getaffinity(0)),
        "max_depth": params.max_depth, "eta": params.eta, "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "min_child_weight": params.min_child_weight, "lambda": params.reg_lambda,
        "alpha": params.reg_alpha,
    }


def load_model(model_json: bytes, *, kind: Kind, feature_names: tuple[str, ...],
               best_iteration: int) -> TrainedModel:
    booster = xgb.Booster()
    booster.load_model(bytearray(model_json))
    return TrainedModel(booster, kind, best_iteration, feature_names, float("nan"))


def choose_threshold(p_val: np.ndarray, fwd_val: np.ndarray, round_trip_cost: float) -> float:
    """Return the probability cut that maximised net forward return on validation.

    Candidates are quantiles of the validation probabilities, so the cut adapts to the model's
    calibration; each must select at least MIN_VALIDATION_SIGNALS bars.
    """
    usable = ~np.isnan(fwd_val)
    p, fwd = p_val[usable], fwd_val[usable]
    best, best_score = 0.5, -np.inf
    for cut in np.unique(np.quantile(p, THRESHOLD_QUANTILES)) if p.size else []:
        chosen = p >= cut
        if chosen.sum() < MIN_VALIDATION_SIGNALS:
            continue
        score = float(np.sum(fwd[chosen] - round_trip_cost))
        if score > best_score:
            best, best_score = float(cut), score
    return best


def binary_signals(p_up: np.ndarray, threshold: float) -> np.ndarray:
    """Return +1 where P(up) reaches the threshold, else 0 (binary models trade long/flat)."""
    return (p_up >= threshold).astype(np.int8)


def multiclass_signals(proba: np.ndarray, allow_short: bool) -> np.ndarray:
    """Return +1 where UP is the likeliest class, -1 where DOWN is (if shorting), else 0."""
    winner = proba.argmax(axis=1)
    signal = np.where(winner == UP, 1, 0)
    if allow_short:
        signal = np.where(winner == DOWN, -1, signal)
    return signal.astype(np.int8)

"""One hypothesis, evaluated: features, chronological split, labels inside each segment,
XGBoost with early stopping, signals on test, backtest with costs, metrics. Pure: the caller
hands in the bars and persists what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from raytrade.config.experiment import ExperimentConfig
from raytrade.core.records import Metric
from raytrade.core.types import periods_per_year
from raytrade.features.pipeline import FeaturePipeline
from raytrade.research.backtest import BacktestResult, backtest
from raytrade.research.labels import barrier_labels, binary_labels, forward_returns
from raytrade.research.metrics import compute_metrics
from raytrade.research.split import Fold, make_folds
from raytrade.research.training import (
    Device,
    TrainedModel,
    binary_signals,
    choose_threshold,
    multiclass_signals,
    train_model,
)


@dataclass(frozen=True)
class Outcome:
    pipeline: FeaturePipeline
    model: TrainedModel  # the last fold's model: the one trained on the most recent data
    threshold: float | None  # binary decision threshold, chosen on validation
    test_ts: np.ndarray  # open times of the test bars, in order
    test: BacktestResult
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class _Design:
    features: np.ndarray  # rows x features, warm-up rows removed
    close: np.ndarray
    ts: np.ndarray


def evaluate(bars: pl.DataFrame, cfg: ExperimentConfig, *, device: Device = "cpu",
             threads: int | None = None) -> Outcome:
    """Evaluate the experiment on validated, time-ordered bars of one symbol."""
    pipeline = FeaturePipeline.from_spec(cfg.features)
    if pipeline.needs_volume:
        pipeline.check_volume(bars)
    design = _design(pipeline, bars)
    folds = make_folds(design.ts, cfg.split, cfg.embargo_bars)
    signals, model, threshold, fit_metrics = [], None, None, []
    for fold in folds:
        model, threshold, fold_signals, fold_metrics = _fit_fold(design, fold, cfg, pipeline,
                                                                 device, threads)
        signals.append(fold_signals)
        fit_metrics = fold_metrics  # the last fold's, like the model
    assert model is not None
    test_rows = np.arange(folds[0].test.start, folds[-1].test.stop)
    result = backtest(design.close[test_rows], np.concatenate(signals),
                      holding_period=cfg.label.holding_period, fee_bps=cfg.costs.fee_bps,
                      slippage_bps=cfg.costs.slippage_bps, allow_short=cfg.strategy.allow_short)
    per_year = periods_per_year(cfg.data.timeframe, cfg.data.asset_class)
    test_metrics = [Metric("test", k, float(v)) for k, v in
                    compute_metrics(result, per_year).as_dict().items()]
    counts = [Metric("data", "rows_with_features", float(design.close.size)),
              Metric("data", "folds", float(len(folds)))]
    return Outcome(pipeline, model, threshold, design.ts[test_rows], result,
                   tuple(counts + fit_metrics + test_metrics))


def _design(pipeline: FeaturePipeline, bars: pl.DataFrame) -> _Design:
    names = list(pipeline.feature_names)
    frame = pipeline.transform(bars.lazy()).drop_nulls(names).collect()
    ts = frame["ts"].dt.replace_time_zone(None).to_numpy()  # naive UTC datetime64[us]
    return _Design(frame.select(names).to_numpy().astype(np.float64),
                   frame["close"].to_numpy().astype(np.float64), ts)


def _labels(close: np.ndarray, cfg: ExperimentConfig) -> np.ndarray:
    """Label one segment's closes; called per segment, so no label reads past its segment."""
    label = cfg.label
    if cfg.model.kind == "binary":
        return binary_labels(close, label.holding_period, label.profit_target)
    return barrier_labels(close, label.holding_period, label.profit_target,
                          label.stop_loss or label.profit_target)


def _fit_fold(design: _Design, fold: Fold, cfg: ExperimentConfig, pipeline: FeaturePipeline,
              device: Device, threads: int | None
              ) -> tuple[TrainedModel, float | None, np.ndarray, list[Metric]]:
    x, close = design.features, design.close
    tr, va, te = (np.arange(r.start, r.stop) for r in (fold.train, fold.validation, fold.test))
    y_tr, y_va = _labels(close[tr], cfg), _labels(close[va], cfg)
    keep_tr, keep_va = ~np.isnan(y_tr), ~np.isnan(y_va)
    model = train_model(x[tr][keep_tr], y_tr[keep_tr], x[va][keep_va], y_va[keep_va],
                        kind=cfg.model.kind, params=cfg.model.params, seed=cfg.seed,
                        feature_names=pipeline.feature_names, device=device, threads=threads)
    metrics = [Metric("train", "rows", float(keep_tr.sum())),
               Metric("train", "positive_share", float(np.mean(y_tr[keep_tr] >= 1))),
               Metric("validation", "logloss", model.validation_loss),
               Metric("validation", "best_iteration", float(model.best_iteration))]
    if cfg.model.kind == "binary":
        cost = 2 * (cfg.costs.fee_bps + cfg.costs.slippage_bps) / 1e4
        fwd_va = forward_returns(close[va], cfg.label.holding_period)
        threshold = choose_threshold(model.predict(x[va]), fwd_va, cost)
        metrics.append(Metric("validation", "threshold", threshold))
        return model, threshold, binary_signals(model.predict(x[te]), threshold), metrics
    return model, None, multiclass_signals(model.predict(x[te]), cfg.strategy.allow_short), metrics

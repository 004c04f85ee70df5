"""One hypothesis, evaluated: features, chronological split, labels inside each segment,
XGBoost with early stopping, signals on test, backtest with costs, metrics — and the same
pipeline again on two leakage canaries. Pure: the caller hands in the bars and persists the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
    Trainer,
    binary_signals,
    choose_threshold,
    multiclass_signals,
    train_model,
)

# A label variant maps one segment's labels to what the model is trained on (canaries).
LabelVariant = Callable[[np.ndarray], np.ndarray]
CANARIES = ("permuted", "shifted")


@dataclass(frozen=True)
class Outcome:
    pipeline: FeaturePipeline
    model: TrainedModel  # the last fold's model: the one trained on the most recent data
    threshold: float | None  # binary decision threshold, chosen on validation
    test_ts: np.ndarray  # open times of the test bars, in order
    test: BacktestResult
    metrics: tuple[Metric, ...]  # segments data, train, validation, test, canary.<name>


@dataclass(frozen=True)
class _Design:
    features: np.ndarray  # rows x features, warm-up rows removed
    close: np.ndarray
    ts: np.ndarray


@dataclass(frozen=True)
class _Fit:
    model: TrainedModel
    threshold: float | None
    signals: np.ndarray
    metrics: list[Metric]


def evaluate(bars: pl.DataFrame, cfg: ExperimentConfig, *, device: Device = "cpu",
             threads: int | None = None, canaries: bool = True,
             features: pl.DataFrame | None = None, trainer: Trainer = train_model) -> Outcome:
    """Evaluate the experiment on validated, time-ordered bars of one symbol.

    `features` is the pipeline's output for exactly these bars when it was computed elsewhere
    (the runtime's FeatureService shares it between trials); `trainer` trains one fold.
    """
    pipeline = FeaturePipeline.from_spec(cfg.features)
    if pipeline.needs_volume:
        pipeline.check_volume(bars)
    if features is None:
        features = pipeline.transform(bars.lazy()).collect()
    elif features.height != bars.height:
        raise ValueError(f"features hold {features.height} rows for {bars.height} bars")
    design = _design(pipeline, features)
    folds = make_folds(design.ts, cfg.split, cfg.embargo_bars)
    fit = partial(_fit_fold, design, cfg=cfg, pipeline=pipeline, device=device,
                  threads=threads, trainer=trainer)
    fits = [fit(fold, variant=None) for fold in folds]
    result, test_metrics = _backtest(design, folds, fits, cfg, "test")
    metrics = [Metric("data", "rows_with_features", float(design.close.size)),
               Metric("data", "folds", float(len(folds))), *fits[-1].metrics, *test_metrics]
    if canaries:
        for name, variant in _canaries(cfg).items():
            canary_fits = [fit(fold, variant=variant) for fold in folds]
            metrics += _backtest(design, folds, canary_fits, cfg, f"canary.{name}")[1]
    test_rows = np.arange(folds[0].test.start, folds[-1].test.stop)
    return Outcome(pipeline, fits[-1].model, fits[-1].threshold, design.ts[test_rows], result,
                   tuple(metrics))


def _canaries(cfg: ExperimentConfig) -> dict[str, LabelVariant]:
    """Return the two leakage canaries as label variants.

    permuted: labels shuffled in blocks of one holding period (seeded) — no real effect is left,
    so an honest pipeline must fail tier 2 on it. shifted: the label series moved one holding
    period into the past, so the bar at t learns the outcome of (t+h, t+2h] instead of (t, t+h];
    features built only from past bars predict that farther window less well, so an honest
    pipeline cannot trade it better than the real labels — a pipeline that peeks ahead can.
    """
    h = cfg.label.holding_period
    rng_seed = cfg.seed

    def permuted(labels: np.ndarray) -> np.ndarray:
        blocks = np.array_split(labels, max(labels.size // h, 1))
        order = np.random.default_rng(rng_seed).permutation(len(blocks))
        return np.concatenate([blocks[i] for i in order])

    def shifted(labels: np.ndarray) -> np.ndarray:
        out = np.full_like(labels, np.nan)
        out[:-h] = labels[h:]  # within the segment: the last h bars get no label
        return out

    return {"permuted": permuted, "shifted": shifted}


def _backtest(design: _Design, folds: list[Fold], fits: list[_Fit], cfg: ExperimentConfig,
              segment: str) -> tuple[BacktestResult, list[Metric]]:
    test_rows = np.arange(folds[0].test.start, folds[-1].test.stop)
    result = backtest(design.close[test_rows], np.concatenate([f.signals for f in fits]),
                      holding_period=cfg.label.holding_period, fee_bps=cfg.costs.fee_bps,
                      slippage_bps=cfg.costs.slippage_bps, allow_short=cfg.strategy.allow_short)
    per_year = periods_per_year(cfg.data.timeframe, cfg.data.asset_class)
    values = compute_metrics(result, per_year).as_dict()
    values["sharpe_per_bar"] = values["sharpe"] / float(np.sqrt(per_year))
    values["bars"] = float(test_rows.size)
    values["periods_per_year"] = per_year
    return result, [Metric(segment, k, float(v)) for k, v in values.items()]


def _design(pipeline: FeaturePipeline, features: pl.DataFrame) -> _Design:
    names = list(pipeline.feature_names)
    frame = features.drop_nulls(names)
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


def _fit_fold(design: _Design, fold: Fold, *, cfg: ExperimentConfig, pipeline: FeaturePipeline,
              device: Device, threads: int | None, trainer: Trainer,
              variant: LabelVariant | None) -> _Fit:
    x, close = design.features, design.close
    tr, va, te = (np.arange(r.start, r.stop) for r in (fold.train, fold.validation, fold.test))
    y_tr, y_va = _labels(close[tr], cfg), _labels(close[va], cfg)
    if variant is not None:
        y_tr, y_va = variant(y_tr), variant(y_va)
    keep_tr, keep_va = ~np.isnan(y_tr), ~np.isnan(y_va)
    model = trainer(x[tr][keep_tr], y_tr[keep_tr], x[va][keep_va], y_va[keep_va],
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
        return _Fit(model, threshold, binary_signals(model.predict(x[te]), threshold), metrics)
    signals = multiclass_signals(model.predict(x[te]), cfg.strategy.allow_short)
    return _Fit(model, None, signals, metrics)

"""Labels from forward returns, computed inside one segment after the split.

Each function receives only the closes of ONE segment, so a label can never read a price past
the segment's end; the last `holding_period` bars of the segment get no label (NaN) and are
dropped by the caller.
"""

from __future__ import annotations

import numpy as np

DOWN, FLAT, UP = 0, 1, 2  # multi-class label values


def forward_returns(close: np.ndarray, holding_period: int) -> np.ndarray:
    """Return close[t + h] / close[t] - 1 for each bar, NaN where t + h is past the segment."""
    out = np.full(close.shape, np.nan)
    if close.size > holding_period:
        out[:-holding_period] = close[holding_period:] / close[:-holding_period] - 1.0
    return out


def binary_labels(close: np.ndarray, holding_period: int, profit_target: float) -> np.ndarray:
    """Return 1.0 where the forward return over the holding period reaches the target, else 0.0."""
    fwd = forward_returns(close, holding_period)
    return np.where(np.isnan(fwd), np.nan, (fwd >= profit_target).astype(float))


def barrier_labels(close: np.ndarray, holding_period: int, profit_target: float,
                   stop_loss: float) -> np.ndarray:
    """Return UP if +profit_target is touched first within the holding period, DOWN if
    -stop_loss is touched first, FLAT otherwise (touches are judged on closes, the prices the
    backtest trades at; a bar touching both counts as DOWN, the cautious reading)."""
    n = close.size
    out = np.full(n, np.nan)
    if n <= holding_period:
        return out
    m = n - holding_period
    # paths[t, j-1] = close[t + j] / close[t] - 1 for j = 1..h: a (m, h) strided view, no copy
    ahead = np.lib.stride_tricks.sliding_window_view(close[1:], holding_period)[:m]
    paths = ahead / close[:m, None] - 1.0
    first_up = _first_true(paths >= profit_target)
    first_down = _first_true(paths <= -stop_loss)
    out[:m] = np.where(first_down <= first_up,
                       np.where(first_down < holding_period, DOWN, FLAT), UP)
    return out


def _first_true(hits: np.ndarray) -> np.ndarray:
    """Return the index of the first True per row, or the row length when there is none."""
    any_hit = hits.any(axis=1)
    return np.asarray(np.where(any_hit, hits.argmax(axis=1), hits.shape[1]), dtype=np.int64)

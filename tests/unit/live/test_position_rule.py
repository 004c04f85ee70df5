"""The live position rule reproduces the backtest's position series and trade rows exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raytrade.live.strategy import DecisionRule, PositionRule
from raytrade.research.backtest import backtest
from raytrade.research.labels import DOWN, UP


def _live(signals: list[int], holding: int, allow_short: bool) -> tuple[list[int], list[int]]:
    rule = PositionRule(holding, allow_short)
    positions, entries = [], []
    for t, signal in enumerate(signals[:-1]):
        positions.append(rule.step(signal))
        if rule.opened:
            entries.append(t)
    positions.append(rule.finish())
    return positions, entries


@settings(max_examples=300, deadline=None)
@given(signals=st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=120),
       holding=st.integers(1, 15), allow_short=st.booleans(),
       fee=st.sampled_from([0.0, 10.0]), seed=st.integers(0, 2**16))
def test_live_rule_positions_equal_the_backtest_positions(
        signals: list[int], holding: int, allow_short: bool, fee: float, seed: int) -> None:
    # small moves: a short can never lose all equity, so the backtest never liquidates
    steps = np.random.default_rng(seed).normal(0.0, 0.002, size=len(signals))
    close = 100.0 * np.exp(np.cumsum(steps))
    result = backtest(close, np.array(signals, dtype=np.int8), holding_period=holding,
                      fee_bps=fee, slippage_bps=1.0, allow_short=allow_short)
    positions, entries = _live(signals, holding, allow_short)
    assert positions == result.position.tolist()
    assert entries == result.trades["entry_index"].to_list()


def test_signals_inside_a_trade_are_ignored_and_same_side_continues() -> None:
    rule = PositionRule(3)
    assert [rule.step(s) for s in [1, 0, 0, 1, 0, 0, 0]] == [1, 1, 1, 1, 1, 1, 0]
    rule = PositionRule(2, allow_short=True)
    assert [rule.step(s) for s in [1, -1, -1, 0, 0]] == [1, 1, -1, -1, 0]


def test_short_signals_count_as_flat_without_allow_short() -> None:
    rule = PositionRule(2)
    assert [rule.step(s) for s in [-1, -1, 1]] == [0, 0, 1]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="holding_period"):
        PositionRule(0)
    with pytest.raises(ValueError, match="signal"):
        PositionRule(1).step(2)
    with pytest.raises(ValueError, match="kind"):
        DecisionRule.from_mapping({"kind": "ranking"})


def test_decision_rule_maps_outputs_with_the_backtest_threshold_rule() -> None:
    rule = DecisionRule.from_mapping({"kind": "binary", "threshold": 0.6, "holding_period": 4,
                                      "allow_short": False, "feature_names": ["a"]})
    assert rule.signals(np.array([0.59, 0.6, 0.9])).tolist() == [0, 1, 1]
    multi = DecisionRule.from_mapping({"kind": "multiclass", "threshold": 0.5,
                                       "holding_period": 1, "allow_short": True,
                                       "feature_names": ["a"]})
    proba = np.zeros((2, 3))
    proba[0, UP], proba[1, DOWN] = 1.0, 1.0
    assert multi.signals(proba).tolist() == [1, -1]

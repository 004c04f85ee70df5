"""Grid files: axes expand into validated trials of one family; bad axes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytrade.config.loader import load_grid
from raytrade.core.errors import ConfigError

BASE = """\
name: momo
family: momo
data: {source: sample, symbol: BTC-USD, timeframe: 5m, start: 2024-01-01, end: 2024-03-31}
features: {set: crypto}
model: {kind: binary}
label: {holding_period: 12, profit_target: 0.004}
"""


def _grid(tmp_path: Path, axes: str, extra: str = "") -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"name: momo-grid\nbase: base.yaml\naxes:\n{axes}{extra}")
    return grid


def test_product_of_axes_becomes_trials_in_one_family(tmp_path: Path) -> None:
    grid, trials = load_grid(_grid(tmp_path, "  data.symbol: [BTC-USD, ETH-USD, SOL-USD]\n"
                                             "  label.holding_period: [6, 12, 24, 48]\n"))
    assert len(trials) == 12
    assert {t.family for t in trials} == {"momo"}
    assert len({t.config_hash() for t in trials}) == 12
    assert len({t.name for t in trials}) == 12
    assert trials[0].data.symbol == "BTC-USD" and trials[0].label.holding_period == 6
    assert grid.resources.cpu == 1.0 and grid.resources.gpu == 0.0


def test_axis_naming_no_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"axes\['label.horizon'\]"):
        load_grid(_grid(tmp_path, "  label.horizon: [1, 2]\n"))


def test_family_cannot_be_an_axis(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="other than name or family"):
        load_grid(_grid(tmp_path, "  family: [a, b]\n"))


def test_an_invalid_trial_names_the_axis_and_the_trial(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_grid(_grid(tmp_path, "  label.holding_period: [6, 0]\n"))
    message = str(caught.value)
    assert "axes['label.holding_period']" in message and "holding_period=0" in message


def test_empty_axis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"axes\['data.symbol'\]"):
        load_grid(_grid(tmp_path, "  data.symbol: []\n"))


def test_unknown_resource_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"resources\.gpus"):
        load_grid(_grid(tmp_path, "  data.symbol: [BTC-USD]\n", "resources: {gpus: 1}\n"))


def test_an_optional_section_can_be_an_axis(tmp_path: Path) -> None:
    _, trials = load_grid(_grid(tmp_path, "  data.sample.seed: [1, 2, 3]\n"))
    assert [t.data.sample.seed for t in trials if t.data.sample] == [1, 2, 3]


def test_a_list_valued_axis_varies_feature_groups(tmp_path: Path) -> None:
    base = BASE.replace("features: {set: crypto}", "features: {groups: [returns]}")
    (tmp_path / "base.yaml").write_text(base)
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: momo-grid\nbase: base.yaml\naxes:\n"
                    "  features.groups: [[returns, momentum], [trend], [returns, volatility]]\n")
    _, trials = load_grid(grid)
    assert [t.features.groups for t in trials] == [
        ("returns", "momentum"), ("trend",), ("returns", "volatility")]
    assert [t.name for t in trials] == ["momo.returns_momentum", "momo.trend",
                                        "momo.returns_volatility"]


def test_a_list_axis_that_breaks_a_rule_names_the_trial(tmp_path: Path) -> None:
    both = r"found both .set. and .groups.*in the trial features.groups=\('trend',\)"
    with pytest.raises(ConfigError, match=both):
        load_grid(_grid(tmp_path, "  features.groups: [[trend]]\n"))  # base also names a set

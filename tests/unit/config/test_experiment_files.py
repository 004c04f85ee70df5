"""Experiment files: the examples validate; every broken file gets one clear message that names
the file, the key path, the value found and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytrade.config.examples import examples_dir
from raytrade.config.loader import load_experiment, load_grid
from raytrade.core.errors import ConfigError, InputError

GOOD = """\
name: btc-5m
data: {source: binance, symbol: BTC-USD, timeframe: 5m, start: 2024-01-01, end: 2024-06-30}
features: {set: crypto}
model: {kind: binary, params: {max_depth: 4, eta: 0.05, num_boost_round: 400}}
label: {holding_period: 12, profit_target: 0.004}
"""

# (case id, text replaced in GOOD -> replacement, key path named, words of the expectation)
BAD_CASES = [
    ("bad-timeframe", ("timeframe: 5m", "timeframe: 7m"), "data.timeframe", "'5m'"),
    ("lower-case-symbol", ("BTC-USD", "btc-usd"), "data.symbol", "canonical symbol"),
    ("symbol-with-slash", ("BTC-USD", "BTC/USD"), "data.symbol", "BASE-QUOTE"),
    ("start-after-end", ("start: 2024-01-01", "start: 2024-07-01"), "data.end",
     "after data.start"),
    ("unknown-top-level-key", ("name: btc-5m", "name: btc-5m\nowner: me"), "owner",
     "known keys"),
    ("typo-in-label-key", ("holding_period: 12", "holding_perod: 12"), "label.holding_perod",
     "did you mean `holding_period`"),
    ("negative-holding-period", ("holding_period: 12", "holding_period: -3"),
     "label.holding_period", "greater than or equal to 1"),
    ("zero-profit-target", ("profit_target: 0.004", "profit_target: 0"),
     "label.profit_target", "greater than 0"),
    ("unknown-model-kind", ("kind: binary", "kind: trinary"), "model.kind", "'multiclass'"),
    ("split-not-summing-to-one", ("label:", "split: {train: 0.7, validation: 0.2, test: 0.2}\n"
                                  "label:"), "split", "sum to 1"),
    ("embargo-shorter-than-holding", ("label:", "split: {embargo: 3}\nlabel:"),
     "split.embargo", ">= label.holding_period (12)"),
    ("embargo-not-a-number", ("label:", "split: {embargo: soon}\nlabel:"), "split.embargo",
     "'auto'"),
    ("win-rate-reversed", ("label:", "gate: {win_rate: [0.7, 0.4]}\nlabel:"), "gate.win_rate",
     "low < high"),
    ("win-rate-above-one", ("label:", "gate: {win_rate: [0.4, 1.5]}\nlabel:"),
     "gate.win_rate[1]", "less than or equal to 1"),
    ("set-and-groups", ("{set: crypto}", "{set: crypto, groups: [returns]}"), "features",
     "exactly one of"),
    ("unknown-feature-group", ("{set: crypto}", "{groups: [returns, astrology]}"),
     "features.groups[1]", "'calendar'"),
    ("unknown-feature-set", ("{set: crypto}", "{set: forex}"), "features.set", "'equities'"),
    ("missing-label", ("label: {holding_period: 12, profit_target: 0.004}\n", ""), "label",
     "required"),
    ("stop-loss-on-binary", ("profit_target: 0.004", "profit_target: 0.004, stop_loss: 0.01"),
     "label.stop_loss", "multiclass"),
    ("bad-name", ("name: btc-5m", "name: BTC 5m!"), "name", "lower-case name"),
    ("bad-date", ("start: 2024-01-01", "start: 2024-13-01"), "data.start", "valid date"),
    ("eta-out-of-range", ("eta: 0.05", "eta: 2"), "model.params.eta", "less than or equal to 1"),
    ("split-dates-reversed", ("label:", "split: {validation_start: 2024-05-01, "
                              "test_start: 2024-03-01}\nlabel:"), "split.test_start",
     "< split.validation_start"),
    ("split-one-date-only", ("label:", "split: {test_start: 2024-05-01}\nlabel:"), "split",
     "both dates"),
    ("walk-forward-one-fold", ("label:", "split: {scheme: walk_forward}\nlabel:"),
     "split.folds", "at least 2"),
]


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_good_file_loads_with_defaults_applied(tmp_path: Path) -> None:
    cfg = load_experiment(_write(tmp_path, GOOD))
    assert cfg.family == "btc-5m"  # family defaults to the name
    assert cfg.split.train == 0.6 and cfg.embargo_bars == 12
    assert cfg.costs.fee_bps == 10 and cfg.gate.min_sharpe == 0.5


@pytest.mark.parametrize(("case", "edit", "path", "expected"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_bad_file_names_file_key_path_and_expectation(
    tmp_path: Path, case: str, edit: tuple[str, str], path: str, expected: str
) -> None:
    old, new = edit
    assert old in GOOD, case
    file = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_experiment(file)
    message = str(caught.value)
    assert message.startswith(str(file)), message
    problem = next((p for p in caught.value.problems if p.path == path), None)
    assert problem is not None, f"{case}: no problem at {path!r} in: {message}"
    assert expected in problem.expected, f"{case}: {problem.expected!r}"
    assert f"{path}: found " in message
    assert "Traceback" not in message


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace("timeframe: 5m", "timeframe: 2m").replace("kind: binary", "kind: x")
    with pytest.raises(ConfigError) as caught:
        load_experiment(_write(tmp_path, text))
    assert {p.path for p in caught.value.problems} == {"data.timeframe", "model.kind"}


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    file = _write(tmp_path, GOOD.replace("features: {set: crypto}", "features: {set: crypto"))
    with pytest.raises(ConfigError, match=r"line 4, column \d+"):
        load_experiment(file)


def test_duplicate_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    file = _write(tmp_path, GOOD + "name: other\n")
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_experiment(file)


@pytest.mark.parametrize(("text", "found"), [("", "an empty file"), ("- a\n- b\n", "a list")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    with pytest.raises(ConfigError, match=found):
        load_experiment(_write(tmp_path, text))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_experiment(tmp_path / "nope.yaml")


def test_hash_is_identity_not_spelling(tmp_path: Path) -> None:
    plain = load_experiment(_write(tmp_path, GOOD, "a.yaml"))
    spelled = GOOD.replace("label: {holding_period: 12, profit_target: 0.004}",
                           "label:\n  profit_target: 0.004\n  holding_period: 12\n")
    spelled += "costs: {fee_bps: 10}\nfamily: btc-5m\n"  # defaults written out: same identity
    assert load_experiment(_write(tmp_path, spelled, "b.yaml")).config_hash() == plain.config_hash()
    changed = load_experiment(_write(tmp_path, GOOD.replace("0.004", "0.005"), "c.yaml"))
    assert changed.config_hash() != plain.config_hash()


def test_configs_are_frozen(tmp_path: Path) -> None:
    cfg = load_experiment(_write(tmp_path, GOOD))
    with pytest.raises(ValueError, match="frozen"):
        cfg.label.holding_period = 3  # type: ignore[misc]


def test_every_shipped_example_validates() -> None:
    files = sorted(examples_dir().glob("*.yaml"))
    assert len(files) >= 4
    names = {load_experiment(f).name for f in files}
    assert "quickstart" in names
    grids = sorted((examples_dir() / "grids").glob("*.yaml"))
    assert grids and all(load_grid(g)[1] for g in grids)

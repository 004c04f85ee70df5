"""Paper-session files: a good file loads with its defaults; bad values are named by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytrade.config.loader import load_session
from raytrade.core.errors import ConfigError
from raytrade.core.types import Timeframe

GOOD = """\
name: btc-paper
model: {run_id: 7}
broker: {kind: simulated, fee_bps: 5, slippage_bps: 1}
bars: {source: binance, symbol: BTC-USDT, timeframe: 1m}
capital: 10000
risk: {max_position_notional: 5000, max_daily_loss: 300}
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.yaml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_session(_file(tmp_path, text))
    return str(caught.value)


def test_a_good_file_loads_with_its_defaults(tmp_path: Path) -> None:
    cfg = load_session(_file(tmp_path, GOOD))
    assert cfg.name == "btc-paper" and cfg.model.run_id == 7
    assert cfg.broker.kind == "simulated" and cfg.broker.fee_bps == 5.0
    assert cfg.bars.symbol == "BTC-USDT" and cfg.bars.timeframe is Timeframe.M1
    assert cfg.bars.stream is None
    assert cfg.risk.stale_after_bars == 2.0 and cfg.risk.max_orders_per_minute == 10
    assert cfg.parity_every_bars == 100


def test_a_vendor_stream_and_a_broker_url_are_accepted(tmp_path: Path) -> None:
    text = GOOD.replace("broker: {kind: simulated, fee_bps: 5, slippage_bps: 1}",
                        "broker: {kind: alpaca, base_url: 'http://127.0.0.1:8123'}")
    text = text.replace("timeframe: 1m}", "timeframe: 1m, stream: binance}")
    cfg = load_session(_file(tmp_path, text))
    assert cfg.broker.kind == "alpaca" and str(cfg.broker.base_url) == "http://127.0.0.1:8123/"
    assert cfg.bars.stream == "binance"


def test_equal_files_hash_equal_whatever_the_spelling(tmp_path: Path) -> None:
    spelled = GOOD.replace("capital: 10000", "capital: 10000.0") + "parity_every_bars: 100\n"
    assert (load_session(_file(tmp_path, GOOD)).config_hash()
            == load_session(_file(tmp_path, spelled)).config_hash())


@pytest.mark.parametrize(("old", "new", "path"), [
    ("name: btc-paper", "name: BTC Paper", "name"),
    ("{run_id: 7}", "{run_id: 0}", "model.run_id"),
    ("kind: simulated", "kind: kraken", "broker.kind"),
    ("symbol: BTC-USDT", "symbol: btcusdt", "bars.symbol"),
    ("timeframe: 1m", "timeframe: 2m", "bars.timeframe"),
    ("capital: 10000", "capital: 0", "capital"),
    ("max_daily_loss: 300", "max_daily_loss: -1", "risk.max_daily_loss"),
    ("max_daily_loss: 300", "max_daily_loss: 300, max_orders_per_minute: 0",
     "risk.max_orders_per_minute"),
    ("max_daily_loss: 300", "max_daily_loss: 300, stale_after_bars: 0", "risk.stale_after_bars"),
    ("capital: 10000", "capital: 10000\nparity_every_bars: 0", "parity_every_bars"),
    ("capital: 10000", "capital: 10000\nleverage: 3", "leverage"),
])
def test_a_bad_value_is_named_by_its_key_path(tmp_path: Path, old: str, new: str,
                                              path: str) -> None:
    assert old in GOOD
    assert f"{path}: found" in _problems(tmp_path, GOOD.replace(old, new))


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("risk: {max_position_notional: 5000, max_daily_loss: 300}\n", "")
    assert "risk: found nothing" in _problems(tmp_path, text)


def test_costs_are_refused_for_a_real_broker(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD.replace("kind: simulated", "kind: binance"))
    assert "broker.fee_bps: found 5.0" in message and "broker.slippage_bps: found 1.0" in message


def test_an_entry_cap_above_capital_is_refused(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD.replace("max_position_notional: 5000",
                                               "max_position_notional: 50000"))
    assert "risk.max_position_notional: found 50000.0; expected at most capital (10000)" in message


def test_every_field_error_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("timeframe: 1m", "timeframe: 2m").replace("capital: 10000", "capital: -5")
    message = _problems(tmp_path, text)
    assert "2 problems" in message and "bars.timeframe" in message and "capital" in message

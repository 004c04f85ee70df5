"""`raytrade venues` starts the four fakes on loopback, prints how to reach them, serves
until Ctrl-C and then stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import typer
from typer.testing import CliRunner

from raytrade.cli.venues import venues
from raytrade.config.settings import Settings
from raytrade.core.types import Timeframe
from raytrade.sources.registry import build_source

# The command is registered in raytrade.cli.app by its owner; this app runs the function as is.
SCRIPT = """
import typer
from raytrade.cli.venues import venues
app = typer.Typer()
app.command()(venues)
@app.callback()
def root() -> None: pass
app()
"""


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(venues)

    @app.callback()
    def root() -> None:
        """Stand-in for the raytrade root command."""

    return app


def test_json_lists_four_loopback_venues_and_the_environment_to_use() -> None:
    result = CliRunner().invoke(_app(), ["venues", "--json", "--duration", "0", "--seed", "3",
                                         "--symbols", "AAPL,BTC-USD"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert set(shown["venues"]) == {"massive", "binance", "coingecko", "geckoterminal"}
    assert all(v["url"].startswith("http://127.0.0.1:") for v in shown["venues"].values())
    assert shown["venues"]["binance"]["symbols"] == ["BTCUSDT"]
    assert not shown["env"]["RAYTRADE_BINANCE_BASE_URL"].endswith("/api")  # the host root
    assert shown["env"]["RAYTRADE_COINGECKO_BASE_URL"].endswith("/api/v3")


def test_a_bad_symbol_is_refused_in_one_sentence() -> None:
    result = CliRunner().invoke(_app(), ["venues", "--duration", "0", "--symbols", "BTC-EUR"])
    assert result.exit_code != 0 and "BASE-USD" in str(result.exception)


def test_serves_until_ctrl_c_then_stops_cleanly() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "venues", "--json", "--binance-us"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # print_json: the object ends with a bare closing brace
            lines.append(line)
            if line == "}\n":
                break
        shown: dict[str, Any] = json.loads("".join(lines))
        env = shown["env"]
        ping = requests.get(env["RAYTRADE_BINANCE_BASE_URL"] + "/api/v3/klines", timeout=10,
                            params={"symbol": "BTCUSD", "interval": "1h", "limit": 2})
        chart = requests.get(env["RAYTRADE_COINGECKO_BASE_URL"] + "/coins/bitcoin/ohlc",
                             params={"vs_currency": "usd", "days": "1"}, timeout=10,
                             headers={"x-cg-demo-api-key": env["RAYTRADE_COINGECKO_API_KEY"]})
        assert ping.status_code == chart.status_code == 200 and len(ping.json()) == 2
        # The printed environment is what raytrade's own sources read.
        settings = Settings(binance_base_url=env["RAYTRADE_BINANCE_BASE_URL"])
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        bars = asyncio.run(build_source("binance_us", settings).fetch_bars(
            "BTC-USD", Timeframe.H1, now - timedelta(hours=5), now))
        assert bars.height == 5 and set(bars["vendor"]) == {"binance_us"}
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err

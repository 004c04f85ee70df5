"""`raytrade sandbox`: fake venue, collector and paper session on a fast clock, end to end."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

BAR_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d) +(\d+\.\d\d) +(\d\.\d{3}) +([+-]\d) +(\S+) ")
SUMMARY_ROW = re.compile(r"│ (\w[\w ()]*?) +│ (\S+) +│")


@pytest.fixture
def db_env(raytrade_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYTRADE_DATABASE_URL", database_url)
    return raytrade_env


@pytest.fixture
def upgraded(cli, db_env: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").code == 0


@pytest.mark.parametrize("database_url", ["server"], indirect=True)
def test_sandbox_trades_bars_as_they_close_and_reports_the_session(cli, upgraded: None) -> None:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    result = cli("sandbox", "--bars", "12", "--speed", "600")
    elapsed = time.monotonic() - began

    assert result.code == 0, result.err
    assert elapsed < 60
    assert "running experiments/quickstart.yaml first" in result.err
    lines = [m for m in map(BAR_LINE.match, result.out.splitlines()) if m]
    assert len(lines) == 12, result.out
    times = [m.group(1) for m in lines]
    assert times == sorted(set(times)), "one line per bar, in bar order"
    assert all(float(m.group(2)) > 0 for m in lines), "every bar came with its close"
    actions = [m.group(5) for m in lines if m.group(5) != "none"]
    assert actions, "the quick-start model traded its planted effect"
    assert re.search(r"(buy|sell) [\d.e+-]+@\d+\.\d\d", result.out), "an order filled"

    summary = dict(SUMMARY_ROW.findall(result.out))
    assert summary["status"] == "stopped"
    assert int(summary["decisions"]) == 12
    assert int(summary["orders"]) == sum(len(a.split("+")) for a in actions)
    assert "PnL" in summary


@pytest.mark.parametrize("database_url", ["server"], indirect=True)
def test_sandbox_reuses_the_promoted_model_and_starts_a_new_session(cli, upgraded: None) -> None:  # type: ignore[no-untyped-def]
    first = cli("sandbox", "--bars", "2", "--speed", "600")
    second = cli("sandbox", "--bars", "2", "--speed", "600")

    assert first.code == 0 and second.code == 0, first.err + second.err
    assert "running experiments/quickstart.yaml" not in second.err
    names = [re.findall(r"session (sandbox-\S+) trades", r.err) for r in (first, second)]
    assert len(names[0]) == len(names[1]) == 1 and names[0] != names[1]

"""The `raytrade` commands, run through the real entry point against a real database and lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytrade.config.examples import examples_dir

GOOD = examples_dir() / "quickstart.yaml"


@pytest.fixture
def db_env(raytrade_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYTRADE_DATABASE_URL", database_url)
    return raytrade_env


def test_every_command_has_help(cli) -> None:  # type: ignore[no-untyped-def]
    for args in (["--help"], ["validate", "--help"], ["db", "upgrade", "--help"],
                 ["db", "current", "--help"], ["data", "import", "--help"],
                 ["data", "ls", "--help"], ["data", "sample", "--help"],
                 ["data", "bundled", "--help"], ["runs", "ls", "--help"],
                 ["quickstart", "--help"], ["settings", "--help"], ["run", "--help"],
                 ["models", "ls", "--help"], ["runs", "show", "--help"]):
        result = cli(*args)
        assert result.code == 0 and "Usage" in result.out, args


def test_validate_good_files_exits_0_with_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", str(examples_dir()), "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert {r["kind"] for r in rows} == {"experiment", "grid"} and all(r["ok"] for r in rows)


def test_validate_bad_file_exits_2_naming_key_and_no_traceback(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.read_text().replace("holding_period: 12", "holding_period: 0"))
    result = cli("validate", str(GOOD), str(bad))
    assert result.code == 2
    assert f"{bad}: label.holding_period: found 0; expected greater than or equal to 1" in (
        result.err.replace("\n", " "))
    assert "Traceback" not in result.err + result.out


def test_bad_flag_is_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("data", "sample", "--timeframe", "7m").code == 2


def test_db_upgrade_then_current(cli, db_env: Path) -> None:  # type: ignore[no-untyped-def]
    before = json.loads(cli("db", "current", "--json").out)
    assert before["current"] is None and not before["up_to_date"]
    assert cli("runs", "ls").code == 1  # schema missing: a clear error, not a crash
    assert cli("db", "upgrade").code == 0
    after = json.loads(cli("db", "current", "--json").out)
    assert after["up_to_date"] and after["current"] == after["head"]
    assert json.loads(cli("runs", "ls", "--json").out) == []
    assert json.loads(cli("runs", "reap", "--json").out) == []


def test_import_reorders_validates_and_lists_coverage(cli, raytrade_env: Path,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text("Timestamp,Open,High,Low,Close,Volume\n"
                   "2024-01-02T00:10:00Z,3,3,3,3,0\n"  # out of order, zero volume: kept
                   "2024-01-02T00:00:00Z,1,1,1,1,5\n"
                   "2024-01-02T00:05:00Z,2,2,2,2,5\n"
                   "2024-01-02T00:20:00Z,4,4,4,4,5\n")  # 00:15 missing
    imported = cli("data", "import", str(csv), "--source", "mine", "--symbol", "BTC-USD",
                   "--timeframe", "5m", "--json")
    assert imported.code == 0, imported.err
    assert json.loads(imported.out) | {"file": ""} == {
        "file": "", "rows": 4, "reordered": 1, "added": 4, "revised": 0, "unchanged": 0}
    again = json.loads(cli("data", "import", str(csv), "--source", "mine", "--symbol",
                           "BTC-USD", "--timeframe", "5m", "--json").out)
    assert again["added"] == 0 and again["unchanged"] == 4
    [row] = json.loads(cli("data", "ls", "--json").out)
    assert (row["bars"], row["expected"], row["coverage"]) == (4, 5, 0.8)
    assert row["origin"] == "imported from bars.csv"


def test_import_of_bad_bars_exits_2_naming_the_rule(cli, raytrade_env: Path,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("ts,open,high,low,close\n2024-01-02T00:00:00Z,1,1,2,1\n")
    result = cli("data", "import", str(csv), "--source", "mine", "--symbol", "AAPL",
                 "--timeframe", "1d")
    assert result.code == 2 and "high < low" in result.err and "AAPL" in result.err


def test_sample_writes_deterministic_bars_into_the_lake(cli, raytrade_env: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["data", "sample", "--symbol", "ETH-USD", "--symbol", "SPY", "--timeframe", "1h",
            "--start", "2024-01-01", "--end", "2024-02-15", "--seed", "3", "--json"]
    first = json.loads(cli(*args).out)
    assert json.loads(cli(*args).out) == first
    listing = {r["symbol"]: r for r in json.loads(cli("data", "ls", "--json").out)}
    assert set(listing) == {"ETH-USD", "SPY"}
    assert listing["ETH-USD"]["bars"] == first["ETH-USD"] > 1000  # 24/7
    assert listing["SPY"]["bars"] < 300  # only US sessions
    assert listing["ETH-USD"]["coverage"] > 0.97
    assert "simulator" in listing["ETH-USD"]["origin"]


@pytest.mark.embedded
def test_quickstart_runs_on_embedded_defaults(cli, raytrade_env: Path) -> None:  # type: ignore[no-untyped-def]
    from raytrade.store.embedded import stop_embedded

    try:
        result = cli("quickstart")
        assert result.code == 0, result.err
        assert "gate passed" in result.out
        current = json.loads(cli("db", "current", "--json").out)
        assert current["up_to_date"] and "embedded" in current["database"]
        [model] = json.loads(cli("models", "ls", "--json").out)
        assert model["experiment"] == "quickstart"
        assert Path(model["path"]).is_relative_to(raytrade_env / "models")
        [run] = json.loads(cli("runs", "ls", "--json").out)
        assert run["status"] == "succeeded" and run["id"] == model["run_id"]
    finally:
        stop_embedded(raytrade_env / "pg")


def test_run_reports_gate_and_exit_code(cli, db_env: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").code == 0
    noise = tmp_path / "noise.yaml"
    noise.write_text(GOOD.read_text().replace("signal_strength: 0.15", "signal_strength: 0.0")
                     .replace("name: quickstart", "name: quickstart-noise"))
    result = cli("run", str(noise), "--json")
    assert result.code == 1  # the run worked; the gate rejected it
    report = json.loads(result.out)
    assert report["passed"] is False and report["promoted"] is None
    assert {row["tier"] for row in report["gate"]} == {1, 2, 3}
    shown = json.loads(cli("runs", "show", str(report["run_id"]), "--json").out)
    assert shown["status"] == "succeeded" and len(shown["gate"]) == 12
    assert cli("run", str(tmp_path / "missing.yaml")).code == 2


def test_replay_rescore_and_pbo_commands(cli, db_env: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").code == 0
    first = json.loads(cli("run", str(GOOD), "--json").out)
    replayed = cli("replay", str(first["run_id"]), "--json")
    assert replayed.code == 0 and json.loads(replayed.out)["identical"] is True
    rescored = cli("gate", "rescore", "--family", "quickstart", "--threshold",
                   "min_sharpe=1000000", "--json")
    [row] = json.loads(rescored.out)
    assert row["promoted"] and not row["passed_now"]
    assert cli("gate", "rescore", "--family", "quickstart", "--threshold", "nope=1").code == 2
    lonely = cli("gate", "pbo", "--family", "quickstart")
    assert lonely.code == 2 and "at least 2" in lonely.err  # one trial: PBO is undefined

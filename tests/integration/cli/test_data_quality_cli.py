"""A sparse Binance.US USD pair, backfilled through the CLI from the fake venue: `raytrade data
quality` reports its low volume coverage, records it in the store, and `raytrade run` refuses
volume features on it quoting the measured coverage, while a liquid pair passes the same check.

The venue and the CLI's Binance source both read the system clock (the CLI has no clock to
inject), so the window is the last 30 whole UTC days: every bar in it has closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from raytrade.core.types import Timeframe
from raytrade.data.lake import PartitionKey
from raytrade.store.market import latest_coverage
from raytrade.store.tables import DataCoverageRow
from raytrade.venues import running
from raytrade.venues.binance import BinanceVenue

SPARSE = "SOL-USD"
LIQUID = "BTC-USD"
QUIET_SHARE = 0.8  # of the sparse pair's klines are zero-trade klines
DAYS = 30


@dataclass(frozen=True)
class Backfilled:
    start: date
    end: date  # inclusive, as the CLI and experiment files take it
    home: Path

    @property
    def bars(self) -> int:
        return ((self.end - self.start).days + 1) * 24


@pytest.fixture
def backfilled(cli, raytrade_env: Path, database_url: str, engine: Engine,  # type: ignore[no-untyped-def]
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Backfilled]:
    """Backfill both pairs' 1h bars from a fake Binance.US into the lake, through the CLI."""
    monkeypatch.setenv("RAYTRADE_DATABASE_URL", database_url)  # `engine` migrated it to head
    end = datetime.now(UTC).date() - timedelta(days=1)
    window = Backfilled(end - timedelta(days=DAYS - 1), end, raytrade_env)
    with running(BinanceVenue(us=True, sparse={SPARSE: QUIET_SHARE})) as venue:
        for symbol in (SPARSE, LIQUID):
            result = cli("data", "backfill", "--source", "binance_us", "--symbol", symbol,
                         "--timeframe", "1h", "--start", window.start.isoformat(),
                         "--end", window.end.isoformat(), "--base-url", venue.base_url,
                         "--json")
            assert result.code == 0, result.err
            shown = json.loads(result.out)
            assert shown["fetched"] == shown["added"] == window.bars, symbol
    yield window


def _experiment(tmp_path: Path, window: Backfilled, symbol: str) -> Path:
    """Write an experiment that asks for volume features (the equities set) on `symbol`."""
    path = tmp_path / f"{symbol.lower()}-volume.yaml"
    path.write_text(
        f"name: {symbol.lower()}-volume\n"
        f"data: {{source: binance_us, symbol: {symbol}, timeframe: 1h,"
        f" start: {window.start.isoformat()}, end: {window.end.isoformat()}}}\n"
        "features: {set: equities}\n"
        "model: {kind: binary, params: {max_depth: 3, num_boost_round: 20}}\n"
        "label: {holding_period: 4, profit_target: 0.004}\n"
        "gate: {min_coverage: 0.95}\n")
    return path


def _quality(cli) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    result = cli("data", "quality", "--json")
    assert result.code == 0, result.err
    return {row["symbol"]: row for row in json.loads(result.out)}


def test_quality_reports_the_sparse_usd_pair_low_volume_coverage_and_records_it(  # type: ignore[no-untyped-def]
        cli, backfilled: Backfilled, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _quality(cli)
    assert set(rows) == {SPARSE, LIQUID}
    sparse, liquid = rows[SPARSE], rows[LIQUID]
    assert (sparse["source"], sparse["timeframe"]) == ("binance_us", "1h")
    # Every hour is there (no outages): the bars are complete, only their volume is not.
    assert sparse["coverage"]["ratio"] == 1.0
    assert sparse["coverage"]["bars"] == sparse["coverage"]["expected"] == backfilled.bars
    assert sparse["gaps"]["count"] == 0 and sparse["duplicates"] == 0
    # Zero-trade klines report a volume (0), but volume features can use none of them.
    assert sparse["volume"]["reported_share"] == 1.0
    assert 0.1 < sparse["volume"]["traded_share"] < 0.35  # about 1 - QUIET_SHARE
    assert liquid["volume"]["traded_share"] == 1.0 and liquid["coverage"]["ratio"] == 1.0
    assert sparse["vendors"] == {"binance_us": backfilled.bars}
    assert sparse["backfilled_share"] == 0.0  # a backfill command, not a gap fill

    stored = {key: report for key, report, _ in latest_coverage(engine)}
    key = PartitionKey("binance_us", Timeframe.H1, SPARSE)
    assert stored[key]["volume"] == sparse["volume"]
    assert stored[key]["coverage"] == sparse["coverage"]
    with Session(engine) as session:  # the row's window is the report's: [first, last close)
        row = session.scalars(select(DataCoverageRow).where(DataCoverageRow.symbol == SPARSE)
                              .order_by(DataCoverageRow.id.desc()).limit(1)).one()
    first = datetime.combine(backfilled.start, time(0), tzinfo=UTC)
    assert (row.start, row.end) == (first, first + timedelta(hours=backfilled.bars))
    assert (row.start.isoformat(), row.end.isoformat()) == (sparse["start"], sparse["end"])

    monkeypatch.setenv("COLUMNS", "200")  # rich folds the table's cells to fit the width
    table = cli("data", "quality")  # the people's view shows the same share
    assert table.code == 0, table.err
    [line] = [row for row in table.out.splitlines() if SPARSE in row]
    assert f"{sparse['volume']['traded_share']:.1%}" in line


def test_volume_features_on_the_sparse_pair_stop_the_run_quoting_its_volume_coverage(  # type: ignore[no-untyped-def]
        cli, backfilled: Backfilled, tmp_path: Path) -> None:
    traded = _quality(cli)[SPARSE]["volume"]["traded_share"]
    result = cli("run", str(_experiment(tmp_path, backfilled, SPARSE)), "--json")
    assert result.code == 2, result.out + result.err
    message = " ".join(result.err.split())
    assert f"symbol {SPARSE}: volume coverage is {traded:.1%} of bars" in message
    assert "below the 90%" in message and "features: {set: crypto}" in message
    assert "Traceback" not in result.err + result.out
    assert json.loads(cli("runs", "ls", "--json").out) == []  # refused before it was recorded


def test_volume_features_on_a_liquid_pair_pass_the_volume_check(  # type: ignore[no-untyped-def]
        cli, backfilled: Backfilled, tmp_path: Path) -> None:
    result = cli("run", str(_experiment(tmp_path, backfilled, LIQUID)), "--json")
    assert result.code in (0, 1), result.err  # trained and judged: the gate may say either
    assert "volume coverage" not in result.err
    report = json.loads(result.out)
    assert report["metrics"]["data.coverage"] == 1.0
    assert report["metrics"]["data.bars"] == backfilled.bars
    [run] = json.loads(cli("runs", "ls", "--json").out)
    assert run["id"] == report["run_id"] and run["status"] == "succeeded"

"""The fake Binance venue speaks the klines contract (api_contracts.md section 4) and
python-binance reads it, sync and async, without a ping to the real host."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
import requests
from binance import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException
from polars.testing import assert_frame_equal
from venue_contracts import NOW, clock

from raytrade.core.errors import InputError
from raytrade.core.types import Timeframe
from raytrade.venues import BinanceVenue, FaultKind, FaultPlan, outage_windows, running

START = datetime(2024, 3, 7, tzinfo=UTC)
HISTORY = datetime(2024, 1, 1, tzinfo=UTC)


def klines_frame(rows: list[list[Any]], symbol: str, vendor: str = "binance") -> pl.DataFrame:
    """Turn kline rows into canonical bars: strings to floats, vwap = quote / base volume."""
    frame = pl.DataFrame(
        {"ts": [r[0] for r in rows], "open": [float(r[1]) for r in rows],
         "high": [float(r[2]) for r in rows], "low": [float(r[3]) for r in rows],
         "close": [float(r[4]) for r in rows], "volume": [float(r[5]) for r in rows],
         "quote": [float(r[7]) for r in rows], "trades": [r[8] for r in rows]},
        schema_overrides={"trades": pl.Int64})
    return frame.with_columns(
        ts=pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
        symbol=pl.lit(symbol), vwap=pl.when(pl.col("volume") > 0)
        .then(pl.col("quote") / pl.col("volume")),
        vendor=pl.lit(vendor), backfilled=pl.lit(False),
    ).select("ts", "symbol", "open", "high", "low", "close", "volume", "vwap", "trades",
             "vendor", "backfilled")


def client_for(venue: BinanceVenue) -> Client:
    client = Client("key", "secret", ping=False)  # no ping to the real host
    client.API_URL = venue.api_url
    return client


def assert_kline_shape(row: list[Any], interval_ms: int) -> None:
    assert len(row) == 12
    assert isinstance(row[0], int) and isinstance(row[6], int) and isinstance(row[8], int)
    assert row[6] == row[0] + interval_ms - 1
    for i in (1, 2, 3, 4, 5, 7, 9, 10):
        assert isinstance(row[i], str) and len(row[i].split(".")[1]) == 8, (i, row[i])
    assert row[11] == "0"
    assert float(row[3]) <= min(float(row[1]), float(row[4])) <= float(row[2])


def test_klines_rows_headers_and_errors_follow_the_contract() -> None:
    with running(BinanceVenue(clock=clock(), history_start=HISTORY)) as venue:
        api = venue.api_url + "/v3"
        latest = requests.get(f"{api}/klines", params={"symbol": "BTCUSDT", "interval": "1m"},
                              timeout=5)
        first = requests.get(f"{api}/klines", params={"symbol": "BTCUSDT", "interval": "1h",
                                                      "startTime": 0, "limit": 1}, timeout=5)
        answers = {name: requests.get(f"{api}/{path}", params=params, timeout=5) for name, path,
                   params in [("ping", "ping", {}), ("time", "time", {}),
                              ("info", "exchangeInfo", {"symbol": "BTCUSDT"}),
                              ("unknown", "klines", {"symbol": "NOPE", "interval": "1m"}),
                              ("limit", "klines", {"symbol": "BTCUSDT", "interval": "1m",
                                                   "limit": 1001}),
                              ("interval", "klines", {"symbol": "BTCUSDT", "interval": "3m"})]}
    rows = latest.json()
    assert latest.status_code == 200 and len(rows) == 500  # the default limit
    for row in rows:
        assert_kline_shape(row, 60_000)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    now_ms = int(NOW.timestamp() * 1000)
    assert rows[-1][0] <= now_ms < rows[-1][6], "the still-open kline is served last"
    assert first.json()[0][0] == int(HISTORY.timestamp() * 1000)
    assert answers["ping"].json() == {} and answers["time"].json() == {"serverTime": now_ms}
    info = answers["info"].json()
    assert info["symbols"][0]["symbol"] == "BTCUSDT" and info["rateLimits"][0]["limit"] == 6000
    assert answers["unknown"].status_code == 400
    assert answers["unknown"].json() == {"code": -1121, "msg": "Invalid symbol."}
    assert answers["limit"].json()["code"] == -1130 and answers["interval"].json()["code"] == -1120
    for response in [latest, first, *answers.values()]:
        assert int(response.headers["X-MBX-USED-WEIGHT-1M"]) > 0


def test_historical_klines_through_python_binance_equal_the_truth() -> None:
    with running(BinanceVenue(clock=clock(), history_start=HISTORY)) as venue:
        client = client_for(venue)
        rows = client.get_historical_klines("SOLUSDT", "5m", "2024-03-07", "2024-03-14")
        truth = venue.truth("SOL-USDT", Timeframe.M5, START, NOW)
        recent = client.get_klines(symbol="SOLUSDT", interval="5m", limit=3)
    closed = [r for r in rows if r[6] < int(NOW.timestamp() * 1000)]  # drop the open kline
    assert len(rows) == len(closed) + 1 and recent[-1] == rows[-1]
    assert truth.height == 7 * 288
    assert_frame_equal(klines_frame(closed, "SOL-USDT"), truth)


def test_async_client_create_pings_the_fake_and_reads_klines() -> None:
    async def run() -> tuple[list[Any], int]:
        async with BinanceVenue(clock=clock(), history_start=HISTORY) as venue:
            class FakeAsync(AsyncClient):
                API_URL = venue.api_url

            client = await FakeAsync.create()  # awaits ping() and get_server_time() here
            try:
                rows = await client.get_klines(symbol="BTCUSDT", interval="1h", limit=5)
            finally:
                await client.close_connection()
            return rows, len(venue.requests("ping"))

    rows, pings = asyncio.run(run())
    assert pings == 1 and len(rows) == 5


def test_binance_us_serves_usd_pairs_priced_like_usdt_books_with_their_own_volume() -> None:
    with pytest.raises(InputError, match="no USD pairs"):
        BinanceVenue(symbols=["BTC-USD"])
    with running(BinanceVenue(us=True, clock=clock(), history_start=HISTORY)) as us, \
            running(BinanceVenue(clock=clock(), history_start=HISTORY)) as com:
        usd = us.truth("BTCUSD", Timeframe.H1, START, NOW)
        usdt = com.truth("BTCUSDT", Timeframe.H1, START, NOW)
        info = requests.get(us.api_url + "/v3/exchangeInfo", timeout=5).json()
    assert usd["vendor"].unique().to_list() == ["binance_us"]
    assert_frame_equal(usd.select("ts", "close"), usdt.select("ts", "close"))
    assert (usd["volume"] < usdt["volume"] / 10).all(), "never the same volume: never splice"
    assert info["rateLimits"][0]["limit"] == 1200
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSD", "SOLUSD", "BTCUSDT"}


def test_a_sparse_usd_pair_serves_zero_trade_klines_at_the_previous_close() -> None:
    venue = BinanceVenue(us=True, sparse={"SOL-USD": 0.8}, clock=clock(), history_start=HISTORY)
    with running(venue):
        rows = client_for(venue).get_klines(symbol="SOLUSD", interval="1m", limit=1000)
        truth = venue.truth("SOL-USD", Timeframe.M1, NOW - timedelta(days=1), NOW)
    quiet = [r for r in rows if r[5] == "0.00000000"]
    assert 0.75 < len(quiet) / len(rows) < 0.85
    assert all(r[8] == 0 and r[1] == r[2] == r[3] == r[4] and r[7] == "0.00000000"
               for r in quiet)
    assert 0.75 < (truth["volume"] == 0).mean() < 0.85  # type: ignore[operator]
    assert truth.filter(pl.col("volume") == 0)["vwap"].is_null().all()


def test_past_the_weight_limit_it_answers_429_then_bans_with_418() -> None:
    venue = BinanceVenue(clock=clock(), weight_limit=10, history_start=HISTORY,
                         timer=lambda: 90.0)  # half a minute into a weight window, throughout
    with running(venue):
        client = client_for(venue)
        statuses = []
        for _ in range(12):
            try:
                client.get_klines(symbol="BTCUSDT", interval="1m", limit=10)
                statuses.append(200)
            except BinanceAPIException as exc:
                statuses.append(exc.status_code)
                assert exc.code == -1003
                assert int(client.response.headers["Retry-After"]) > 0
    assert statuses[:5] == [200] * 5 and statuses[5:10] == [429] * 5 and statuses[10:] == [418] * 2
    assert {f.kind for f in venue.faults()} == {FaultKind.LIMIT}


def test_outage_windows_are_missing_rows_not_zero_volume_rows() -> None:
    windows = outage_windows(["BTC-USDT"], NOW - timedelta(hours=12), NOW, seed=5)
    with running(BinanceVenue(clock=clock(), history_start=HISTORY,
                              faults=FaultPlan(outages=windows))) as venue:
        rows = client_for(venue).get_klines(symbol="BTCUSDT", interval="1m", limit=1000)
        truth = venue.truth("BTC-USDT", Timeframe.M1, NOW - timedelta(days=1), NOW)
        logged = venue.faults(FaultKind.OUTAGE)
    served = klines_frame(rows, "BTC-USDT")
    for lo, hi in windows["BTC-USDT"]:
        assert served.filter(pl.col("ts").is_between(lo, hi, closed="left")).is_empty()
        assert truth.filter(pl.col("ts").is_between(lo, hi, closed="left")).is_empty()
    assert len(rows) == 1000, "limit counts rows served: the window is skipped, not padded"
    assert sum(int(r.detail["withheld"]) for r in logged) == sum(
        int((hi - lo) / timedelta(minutes=1)) for lo, hi in windows["BTC-USDT"])

"""The fake trading venues speak the contracts (api_contracts.md 4.4-4.5 and 5.3-5.4) to the
real SDKs, verify Binance signatures on the raw bytes, and inject order faults whose whole point
is whether the order was placed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import aiohttp
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException
from broker_harness import HOLD_S

from raytrade.venues import (
    AlpacaTradingVenue,
    BinanceTradingVenue,
    OrderFault,
    OrderFaultPlan,
    running,
)
from raytrade.venues.binance_signed import signature_of

KEY, SECRET = "fakeKey123", "fake-secret-456"


def test_signature_matches_the_documented_test_vector() -> None:
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    payload = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
               "&recvWindow=5000&timestamp=1499827319559")
    assert signature_of(secret, payload) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


async def _raw_post(venue: BinanceTradingVenue, query: str, body: str, secret: str,
                    key: str = KEY) -> tuple[int, Any]:
    """POST an order with parameters split between query and body, signed over both."""
    signature = hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    url = f"{venue.api_url}/v3/order?{query}&signature={signature}"
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body, headers={"X-MBX-APIKEY": key,
                                     "Content-Type": "application/x-www-form-urlencoded"}
    ) as response:
        return response.status, await response.json()


def test_binance_fake_verifies_the_hmac_over_the_raw_query_and_body() -> None:
    async def run() -> None:
        async with BinanceTradingVenue(api_key=KEY, api_secret=SECRET) as venue:
            venue.set_price("BTC-USDT", 40_000.0)
            query = f"timestamp={int(time.time() * 1000)}"
            body = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=raw-1"
            assert (await _raw_post(venue, query, body, SECRET))[0] == 200
            wrong = await _raw_post(venue, query, body.replace("raw-1", "raw-2"), "not-it")
            assert wrong == (400, {"code": -1022,
                                   "msg": "Signature for this request is not valid."})
            unknown = await _raw_post(venue, query, body, SECRET, key="someoneElse")
            assert unknown == (401, {"code": -2015, "msg": "Invalid API-key, IP, or "
                                                           "permissions for action."})
            assert (await _raw_post(venue, query, body, SECRET, key="bad key!"))[1][
                "code"] == -2014
            assert venue.placed("raw-1") == 1 and venue.placed("raw-2") == 0
            assert all("signature=***" in r.path for r in venue.requests())
    asyncio.run(run())


def _client(venue: BinanceTradingVenue, secret: str = SECRET) -> AsyncClient:
    client = AsyncClient(KEY, secret)  # constructed directly: no ping to the real host
    client.API_URL = venue.api_url
    return client


async def _refusal(call: Any) -> tuple[int, int]:
    with pytest.raises(BinanceAPIException) as info:
        await call
    return info.value.status_code, info.value.code


def test_binance_fake_refuses_a_wrong_secret_a_stale_timestamp_and_exponent_numbers() -> None:
    async def run() -> None:
        async with BinanceTradingVenue(api_key=KEY, api_secret=SECRET) as venue:
            venue.set_price("BTC-USDT", 40_000.0)
            wrong = _client(venue, secret="guessed-secret")
            assert await _refusal(wrong.get_account()) == (400, -1022)
            stale = _client(venue)
            stale.timestamp_offset = -60_000  # a minute behind, recvWindow 10 s
            assert await _refusal(stale.get_account()) == (400, -1021)
            good = _client(venue)
            assert await _refusal(good.create_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.00001)) == (400, -1100)
            assert (await good.get_account())["accountType"] == "SPOT"
            for client in (wrong, stale, good):
                await client.close_connection()
            assert venue.ledger.orders() == []
    asyncio.run(run())


def test_binance_fake_refuses_a_reused_client_order_id_only_while_its_order_is_open() -> None:
    async def run() -> None:
        async with BinanceTradingVenue(api_key=KEY, api_secret=SECRET) as venue:
            client = _client(venue)
            order = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",
                     "quantity": "0.1", "newClientOrderId": "same-id"}
            first = await client.create_order(**order)  # no price yet: stays open
            assert first["status"] == "NEW" and first["fills"] == []
            assert await _refusal(client.create_order(**order)) == (400, -2010)
            venue.set_price("ETH-USDT", 2_000.0)
            filled = await client.get_order(symbol="ETHUSDT", origClientOrderId="same-id")
            assert filled["status"] == "FILLED"
            second = await client.create_order(**order)  # the first has filled: accepted
            assert second["status"] == "FILLED" and second["orderId"] != first["orderId"]
            assert venue.placed("same-id") == 2
            assert await _refusal(client.cancel_order(
                symbol="ETHUSDT", origClientOrderId="same-id")) == (400, -2011)
            assert await _refusal(client.get_order(
                symbol="ETHUSDT", origClientOrderId="nope")) == (400, -2013)
            await client.close_connection()
    asyncio.run(run())


def _alpaca(venue: AlpacaTradingVenue, secret: str = SECRET) -> TradingClient:
    client = TradingClient(KEY, secret, paper=True, url_override=venue.base_url)
    client._retry = 0
    return client


def test_alpaca_fake_answers_the_sdk_and_refuses_like_alpaca() -> None:
    with running(AlpacaTradingVenue(key_id=KEY, secret_key=SECRET, cash=10_000.0)) as venue:
        venue.set_price("AAPL", 100.0)
        client = _alpaca(venue)
        request = MarketOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY,
                                     time_in_force=TimeInForce.DAY, client_order_id="a-1")
        placed = client.submit_order(request)
        assert placed.status.value == "accepted" and float(placed.filled_qty or 0) == 0
        with pytest.raises(APIError) as dup:
            client.submit_order(request)
        assert (dup.value.status_code, dup.value.code) == (422, 40010001)
        assert dup.value.message == "client_order_id must be unique"
        with pytest.raises(APIError) as poor:
            client.submit_order(MarketOrderRequest(symbol="AAPL", qty=500, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.DAY))
        assert (poor.value.status_code, poor.value.message) == (403, "insufficient buying power")
        with pytest.raises(APIError) as unauthorized:
            _alpaca(venue, secret="nope").get_account()
        assert (unauthorized.value.status_code, unauthorized.value.code) == (401, 40110000)
        waiting = client.submit_order(MarketOrderRequest(  # no MSFT price yet: stays open
            symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        assert client.cancel_order_by_id(waiting.id) is None  # 204
        for finished in (placed.id, waiting.id):  # filled, cancelled: not cancelable
            with pytest.raises(APIError) as refused:
                client.cancel_order_by_id(finished)
            assert refused.value.status_code == 422
        closed = client.close_all_positions(cancel_orders=True)
        assert [(c.symbol, c.status) for c in closed] == [("AAPL", 200)]  # type: ignore[union-attr]
        assert client.get_all_positions() == []
        assert float(client.get_account().cash or 0) == pytest.approx(10_000.0)  # type: ignore[union-attr]


@pytest.mark.parametrize(("fault", "placed"), [(OrderFault.TIMEOUT, 0),
                                               (OrderFault.LOST_RESPONSE, 1),
                                               (OrderFault.SERVER_ERROR, 0),
                                               (OrderFault.ERROR_AFTER_ACCEPT, 1)])
def test_an_order_fault_decides_whether_the_unanswered_order_exists(
        fault: OrderFault, placed: int) -> None:
    plan = OrderFaultPlan(rates={fault: 1.0}, timeout_s=HOLD_S)
    venue = AlpacaTradingVenue(key_id=KEY, secret_key=SECRET, order_faults=plan)
    with running(venue):
        venue.set_price("SPY", 500.0)
        try:
            response = requests.post(
                f"{venue.base_url}/v2/orders", timeout=HOLD_S / 2,
                json={"symbol": "SPY", "qty": "1", "side": "buy", "type": "market",
                      "time_in_force": "day", "client_order_id": "probe"},
                headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
            answered: int | None = response.status_code
        except requests.Timeout:
            answered = None
        assert venue.placed("probe") == placed
        if fault in (OrderFault.TIMEOUT, OrderFault.LOST_RESPONSE):
            assert answered is None  # the client gave up waiting
        else:
            assert answered is not None and answered >= 500
        assert [r.fault for r in venue.order_faults()] == [fault]

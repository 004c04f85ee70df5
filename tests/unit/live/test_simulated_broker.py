"""The simulated broker fills at the next bar's open, moved by slippage, and charges the fee
on the filled notional, as the backtest charges costs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from raytrade.core.types import Side
from raytrade.live.brokers import (
    Bar,
    Broker,
    OrderRequest,
    OrderStatus,
    SimulatedBroker,
    client_order_id,
)

T0 = datetime(2024, 3, 14, 14, 30, tzinfo=UTC)
STEP = timedelta(minutes=5)


def bar(i: int, open_: float, close: float, symbol: str = "AAPL") -> Bar:
    return Bar(symbol, T0 + i * STEP, open_, close)


def order(i: int, side: Side, qty: float | None = None, notional: float | None = None,
          symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id("sim", T0 + i * STEP, side.value),
                        symbol=symbol, side=side, qty=qty, notional=notional)


def test_a_buy_fills_at_the_next_open_plus_slippage_and_pays_the_fee() -> None:
    async def run() -> None:
        broker = SimulatedBroker(cash=10_000.0, fee_bps=10.0, slippage_bps=2.0)
        assert isinstance(broker, Broker)
        broker.on_bar(bar(0, 99.0, 100.0))
        state = await broker.submit(order(0, Side.BUY, qty=10))
        assert state.status is OrderStatus.NEW
        assert broker.on_bar(bar(0, 99.0, 100.0)) == []  # the same bar again: not a later one
        [filled] = broker.on_bar(bar(1, 101.0, 102.0))
        price = 101.0 * (1 + 2e-4)
        assert filled.status is OrderStatus.FILLED and filled.updated_at == T0 + STEP
        assert (filled.filled_qty, filled.avg_price) == (10, pytest.approx(price))
        assert filled.fee == pytest.approx(10 * price * 1e-3)
        account = await broker.account()
        assert account.cash == pytest.approx(10_000 - 10 * price * (1 + 1e-3))
        assert account.equity == pytest.approx(account.cash + 10 * 102.0)  # marked at close
        [position] = await broker.positions()
        assert (position.qty, position.avg_price) == (10, pytest.approx(price))
    asyncio.run(run())


def test_a_sell_by_amount_fills_below_the_open_and_the_fee_comes_off_the_proceeds() -> None:
    async def run() -> None:
        broker = SimulatedBroker(cash=0.0, fee_bps=5.0, slippage_bps=10.0)
        await broker.submit(order(0, Side.SELL, notional=1_000.0))  # before any bar: a short
        [filled] = broker.on_bar(bar(1, 200.0, 190.0))
        price = 200.0 * (1 - 1e-3)
        assert filled.filled_qty == pytest.approx(1_000.0 / price)
        assert (await broker.account()).cash == pytest.approx(1_000.0 * (1 - 5e-4))
        [position] = await broker.positions()
        assert position.qty == pytest.approx(-1_000.0 / price)
        assert position.market_value == pytest.approx(-1_000.0 / price * 190.0)
    asyncio.run(run())


def test_submit_is_idempotent_and_other_symbols_bars_fill_nothing() -> None:
    async def run() -> None:
        broker = SimulatedBroker(cash=1_000.0)
        first = await broker.submit(order(0, Side.BUY, qty=1))
        again = await broker.submit(order(0, Side.BUY, qty=1))
        assert again == first and len(await broker.open_orders()) == 1
        assert broker.on_bar(bar(1, 50.0, 50.0, symbol="MSFT")) == []
        assert len(broker.on_bar(bar(1, 10.0, 11.0))) == 1
        assert (await broker.submit(order(0, Side.BUY, qty=1))).status is OrderStatus.FILLED
        assert len(broker.on_bar(bar(2, 12.0, 12.0))) == 0
        assert (await broker.account()).cash == pytest.approx(990.0)
    asyncio.run(run())


def test_a_cancelled_order_never_fills() -> None:
    async def run() -> None:
        broker = SimulatedBroker(cash=1_000.0)
        placed = await broker.submit(order(0, Side.BUY, qty=1))
        assert (await broker.cancel(placed.client_order_id)).status is OrderStatus.CANCELED
        assert broker.on_bar(bar(1, 10.0, 10.0)) == []
        assert await broker.positions() == [] and await broker.order("rt-unknown") is None
    asyncio.run(run())


def test_a_round_trip_costs_fee_and_slippage_both_ways() -> None:
    async def run() -> None:
        broker = SimulatedBroker(cash=10_000.0, fee_bps=10.0, slippage_bps=5.0)
        await broker.submit(order(0, Side.BUY, qty=50))
        broker.on_bar(bar(1, 100.0, 100.0))
        await broker.submit(order(1, Side.SELL, qty=50))
        broker.on_bar(bar(2, 100.0, 100.0))  # flat prices: only costs move the cash
        buy, sell = 100.0 * 1.0005, 100.0 * 0.9995
        expected = 10_000 - 50 * buy * 1.001 + 50 * sell * 0.999
        account = await broker.account()
        assert account.cash == pytest.approx(expected) and account.equity == account.cash
        assert await broker.positions() == []
    asyncio.run(run())

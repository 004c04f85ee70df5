"""The Alpaca broker, through alpaca-py's TradingClient, against the fake Alpaca paper venue."""

from __future__ import annotations

import asyncio
import time

import pytest
from broker_harness import (
    BAR0,
    HOLD_S,
    SleepRecorder,
    assert_no_chain,
    assert_no_secret,
    capture_all,
    fast_retry,
    intended_orders,
    log_text,
    net_quantities,
)
from pydantic import SecretStr

from raytrade.core.errors import PermanentError
from raytrade.core.types import Side
from raytrade.live.brokers import (
    BrokerCredentialsError,
    OrderRequest,
    OrderStatus,
    client_order_id,
)
from raytrade.live.brokers.alpaca import AlpacaBroker
from raytrade.venues import (
    AlpacaTradingVenue,
    FaultKind,
    FaultPlan,
    OrderFault,
    OrderFaultPlan,
)

KEY, SECRET = "PKTESTKEY123", "s3cr3t-alpaca-value"
PRICES = {"AAPL": 190.0, "MSFT": 410.0, "SPY": 500.0}


def venue(**kwargs: object) -> AlpacaTradingVenue:
    fake = AlpacaTradingVenue(key_id=KEY, secret_key=SECRET, **kwargs)  # type: ignore[arg-type]
    for symbol, price in PRICES.items():
        fake.set_price(symbol, price)
    return fake


def broker(fake: AlpacaTradingVenue, secret: str = SECRET,
           sleep: SleepRecorder | None = None) -> AlpacaBroker:
    return AlpacaBroker(SecretStr(KEY), SecretStr(secret), base_url=fake.base_url,
                        retry=fast_retry(sleep))


def order(intent: str, symbol: str, side: Side, qty: float | None = None,
          notional: float | None = None) -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id("alpaca-test", BAR0, intent),
                        symbol=symbol, side=side, qty=qty, notional=notional)


def test_orders_fill_and_positions_and_account_reconcile() -> None:
    async def run() -> None:
        async with venue() as fake:
            b = broker(fake)
            buy = await b.submit(order("buy-aapl", "AAPL", Side.BUY, qty=10))
            assert buy.status is OrderStatus.NEW and buy.filled_qty == 0  # "accepted"
            await b.submit(order("buy-msft", "MSFT", Side.BUY, notional=1025.0))
            await b.submit(order("sell-aapl", "AAPL", Side.SELL, qty=4))
            filled = await b.order(buy.client_order_id)
            assert filled is not None and filled.status is OrderStatus.FILLED
            assert (filled.filled_qty, filled.avg_price) == (10, 190.0)
            positions = {p.symbol: p for p in await b.positions()}
            assert positions["AAPL"].qty == 6 and positions["AAPL"].avg_price == 190.0
            assert positions["MSFT"].qty == pytest.approx(2.5)
            account = await b.account()
            assert account.cash == pytest.approx(100_000 - 1900 - 1025 + 760)
            assert account.equity == pytest.approx(100_000)
            assert await b.open_orders() == []
            await b.close()
    asyncio.run(run())


def test_bad_key_is_a_permanent_error_at_once_with_no_secret_anywhere(
        caplog: pytest.LogCaptureFixture) -> None:
    capture_all(caplog)

    async def run() -> None:
        async with venue() as fake:
            wrong = "wrong-secret-value-xyz"
            b = broker(fake, secret=wrong)
            for call in (b.account(), b.submit(order("x", "AAPL", Side.BUY, qty=1))):
                with pytest.raises(BrokerCredentialsError) as info:
                    await call
                assert isinstance(info.value, PermanentError)
                assert_no_chain(info.value)
                assert_no_secret(wrong, str(info.value), repr(info.value), repr(b))
                assert_no_secret(KEY, str(info.value), repr(b))
            assert [r.status for r in fake.requests()] == [401, 401]  # no retry
            assert fake.ledger.orders() == []
            assert_no_secret(wrong, log_text(caplog))
            await b.close()
    asyncio.run(run())


def test_every_order_is_placed_exactly_once_when_a_fifth_of_submissions_fail() -> None:
    plan = OrderFaultPlan.failing(0.2, seed=2, timeout_s=HOLD_S)
    lookups = FaultPlan(seed=0, endpoints={"order_by_client_id": {FaultKind.SERVER_ERROR: 0.2,
                                                                   FaultKind.TIMEOUT: 0.1}},
                        timeout_s=HOLD_S)
    orders = intended_orders("alpaca-faults", ["AAPL", "MSFT", "SPY"], 40, qty=2)

    async def run() -> None:
        async with venue(order_faults=plan, faults=lookups) as fake:
            b = broker(fake)
            states = [await b.submit(o) for o in orders]
            await b.close()
            injected = {r.fault for r in fake.order_faults()}
            assert injected == {OrderFault.SERVER_ERROR, OrderFault.TIMEOUT,
                                OrderFault.LOST_RESPONSE, OrderFault.ERROR_AFTER_ACCEPT}
            assert [fake.placed(o.client_order_id) for o in orders] == [1] * len(orders)
            assert len(fake.ledger.orders()) == len(orders)
            assert all(s.status is not OrderStatus.REJECTED for s in states)
            assert {f.kind for f in fake.faults(endpoint="order_by_client_id")} == {
                FaultKind.SERVER_ERROR, FaultKind.TIMEOUT}, "lookups did not fail both ways"
            posts = fake.requests("new_order")
            assert len(posts) > len(orders)  # some were sent again ...
            assert all(r.status != 422 for r in posts)  # ... only after a lookup said absent
            held = {p.symbol: p.qty for p in await broker(fake).positions()}
            assert held == pytest.approx(net_quantities(orders))
    asyncio.run(run())


def test_partial_fill_is_reported_and_the_rest_fills_at_the_next_price() -> None:
    plan = OrderFaultPlan(rates={OrderFault.PARTIAL_FILL: 1.0}, partial_share=0.4)

    async def run() -> None:
        async with venue(order_faults=plan) as fake:
            b = broker(fake)
            placed = await b.submit(order("partial", "AAPL", Side.BUY, qty=10))
            state = await b.order(placed.client_order_id)
            assert state is not None and state.status is OrderStatus.PARTIALLY_FILLED
            assert (state.filled_qty, state.avg_price) == (4, 190.0)
            assert [o.client_order_id for o in await b.open_orders()] == [
                placed.client_order_id]
            fake.set_price("AAPL", 191.0)
            done = await b.order(placed.client_order_id)
            assert done is not None and done.status is OrderStatus.FILLED
            assert done.filled_qty == 10
            assert done.avg_price == pytest.approx((4 * 190 + 6 * 191) / 10)
            await b.close()
    asyncio.run(run())


def test_delayed_fill_stays_open_until_a_price_and_can_be_cancelled() -> None:
    plan = OrderFaultPlan(rates={OrderFault.DELAYED_FILL: 1.0})

    async def run() -> None:
        async with venue(order_faults=plan) as fake:
            b = broker(fake)
            first = await b.submit(order("late", "MSFT", Side.BUY, qty=1))
            second = await b.submit(order("never", "SPY", Side.BUY, qty=1))
            assert {s.status for s in await b.open_orders()} == {OrderStatus.NEW}
            fake.set_price("MSFT", 412.0)
            filled = await b.order(first.client_order_id)
            assert filled is not None and filled.status is OrderStatus.FILLED
            assert filled.avg_price == 412.0
            cancelled = await b.cancel(second.client_order_id)
            assert cancelled.status is OrderStatus.CANCELED
            assert (await b.cancel(first.client_order_id)).status is OrderStatus.FILLED
            assert {p.symbol for p in await b.positions()} == {"MSFT"}
            await b.close()
    asyncio.run(run())


def test_insufficient_buying_power_is_a_rejection_not_a_retry_loop() -> None:
    async def run() -> None:
        async with venue(cash=1_000.0) as fake:
            sleep = SleepRecorder()
            b = broker(fake, sleep=sleep)
            started = time.monotonic()
            state = await b.submit(order("too-big", "AAPL", Side.BUY, qty=10))
            assert state.status is OrderStatus.REJECTED
            assert "insufficient buying power" in (state.reason or "")
            short = await b.submit(order("no-shares", "MSFT", Side.SELL, qty=1))
            assert short.status is OrderStatus.REJECTED
            assert "insufficient qty" in (short.reason or "")
            assert time.monotonic() - started < 2.0 and sleep.waits == []
            assert len(fake.requests("new_order")) == 2
            assert fake.ledger.orders() == []
            assert await b.order(state.client_order_id) is None
            await b.close()
    asyncio.run(run())


def test_submitting_the_same_order_again_returns_the_existing_order() -> None:
    async def run() -> None:
        async with venue() as fake:
            request = order("again", "AAPL", Side.BUY, qty=3)
            first = await broker(fake).submit(request)
            again = await broker(fake).submit(request)  # a restarted session
            assert again.broker_order_id == first.broker_order_id
            assert again.status is OrderStatus.FILLED
            assert fake.placed(request.client_order_id) == 1
    asyncio.run(run())

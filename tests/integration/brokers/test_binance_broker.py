"""The Binance broker, through python-binance's AsyncClient (signed), against the fake Binance
spot trading venue."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from broker_harness import (
    BAR0,
    HOLD_S,
    ShiftedClock,
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
from raytrade.live.brokers.binance import BinanceBroker
from raytrade.venues import (
    BinanceTradingVenue,
    FaultKind,
    FaultPlan,
    OrderFault,
    OrderFaultPlan,
)

KEY, SECRET = "binanceTestKey42", "binance-test-secret-9f8e7d"
SYMBOLS = ("BTC-USDT", "ETH-USDT")
PRICES = {"BTC-USDT": 42_000.0, "ETH-USDT": 2_500.0}


def venue(**kwargs: object) -> BinanceTradingVenue:
    fake = BinanceTradingVenue(api_key=KEY, api_secret=SECRET, symbols=SYMBOLS,
                               **kwargs)  # type: ignore[arg-type]
    for symbol, price in PRICES.items():
        fake.set_price(symbol, price)
    return fake


def broker(fake: BinanceTradingVenue, key: str = KEY, secret: str = SECRET,
           sleep: SleepRecorder | None = None) -> BinanceBroker:
    return BinanceBroker(SecretStr(key), SecretStr(secret), base_url=fake.base_url,
                         symbols=SYMBOLS, retry=fast_retry(sleep))


def order(intent: str, symbol: str, side: Side, qty: float | None = None,
          notional: float | None = None) -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id("binance-test", BAR0, intent),
                        symbol=symbol, side=side, qty=qty, notional=notional)


def test_orders_fill_with_fees_and_balances_reconcile() -> None:
    async def run() -> None:
        async with venue(fee_bps=10.0) as fake:
            b = broker(fake)
            buy = await b.submit(order("buy-btc", "BTC-USDT", Side.BUY, qty=0.5))
            assert buy.status is OrderStatus.FILLED  # Binance answers with the fills
            assert (buy.filled_qty, buy.avg_price) == (0.5, 42_000.0)
            assert buy.fee == pytest.approx(0.5 * 0.001 * 42_000.0)  # BTC commission, in USDT
            eth = await b.submit(order("buy-eth", "ETH-USDT", Side.BUY, notional=1_000.0))
            assert eth.filled_qty == pytest.approx(0.4) and eth.notional == 1_000.0
            sell = await b.submit(order("sell-btc", "BTC-USDT", Side.SELL, qty=0.2))
            assert sell.fee == pytest.approx(0.2 * 42_000.0 * 0.001)  # USDT commission
            tiny = await b.submit(order("tiny", "BTC-USDT", Side.BUY, qty=0.00001))
            assert tiny.filled_qty == pytest.approx(0.00001)  # not sent as "1e-05"
            positions = {p.symbol: p.qty for p in await b.positions()}
            assert positions == pytest.approx({"BTC-USDT": 0.5 * 0.999 - 0.2 + 0.00001 * 0.999,
                                               "ETH-USDT": 0.4 * 0.999})
            account = await b.account()
            spent = 21_000 + 1_000 + 0.42 - 8_400 * 0.999
            assert account.cash == pytest.approx(100_000 - spent)
            assert account.buying_power == account.cash and account.currency == "USDT"
            found = await b.order(buy.client_order_id)
            assert found is not None and found.broker_order_id == buy.broker_order_id
            await b.close()
    asyncio.run(run())


@pytest.mark.parametrize("wrong", ["key", "secret"])
def test_a_bad_key_or_signature_is_a_permanent_error_at_once_with_no_secret_anywhere(
        wrong: str, caplog: pytest.LogCaptureFixture) -> None:
    capture_all(caplog)

    async def run() -> None:
        async with venue() as fake:
            bad_key = "otherKey000" if wrong == "key" else KEY
            bad_secret = "wrong-secret-abcdef" if wrong == "secret" else SECRET
            b = broker(fake, key=bad_key, secret=bad_secret)
            for call in (b.account(), b.submit(order("x", "BTC-USDT", Side.BUY, qty=0.1))):
                with pytest.raises(BrokerCredentialsError) as info:
                    await call
                assert isinstance(info.value, PermanentError)
                assert_no_chain(info.value)
                for secret in (bad_secret, bad_key, SECRET):
                    assert_no_secret(secret, str(info.value), repr(info.value), repr(b))
            signed = [r for r in fake.requests() if r.endpoint != "time"]
            assert [r.status for r in signed] == [401 if wrong == "key" else 400] * 2
            assert fake.ledger.orders() == []
            assert_no_secret(bad_secret, log_text(caplog))
            await b.close()
    asyncio.run(run())


def test_every_order_is_placed_exactly_once_when_a_fifth_of_submissions_fail() -> None:
    plan = OrderFaultPlan.failing(0.2, seed=2, timeout_s=HOLD_S)
    lookups = FaultPlan(seed=7, endpoints={"order": {FaultKind.SERVER_ERROR: 0.15,
                                                     FaultKind.TIMEOUT: 0.03}},
                        timeout_s=HOLD_S)
    orders = intended_orders("binance-faults", list(SYMBOLS), 40, qty=0.01)

    async def run() -> None:
        async with venue(order_faults=plan, faults=lookups) as fake:
            b = broker(fake)
            states = [await b.submit(o) for o in orders]
            await b.close()
            injected = {r.fault for r in fake.order_faults()}
            assert injected == {OrderFault.SERVER_ERROR, OrderFault.TIMEOUT,
                                OrderFault.LOST_RESPONSE, OrderFault.ERROR_AFTER_ACCEPT}
            # The venue takes a reused id once the first order has filled, so only the
            # lookups stand between a lost answer and a second order.
            assert [fake.placed(o.client_order_id) for o in orders] == [1] * len(orders)
            assert len(fake.ledger.orders()) == len(orders)
            assert all(s.status is OrderStatus.FILLED for s in states)
            assert {f.kind for f in fake.faults(endpoint="order")} == {
                FaultKind.SERVER_ERROR, FaultKind.TIMEOUT}, "lookups did not fail both ways"
            assert len(fake.requests("new_order")) > len(orders)  # some were sent again
            held = {p.symbol: p.qty for p in await broker(fake).positions()}
            assert held == pytest.approx(net_quantities(orders))

            restarted = broker(fake)  # a new process: submits the same intents again
            again = [await restarted.submit(o) for o in orders]
            await restarted.close()
            assert [s.broker_order_id for s in again] == [s.broker_order_id for s in states]
            assert len(fake.ledger.orders()) == len(orders)
    asyncio.run(run())


def test_partial_fill_is_reported_and_the_rest_fills_at_the_next_price() -> None:
    plan = OrderFaultPlan(rates={OrderFault.PARTIAL_FILL: 1.0}, partial_share=0.25)

    async def run() -> None:
        async with venue(order_faults=plan) as fake:
            b = broker(fake)
            state = await b.submit(order("partial", "ETH-USDT", Side.BUY, qty=2.0))
            assert state.status is OrderStatus.PARTIALLY_FILLED and state.filled_qty == 0.5
            assert [o.client_order_id for o in await b.open_orders()] == [
                state.client_order_id]
            fake.set_price("ETH-USDT", 2_600.0)
            done = await b.order(state.client_order_id)
            assert done is not None and done.status is OrderStatus.FILLED
            assert done.avg_price == pytest.approx((0.5 * 2_500 + 1.5 * 2_600) / 2)
            await b.close()
    asyncio.run(run())


def test_a_delayed_order_can_be_cancelled_and_a_filled_one_is_left_as_is() -> None:
    plan = OrderFaultPlan(rates={OrderFault.DELAYED_FILL: 1.0})

    async def run() -> None:
        async with venue(order_faults=plan) as fake:
            b = broker(fake)
            waiting = await b.submit(order("wait", "BTC-USDT", Side.BUY, qty=0.1))
            assert waiting.status is OrderStatus.NEW
            cancelled = await b.cancel(waiting.client_order_id)
            assert cancelled.status is OrderStatus.CANCELED
            fake.set_price("BTC-USDT", 43_000.0)  # nothing left to fill
            assert await b.positions() == []
            await b.close()
    asyncio.run(run())


def test_insufficient_balance_is_a_rejection_not_a_retry_loop() -> None:
    async def run() -> None:
        async with venue(balances={"USDT": 1_000.0}) as fake:
            sleep = SleepRecorder()
            b = broker(fake, sleep=sleep)
            state = await b.submit(order("too-big", "BTC-USDT", Side.BUY, qty=1.0))
            assert state.status is OrderStatus.REJECTED
            assert state.reason == "Account has insufficient balance for requested action."
            assert len(fake.requests("new_order")) == 1 and sleep.waits == []
            assert fake.ledger.orders() == []
            await b.close()
    asyncio.run(run())


def test_a_venue_clock_that_jumps_is_resynced_after_minus_1021() -> None:
    clock = ShiftedClock(timedelta(minutes=-20))

    async def run() -> None:
        async with venue(clock=clock) as fake:
            b = broker(fake)
            await b.account()  # syncs the offset: the venue runs 20 minutes behind
            clock.offset = timedelta(minutes=5)  # now it runs ahead: stale by 25 minutes
            state = await b.submit(order("after-jump", "BTC-USDT", Side.BUY, qty=0.1))
            assert state.status is OrderStatus.FILLED
            assert len(fake.requests("time")) == 2  # synced again after the -1021
            assert fake.placed(state.client_order_id) == 1
            await b.close()
    asyncio.run(run())

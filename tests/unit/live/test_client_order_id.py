"""Client order ids are deterministic, portable to every broker, and orders are validated."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from raytrade.core.types import Side
from raytrade.live.brokers import OrderRequest, client_order_id

BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # newClientOrderId, Binance spot
ALPACA_MAX = 128
FORM_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")  # unchanged by form encoding after signing
BAR = datetime(2024, 3, 14, 14, 30, tzinfo=UTC)

sessions = st.text(min_size=1, max_size=300)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


@given(sessions, instants, sessions)
def test_every_id_fits_binance_and_alpaca_and_survives_form_encoding(
        session: str, bar_time: datetime, intent: str) -> None:
    cid = client_order_id(session, bar_time, intent)
    assert BINANCE.match(cid) and len(cid) <= ALPACA_MAX and FORM_SAFE.match(cid)
    OrderRequest(client_order_id=cid, symbol="AAPL", side=Side.BUY, qty=1)  # accepted


def test_the_same_intent_gives_the_same_id_and_any_change_a_new_one() -> None:
    cid = client_order_id("btc-session", BAR, "enter-long")
    assert cid == client_order_id("btc-session", BAR, "enter-long")
    assert cid == "rt-" + cid[3:] and len(cid) == 35
    others = {client_order_id("btc-session", BAR + timedelta(minutes=1), "enter-long"),
              client_order_id("btc-session", BAR, "exit-long"),
              client_order_id("eth-session", BAR, "enter-long"),
              client_order_id("btc-session\x1f2024", BAR, "enter-long")}
    assert cid not in others and len(others) == 4


def test_the_bar_is_an_instant_whatever_its_time_zone() -> None:
    new_york = BAR.astimezone(timezone(timedelta(hours=-4)))
    assert client_order_id("s", new_york, "i") == client_order_id("s", BAR, "i")
    with pytest.raises(ValueError, match="naive"):
        client_order_id("s", datetime(2024, 3, 14, 14, 30), "i")
    with pytest.raises(ValueError, match="session"):
        client_order_id("", BAR, "i")


@pytest.mark.parametrize("cid", ["", "x" * 37, "has space", "colon:id", "slash/id", "ü"])
def test_an_order_refuses_ids_that_some_broker_would_refuse(cid: str) -> None:
    with pytest.raises(ValidationError, match="client_order_id"):
        OrderRequest(client_order_id=cid, symbol="AAPL", side=Side.BUY, qty=1)


@pytest.mark.parametrize("amounts", [{}, {"qty": 1.0, "notional": 100.0}, {"qty": 0.0},
                                     {"notional": -5.0}, {"qty": float("inf")}])
def test_an_order_has_exactly_one_positive_finite_amount(amounts: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        OrderRequest(client_order_id="rt-1", symbol="BTC-USDT", side=Side.SELL, **amounts)


def test_an_order_names_a_canonical_symbol() -> None:
    with pytest.raises(ValidationError, match="canonical"):
        OrderRequest(client_order_id="rt-1", symbol="BTCUSDT_PERP", side=Side.BUY, qty=1)

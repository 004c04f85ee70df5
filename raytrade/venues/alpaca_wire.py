"""Alpaca's trading wire format, printed from a fake venue's ledger (api_contracts.md 5.3-5.4).

Numbers are strings without exponent or trailing zeros, times RFC-3339 UTC with `Z`, ids UUIDs
(an asset's id is a UUID5 of its symbol). Errors are `{"code": <HTTP status and 5 digits>,
"message": ...}`; the insufficient-funds and insufficient-qty 403s carry the extra keys Alpaca
sends with them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from raytrade.core.types import Side
from raytrade.venues.ledger import Instrument, Ledger, Order, OrderRefusedError
from raytrade.venues.server import Reply, VendorError

ASSET_NAMESPACE = uuid.UUID("9d2f3c56-1f0e-4a55-9a0b-6a4b0c1d2e3f")
EXCHANGES = {"SPY": "ARCA"}  # listing exchange; the rest are NASDAQ here
CASH = "USD"


def num(value: float) -> str:
    """Print a number the way Alpaca does: a string, no exponent, no trailing zeros."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def error(status: int, code: int, message: str) -> Reply:
    return Reply({"code": code, "message": message}, status=status)


def unprocessable(message: str) -> VendorError:
    """Return the 422 request-validation error (code 40010001)."""
    return VendorError(error(422, 40010001, message))


def asset_id(inst: Instrument) -> str:
    return str(uuid.uuid5(ASSET_NAMESPACE, inst.symbol))


def buying_power(ledger: Ledger) -> float:
    """Return cash less what open buys reserve (a cash account: multiplier 1)."""
    return max(ledger.balance(CASH) - ledger.held(CASH), 0.0)


def market_value(ledger: Ledger, inst: Instrument) -> float:
    price = ledger.price(inst.symbol) or ledger.avg_price(inst.base) or 0.0
    return ledger.balance(inst.base) * price


def refusal_reply(ledger: Ledger, refusal: OrderRefusedError, inst: Instrument) -> Reply:
    """Return Alpaca's answer to a refused order: 422 for a reused id, 403 for funds or qty."""
    if refusal.kind == "duplicate":
        return error(422, 40010001, "client_order_id must be unique")
    if refusal.kind == "qty":
        return Reply({"available": num(refusal.available), "code": 40310000,
                      "existing_qty": num(ledger.balance(inst.base)),
                      "held_for_orders": num(ledger.held(inst.base)),
                      "message": f"insufficient qty available for order (requested: "
                                 f"{num(refusal.needed)}, available: {num(refusal.available)})",
                      "symbol": inst.symbol}, status=403)
    return Reply({"buying_power": num(buying_power(ledger)), "code": 40310000,
                  "cost_basis": num(refusal.needed), "message": "insufficient buying power"},
                 status=403)


def order_json(order: Order, *, accepted: bool = False) -> dict[str, Any]:
    """Print an order; `accepted` prints it as the submission answer (before any fill)."""
    filled = 0.0 if accepted else order.filled_qty
    avg = None if accepted else order.avg_price
    canceled = None if accepted or order.canceled_at is None else rfc3339(order.canceled_at)
    return {
        "id": order.id, "client_order_id": order.client_order_id,
        "created_at": rfc3339(order.created_at),
        "updated_at": rfc3339(order.created_at if accepted else order.updated_at),
        "submitted_at": rfc3339(order.created_at),
        "filled_at": None if accepted or order.filled_at is None else rfc3339(order.filled_at),
        "expired_at": None, "canceled_at": canceled, "failed_at": None, "replaced_at": None,
        "replaced_by": None, "replaces": None, "asset_id": asset_id(order.instrument),
        "symbol": order.instrument.symbol, "asset_class": "us_equity",
        "notional": None if order.notional is None else num(order.notional),
        "qty": None if order.qty is None else num(order.qty), "filled_qty": num(filled),
        "filled_avg_price": None if avg is None else num(avg), "order_class": "simple",
        "order_type": "market", "type": "market", "side": order.side.value,
        "position_intent": None, "time_in_force": order.time_in_force, "limit_price": None,
        "stop_price": None, "status": "accepted" if accepted else order.status.value,
        "extended_hours": False, "legs": None, "trail_percent": None, "trail_price": None,
        "hwm": None}


def position_json(ledger: Ledger, inst: Instrument) -> dict[str, Any]:
    qty = ledger.balance(inst.base)
    avg = ledger.avg_price(inst.base) or 0.0
    price = ledger.price(inst.symbol) or avg
    held = ledger.held(inst.base) if qty > 0 else 0.0
    value, cost = qty * price, qty * avg
    change = num((value - cost) / abs(cost) if cost else 0.0)
    return {
        "asset_id": asset_id(inst), "symbol": inst.symbol,
        "exchange": EXCHANGES.get(inst.symbol, "NASDAQ"), "asset_class": "us_equity",
        "asset_marginable": True, "qty": num(qty), "qty_available": num(qty - held),
        "avg_entry_price": num(avg), "side": "long" if qty > 0 else "short",
        "market_value": num(value), "cost_basis": num(cost), "unrealized_pl": num(value - cost),
        "unrealized_plpc": change, "unrealized_intraday_pl": num(value - cost),
        "unrealized_intraday_plpc": change, "current_price": num(price),
        "lastday_price": num(price), "change_today": "0"}


def account_json(ledger: Ledger, held: list[Instrument], *, account_id: str,
                 created_at: datetime) -> dict[str, Any]:
    cash = ledger.balance(CASH)
    values = [market_value(ledger, i) for i in held]
    long_value = sum(v for v in values if v > 0)
    short_value = sum(v for v in values if v < 0)
    equity = num(cash + long_value + short_value)
    power = num(buying_power(ledger))
    return {
        "id": account_id, "account_number": "PA" + account_id[:10].upper().replace("-", ""),
        "status": "ACTIVE", "crypto_status": "INACTIVE", "currency": "USD", "cash": num(cash),
        "buying_power": power, "regt_buying_power": power, "daytrading_buying_power": "0",
        "non_marginable_buying_power": power, "effective_buying_power": power,
        "portfolio_value": equity, "equity": equity, "last_equity": equity,
        "long_market_value": num(long_value), "short_market_value": num(short_value),
        "initial_margin": "0", "maintenance_margin": "0", "last_maintenance_margin": "0",
        "multiplier": "1", "pattern_day_trader": False, "trading_blocked": False,
        "transfers_blocked": False, "account_blocked": False, "trade_suspended_by_user": False,
        "shorting_enabled": ledger.allow_short, "daytrade_count": 0, "sma": "0",
        "accrued_fees": "0", "created_at": rfc3339(created_at)}


async def json_object(request: web.Request) -> dict[str, Any]:
    """Return the JSON object in the request body, or raise Alpaca's 400."""
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise VendorError(error(400, 40010000, "request body format is invalid"))
    return body


def amount(body: dict[str, Any], key: str) -> float | None:
    """Return a positive `qty` or `notional` given as a number or a numeric string."""
    value = body.get(key)
    if value is None:
        return None
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise unprocessable(f"invalid {key}") from None
    if not parsed > 0:
        raise unprocessable(f"{key} must be > 0")
    return parsed


def side(value: object) -> Side:
    if value not in ("buy", "sell"):
        raise unprocessable("side must be buy or sell")
    return Side(str(value))

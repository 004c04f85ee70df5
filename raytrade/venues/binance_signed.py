"""Binance's signed-request rules, as a fake venue enforces them (api_contracts.md 4.4-4.5).

A signed request carries the API key in `X-MBX-APIKEY` and `timestamp` (ms), optional
`recvWindow` (default 5000, at most 60000) and `signature`: hex HMAC-SHA256 under the secret of
the raw query string concatenated with the raw form body, `signature` left out. The fake
verifies exactly that, on the bytes received, never re-sorting or re-encoding them. Then the
time check: the request is refused unless `timestamp < serverTime + 1000` and `serverTime -
timestamp <= recvWindow`. Refusals: 401 -2014 (no key or a malformed one), 401 -2015 (unknown
key), 400 -1102 (a mandatory parameter missing), 400 -1022 (bad signature), 400 -1021 (time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qsl

from raytrade.venues.server import Reply, VendorError

KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{1,128}$")
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
AHEAD_MS = 1000  # a timestamp this far ahead of the server's time is refused


def error(status: int, code: int, msg: str) -> Reply:
    """Return Binance's error reply: `{"code": <negative int>, "msg": ...}`."""
    return Reply({"code": code, "msg": msg}, status=status)


def mandatory(name: str) -> VendorError:
    return VendorError(error(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                             "empty/null, or malformed."))


def illegal(name: str, legal: str) -> VendorError:
    return VendorError(error(400, -1100, f"Illegal characters found in parameter '{name}'; "
                             f"legal range is '{legal}'."))


def signature_of(secret: str, payload: str) -> str:
    """Return the hex HMAC-SHA256 of `payload` under `secret`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def without_signature(raw: str) -> str:
    """Return a raw query string or body with its `signature=...` parameter taken out."""
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def check_key(key: str | None, expected: str) -> None:
    """Refuse a missing, malformed or unknown API key (401)."""
    if not key or not KEY_FORMAT.match(key):
        raise VendorError(error(401, -2014, "API-key format invalid."))
    if not hmac.compare_digest(key, expected):
        raise VendorError(error(401, -2015, "Invalid API-key, IP, or permissions for action."))


def verified_params(query: str, body: str, secret: str, now_ms: int) -> dict[str, str]:
    """Return the parameters of a signed request (query and body) once its signature and
    time check out; raise `VendorError` with Binance's refusal otherwise."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    signature = params.pop("signature", "")
    if not signature:
        raise mandatory("signature")
    if not params.get("timestamp"):
        raise mandatory("timestamp")
    expected = signature_of(secret, without_signature(query) + without_signature(body))
    if not hmac.compare_digest(expected, signature.lower()):
        raise VendorError(error(400, -1022, "Signature for this request is not valid."))
    timestamp, window = params["timestamp"], params.get("recvWindow", str(DEFAULT_RECV_WINDOW))
    if not timestamp.isdigit() or len(timestamp) > 20:
        raise illegal("timestamp", "^[0-9]{1,20}$")
    if not window.isdigit() or len(window) > 20:
        raise illegal("recvWindow", "^[0-9]{1,20}$")
    if int(window) > MAX_RECV_WINDOW:
        raise VendorError(error(400, -1131, "recvWindow must be less than 60000"))
    if int(timestamp) >= now_ms + AHEAD_MS:
        raise VendorError(error(400, -1021, "Timestamp for this request was 1000ms ahead of "
                                "the server's time."))
    if now_ms - int(timestamp) > int(window):
        raise VendorError(error(400, -1021, "Timestamp for this request is outside of the "
                                "recvWindow."))
    return params


__all__ = ["check_key", "error", "illegal", "mandatory", "signature_of", "verified_params",
           "without_signature"]

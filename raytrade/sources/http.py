"""One GET over aiohttp, and the HTTP facts every adapter reads the same way.

`http_get` returns a `Reply` for any status; what a status means is the adapter's decision
(each vendor says "unknown symbol" and "bad key" differently), except for the statuses that
are always worth retrying (`is_transient_status`). Timeouts and connection failures become
`VendorUnavailableError`. Nothing here logs a URL or a header, so no key can leak from here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from raytrade.sources.base import PayloadError, VendorUnavailableError

# 408 timeout, 418 Binance IP ban, 425 too early, 429 rate limit; 5xx server trouble.
TRANSIENT_4XX = frozenset({408, 418, 425, 429})
BODY_EXCERPT = 200  # characters of an error body quoted in a message


def is_transient_status(status: int) -> bool:
    """Return whether retrying the same request later may succeed."""
    return status in TRANSIENT_4XX or status >= 500


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a `Retry-After` header: delay seconds or an HTTP date; None when absent or bad."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Reply:
    """A response read in full: status, headers (case-insensitive lookups) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Return a header's value, matching its name case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> object:
        """Return the decoded JSON body; raise `PayloadError` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"the response body is not valid JSON ({exc})") from None

    def excerpt(self) -> str:
        """Return the start of the body as text, for error messages."""
        text = self.body.decode("utf-8", errors="replace").strip()
        return text[:BODY_EXCERPT] + ("…" if len(text) > BODY_EXCERPT else "")

    def unavailable(self, vendor: str, what: str) -> VendorUnavailableError:
        """Return the transient error for this reply (status, vendor's Retry-After)."""
        return VendorUnavailableError(
            vendor, f"HTTP {self.status} for {what}: {self.excerpt() or '(empty body)'}",
            retry_after=retry_after_seconds(self.header("Retry-After")), status=self.status)


async def http_get(
    session: aiohttp.ClientSession, url: str, *, vendor: str, what: str,
    params: Mapping[str, str], headers: Mapping[str, str], timeout: float,
) -> Reply:
    """GET `url` and read the whole body; timeouts and dropped connections are transient."""
    try:
        async with session.get(url, params=dict(params), headers=dict(headers),
                               timeout=aiohttp.ClientTimeout(total=timeout),
                               allow_redirects=False) as response:
            body = await response.read()
            return Reply(response.status, dict(response.headers), body)
    except TimeoutError:  # asyncio.TimeoutError is TimeoutError since 3.11
        raise VendorUnavailableError(
            vendor, f"no response for {what} within {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise VendorUnavailableError(
            vendor, f"connection failed for {what} ({type(exc).__name__})") from None

"""Keep credentials out of every URL, log line and error message an adapter produces.

Vendor keys travel as `SecretStr` until the edge where a request is built. Anything an adapter
logs or raises passes through a `Redactor` first: it masks credential-looking query parameters
in URLs (`apiKey`, `x_cg_demo_api_key`, `signature`, ...) and replaces the literal value of
every secret it was given, wherever that value appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

MASK = "***"

# Query parameters that carry credentials at some vendor (compared case-insensitively).
SECRET_PARAMS = frozenset({
    "apikey", "api_key", "key", "secret", "signature", "token_secret", "access_token",
    "x_cg_demo_api_key", "x_cg_pro_api_key",
})
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_NAMES = "|".join(sorted(SECRET_PARAMS, key=len, reverse=True))
_PARAM = re.compile(rf"(?<![A-Za-z0-9_])(?P<name>{_NAMES})=(?P<value>[^&\s'\"]+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return `url` with the value of every credential query parameter replaced by ***."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    masked = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(masked, safe="*")))


class Redactor:
    """Scrub known secret values and credential query parameters from text."""

    def __init__(self, secrets: Iterable[SecretStr | str | None] = ()) -> None:
        values = {s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets}
        # Longest first, so a secret that contains another is replaced whole.
        self._values = sorted((v for v in values if v), key=len, reverse=True)

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} secrets)"

    def __call__(self, text: str) -> str:
        """Return `text` with secrets and credential parameters masked."""
        for value in self._values:
            text = text.replace(value, MASK)
        text = _URL.sub(lambda m: mask_url(m.group(0)), text)
        return _PARAM.sub(lambda m: f"{m.group('name')}={MASK}", text)

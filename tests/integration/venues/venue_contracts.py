"""What the fake-venue tests share: the vendors' OpenAPI documents (a response validator per
operation, $refs resolved), a fixed clock, and a synchronous HTTP getter."""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, validate

from raytrade.core.clock import FakeClock

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2024, 3, 14, 0, 2, 30, tzinfo=UTC)  # a Thursday, just after midnight UTC
MASSIVE_AGGS = "/v2/aggs/ticker/{stocksTicker}/range/{multiplier}/{timespan}/{from}/{to}"
GT_OHLCV = "/networks/{network}/pools/{pool_address}/ohlcv/{timeframe}"


def clock(now: datetime = NOW) -> FakeClock:
    return FakeClock(now)


def specs_dir() -> Path:
    """Return the vendor OpenAPI folder: $RAYTRADE_VENDOR_SPECS, else the copy kept with the
    tests (tests/vendor-specs, the vendors' published documents as of 2026-11)."""
    found = Path(os.environ.get("RAYTRADE_VENDOR_SPECS", ROOT / "tests" / "vendor-specs"))
    assert found.is_dir(), f"vendor OpenAPI documents not found at {found}"
    return found


@functools.cache
def _document(name: str) -> dict[str, Any]:
    path = specs_dir() / name
    if path.suffix == ".json":
        loaded: dict[str, Any] = json.loads(path.read_text())
    else:
        loaded = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    return loaded


def response_schema(document: str, path: str, status: str = "200") -> dict[str, Any]:
    """Return the JSON response schema of GET `path`, with the document's components beside it
    so that every local $ref (#/components/...) resolves against it."""
    doc = _document(document)
    content = doc["paths"][path]["get"]["responses"][status]["content"]["application/json"]
    return {**content["schema"], "components": doc["components"]}


def assert_valid(instance: Any, schema: dict[str, Any]) -> None:
    """Raise if `instance` breaks the OpenAPI 3.0 schema (jsonschema error, with its path)."""
    validate(instance, schema, cls=OAS30Validator)


def massive_schema() -> dict[str, Any]:
    return response_schema("massive_rest_openapi.json", MASSIVE_AGGS)


def coingecko_schema(path: str) -> dict[str, Any]:
    return response_schema("coingecko_public_openapi.yml", path)


def geckoterminal_schema() -> dict[str, Any]:
    return response_schema("geckoterminal_onchain_openapi.yml", GT_OHLCV)

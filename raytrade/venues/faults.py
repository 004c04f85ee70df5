"""Seeded fault injection for the fake venues: what can go wrong, how often, and what did.

A `FaultPlan` says, per endpoint and per kind, the probability that a request gets a fault; at
most one fault is drawn per request, from a generator seeded by (plan seed, endpoint, the
request's index on that endpoint), so a sequential client sees the same faults on every run.
Outage windows are not drawn per request: bars inside them are missing from every response and
from the venue's ground truth. Everything injected lands in a `FaultLog` the test reads.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raytrade.core.types import Timeframe


class FaultKind(StrEnum):
    """One way a venue misbehaves. The first eleven are drawn per request at a rate."""

    RATE_LIMIT = "rate_limit"  # 429 with Retry-After and the vendor's body
    BAN = "ban"  # 418 with Retry-After (Binance's IP ban)
    SERVER_ERROR = "server_error"  # 500, 502 or 503
    SLOW = "slow"  # the normal response after `slow_s`
    TIMEOUT = "timeout"  # the normal response after `timeout_s`, longer than a client waits
    TRUNCATED_JSON = "truncated_json"  # 200 with the body cut short
    INVALID_JSON = "invalid_json"  # 200 with an HTML page where JSON should be
    DUPLICATE_ROWS = "duplicate_rows"  # some bars appear twice
    OUT_OF_ORDER = "out_of_order"  # some neighbouring bars swapped
    EXTRA_FIELD = "extra_field"  # an unexpected field in the body and its rows
    REVISED_BAR = "revised_bar"  # newest closed bar served with a provisional close, once
    OUTAGE = "outage"  # bars withheld because they fall in a planned outage window
    LIMIT = "limit"  # not injected: the venue's own rate limit or weight limit was exceeded


RATE_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)[:11]
ERROR_KINDS = frozenset({FaultKind.RATE_LIMIT, FaultKind.BAN, FaultKind.SERVER_ERROR})
DELAY_KINDS = frozenset({FaultKind.SLOW, FaultKind.TIMEOUT})
BODY_KINDS = frozenset({FaultKind.TRUNCATED_JSON, FaultKind.INVALID_JSON})
ROW_KINDS = frozenset({FaultKind.DUPLICATE_ROWS, FaultKind.OUT_OF_ORDER, FaultKind.EXTRA_FIELD,
                       FaultKind.REVISED_BAR})
SERVER_ERROR_STATUSES = (500, 502, 503)

Window = tuple[datetime, datetime]
Detail = Mapping[str, str | int | float]


class FaultPlan(BaseModel):
    """What to inject, how often, and where bars are missing. The default injects nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    seed: int = Field(default=0, ge=0)
    """Seed of every draw; with the request order it fixes which request gets which fault."""
    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of requests that get one fault, the kind drawn evenly from `kinds` that apply."""
    kinds: frozenset[FaultKind] = frozenset(RATE_KINDS)
    """Kinds that `rate` spreads over (a kind a venue or endpoint cannot show is skipped)."""
    rates: dict[FaultKind, float] = Field(default_factory=dict)
    """Probability per kind; when given it replaces `rate` and `kinds`."""
    endpoints: dict[str, dict[FaultKind, float]] = Field(default_factory=dict)
    """Probability per kind for one endpoint (by name, e.g. `klines`); replaces the above there."""
    outages: dict[str, list[Window]] = Field(default_factory=dict)
    """Canonical symbol -> [start, end) windows whose bars the venue never serves."""
    retry_after_s: int = Field(default=1, ge=0)
    """Retry-After (seconds) sent with injected 429 and 418 responses."""
    slow_s: float = Field(default=0.5, ge=0.0)
    """Delay of a `slow` response: slower than usual, within any sane client timeout."""
    timeout_s: float = Field(default=30.0, ge=0.0)
    """Delay of a `timeout` response: set it longer than the client's timeout."""
    revise_by: float = Field(default=0.01, gt=0.0, lt=0.5)
    """Largest relative change of the provisional close of a revised bar."""

    @field_validator("kinds")
    @classmethod
    def _kinds_are_drawable(cls, kinds: frozenset[FaultKind]) -> frozenset[FaultKind]:
        _check_drawable(kinds)
        return kinds

    @field_validator("rates")
    @classmethod
    def _rates_are_probabilities(cls, rates: dict[FaultKind, float]) -> dict[FaultKind, float]:
        return _check_table(rates, "rates")

    @field_validator("endpoints")
    @classmethod
    def _endpoint_rates(cls, tables: dict[str, dict[FaultKind, float]]
                        ) -> dict[str, dict[FaultKind, float]]:
        return {name: _check_table(table, f"endpoints[{name}]") for name, table in tables.items()}

    @field_validator("outages")
    @classmethod
    def _windows_are_utc_intervals(cls, outages: dict[str, list[Window]]
                                   ) -> dict[str, list[Window]]:
        out: dict[str, list[Window]] = {}
        for symbol, windows in outages.items():
            fixed = []
            for start, end in windows:
                if start.tzinfo is None or end.tzinfo is None:
                    raise ValueError(f"outage window of {symbol} is naive; use UTC datetimes")
                if end <= start:
                    raise ValueError(f"outage window of {symbol} ends before it starts")
                fixed.append((start.astimezone(UTC), end.astimezone(UTC)))
            out[symbol] = sorted(fixed)
        return out

    @model_validator(mode="after")
    def _rate_tables_exclusive(self) -> FaultPlan:
        if self.rates and self.rate:
            raise ValueError("give either `rate` (spread over `kinds`) or `rates`, not both")
        return self

    def table(self, endpoint: str, applicable: frozenset[FaultKind]
              ) -> tuple[tuple[FaultKind, float], ...]:
        """Return (kind, probability) pairs for one request on `endpoint`, in a fixed order."""
        if endpoint in self.endpoints:
            chosen = self.endpoints[endpoint]
        elif self.rates:
            chosen = self.rates
        else:
            usable = [k for k in RATE_KINDS if k in self.kinds and k in applicable]
            chosen = {k: self.rate / len(usable) for k in usable} if usable else {}
        return tuple((k, chosen[k]) for k in RATE_KINDS if k in applicable and chosen.get(k))

    def draw(self, endpoint: str, index: int, applicable: frozenset[FaultKind]
             ) -> tuple[FaultKind | None, random.Random]:
        """Return the fault for the `index`-th request on `endpoint` (or None) and the
        generator that decides its details (which rows, which status)."""
        rng = random.Random(f"{self.seed}/{endpoint}/{index}")
        u, edge = rng.random(), 0.0
        for kind, p in self.table(endpoint, applicable):
            edge += p
            if u < edge:
                return kind, rng
        return None, rng

    def windows(self, symbol: str) -> list[Window]:
        return self.outages.get(symbol, [])


def _check_drawable(kinds: frozenset[FaultKind] | Mapping[FaultKind, float]) -> None:
    bad = sorted(k.value for k in kinds if k not in RATE_KINDS)
    if bad:
        raise ValueError(f"{bad} are not drawn per request (outages are windows, limits are "
                         "the venue's own)")


def _check_table(table: dict[FaultKind, float], name: str) -> dict[FaultKind, float]:
    _check_drawable(table)
    if any(not 0.0 <= p <= 1.0 for p in table.values()):
        raise ValueError(f"{name}: every probability must be within [0, 1]")
    if sum(table.values()) > 1.0 + 1e-9:
        raise ValueError(f"{name}: probabilities add up to {sum(table.values()):.3f}; at most "
                         "one fault is drawn per request, so they must add up to <= 1")
    return table


def outage_windows(symbols: Sequence[str], start: datetime, end: datetime, *, seed: int,
                   per_symbol: int = 2, timeframe: Timeframe = Timeframe.M1,
                   max_bars: int = 30) -> dict[str, list[Window]]:
    """Return `per_symbol` disjoint outage windows per symbol in [start, end), aligned to
    `timeframe` and 2..`max_bars` bars long, deterministic for `seed` (for `FaultPlan.outages`)."""
    step = timeframe.duration
    slots = int((end - start) / step)
    out: dict[str, list[Window]] = {}
    for symbol in symbols:
        rng = random.Random(f"outages/{seed}/{symbol}")
        windows: list[Window] = []
        for part in range(per_symbol):  # one window per equal share of the range: disjoint
            lo, hi = slots * part // per_symbol, slots * (part + 1) // per_symbol
            length = rng.randint(2, max(2, min(max_bars, hi - lo - 1)))
            first = rng.randint(lo, max(lo, hi - length))
            windows.append((start + first * step, start + (first + length) * step))
        out[symbol] = windows
    return out


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault (or withheld outage, or exceeded limit) on one request."""

    seq: int  # the venue's request number (0, 1, ...): which request
    endpoint: str
    kind: FaultKind
    at: datetime  # the venue clock's time when the request arrived: when
    path: str  # path and query, credentials redacted
    status: int  # HTTP status served (200 for body and row faults)
    symbol: str | None = None  # canonical symbol, where the request names one
    detail: Detail = field(default_factory=dict)  # what exactly, per kind


@dataclass(frozen=True)
class RequestRecord:
    """One request as the venue answered it (status -1: the client left before the answer)."""

    seq: int
    endpoint: str
    method: str
    path: str
    status: int
    at: datetime
    faults: tuple[FaultKind, ...] = ()


class FaultLog:
    """Thread-safe record of requests and faults; the server writes, tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[FaultRecord] = []
        self._requests: list[RequestRecord] = []
        self._per_endpoint: Counter[str] = Counter()
        self._seq = 0

    def next_request(self, endpoint: str) -> tuple[int, int]:
        """Return (venue-wide request number, index of this request on `endpoint`)."""
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
            index = self._per_endpoint[endpoint]
            self._per_endpoint[endpoint] += 1
            return seq, index

    def add_fault(self, record: FaultRecord) -> None:
        with self._lock:
            self._faults.append(record)

    def add_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def faults(self, kind: FaultKind | None = None, endpoint: str | None = None
               ) -> list[FaultRecord]:
        """Return recorded faults in the order they happened, optionally of one kind/endpoint."""
        with self._lock:
            found = list(self._faults)
        return [f for f in found if (kind is None or f.kind is kind)
                and (endpoint is None or f.endpoint == endpoint)]

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        with self._lock:
            found = list(self._requests)
        return [r for r in found if endpoint is None or r.endpoint == endpoint]

    def counts(self) -> dict[FaultKind, int]:
        """Return how many faults of each kind were recorded."""
        return dict(Counter(f.kind for f in self.faults()))


@dataclass
class Rows:
    """Where a reply's bar rows are and how to change one, for row-level faults."""

    items: list[Any]  # the very list inside the reply body; faults change it in place
    ts_ms: Callable[[Any], int]  # open time of a row, Unix ms
    revise: Callable[[Any, float], Any]  # the row with its close times a factor (high/low kept)
    extra: Callable[[], str]  # add an unexpected field to the body or rows; return its name
    bar_ms: int
    now_ms: int  # rows with ts + bar_ms <= now_ms are closed bars


def change_rows(kind: FaultKind, rows: Rows, rng: random.Random, revise_by: float
                 ) -> Detail | None:
    """Apply one row fault in place; return its detail, or None when it cannot apply."""
    items = rows.items
    if kind is FaultKind.EXTRA_FIELD:
        return {"field": rows.extra()}
    if kind is FaultKind.DUPLICATE_ROWS and items:
        picks = sorted(rng.sample(range(len(items)), max(1, len(items) // 50)), reverse=True)
        for i in picks:
            items.insert(i + 1, items[i])
        return {"count": len(picks), "ts_ms": _joined(rows.ts_ms(items[i]) for i in picks)}
    if kind is FaultKind.OUT_OF_ORDER and len(items) >= 2:
        pairs = range(0, len(items) - 1, 2)
        picks = sorted(rng.sample(pairs, min(len(pairs), max(1, len(items) // 50))))
        for i in picks:
            items[i], items[i + 1] = items[i + 1], items[i]
        return {"count": len(picks), "ts_ms": _joined(rows.ts_ms(items[i]) for i in picks)}
    if kind is FaultKind.REVISED_BAR:
        closed = [i for i, row in enumerate(items) if rows.ts_ms(row) + rows.bar_ms <= rows.now_ms]
        if not closed:
            return None
        i = max(closed, key=lambda j: rows.ts_ms(items[j]))
        factor = 1.0 + rng.choice((-1.0, 1.0)) * rng.uniform(revise_by / 10, revise_by)
        items[i] = rows.revise(items[i], factor)
        return {"ts_ms": rows.ts_ms(items[i]), "factor": factor}
    return None


def _joined(values: Iterable[int]) -> str:
    return ",".join(str(v) for v in values)


def window_detail(window: Window, withheld: int) -> dict[str, str | int | float]:
    return {"start": window[0].isoformat(), "end": window[1].isoformat(), "withheld": withheld}


__all__ = ["BODY_KINDS", "DELAY_KINDS", "ERROR_KINDS", "RATE_KINDS", "ROW_KINDS",
           "SERVER_ERROR_STATUSES", "FaultKind", "FaultLog", "FaultPlan", "FaultRecord",
           "RequestRecord", "Rows", "Window", "change_rows", "outage_windows", "window_detail"]

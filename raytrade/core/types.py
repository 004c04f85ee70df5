"""Small value types every layer speaks: timeframes, asset classes, sides, verdicts."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum


class Timeframe(StrEnum):
    """A bar length. Values are the spellings used in files and partitions."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def minutes(self) -> int:
        return _MINUTES[self]

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    @property
    def polars_every(self) -> str:
        """Return the polars duration string (polars spells minutes `m`, months `mo`)."""
        return f"{self.minutes}m" if self.minutes < 60 else f"{self.minutes // 60}h"


_MINUTES: dict[Timeframe, int] = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.H1: 60,
    Timeframe.H4: 240,
    Timeframe.D1: 1440,
}


class AssetClass(StrEnum):
    """What calendar and annualisation a symbol follows."""

    EQUITY = "equity"  # US equities and indices: NYSE sessions, 252 a year of 6.5 hours
    CRYPTO = "crypto"  # 24/7, 365 days a year


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Verdict(StrEnum):
    """The outcome of one gate check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SessionStatus(StrEnum):
    """Where a paper session stands: trading, halted by a limit or a person, or stopped."""

    RUNNING = "running"
    HALTED = "halted"  # sends no orders until resumed; the store keeps the reason
    STOPPED = "stopped"


EQUITY_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
CRYPTO_SYMBOL = re.compile(r"^[A-Z0-9]{2,12}-[A-Z]{3,5}$")
SYMBOL_HINT = "a canonical symbol: an upper-case ticker such as AAPL, or BASE-QUOTE such as BTC-USD"


def is_canonical_symbol(symbol: str) -> bool:
    return bool(EQUITY_SYMBOL.match(symbol) or CRYPTO_SYMBOL.match(symbol))


def asset_class_of(symbol: str) -> AssetClass:
    """Return the asset class of a canonical symbol: BASE-QUOTE pairs are crypto."""
    if CRYPTO_SYMBOL.match(symbol):
        return AssetClass.CRYPTO
    if EQUITY_SYMBOL.match(symbol):
        return AssetClass.EQUITY
    raise ValueError(f"{symbol!r} is not {SYMBOL_HINT}")


EQUITY_SESSIONS_PER_YEAR = 252
EQUITY_SESSION_MINUTES = 390  # 09:30-16:00 New York
CRYPTO_MINUTES_PER_YEAR = 365 * 24 * 60


def periods_per_year(timeframe: Timeframe, asset_class: AssetClass) -> float:
    """Return how many bars of this timeframe a year holds, for annualising Sharpe and CAGR."""
    if asset_class is AssetClass.CRYPTO:
        return CRYPTO_MINUTES_PER_YEAR / timeframe.minutes
    if timeframe is Timeframe.D1:
        return float(EQUITY_SESSIONS_PER_YEAR)
    return EQUITY_SESSIONS_PER_YEAR * EQUITY_SESSION_MINUTES / timeframe.minutes

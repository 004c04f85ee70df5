"""Collector files: which partitions to keep filled, from which vendor, with which fallbacks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from pydantic import Field, HttpUrl

from raytrade.config.base import FrozenModel
from raytrade.config.experiment import NAME_PATTERN, SOURCE_PATTERN, Symbol
from raytrade.core.types import Timeframe

Source = Annotated[str, Field(pattern=SOURCE_PATTERN)]


class PoolRef(FrozenModel):
    """One GeckoTerminal pool that prices a canonical symbol."""

    network: str = Field(min_length=1, description="GeckoTerminal network id, e.g. eth, solana.")
    address: str = Field(min_length=1, description="Pool contract address.")
    token: str = Field("base", description="Side priced: base, quote or a token address.")
    currency: Literal["usd", "token"] = Field(
        "usd", description="usd: prices and volume in USD; token: in the pool's other token.")


class FallbackSpec(FrozenModel):
    """A source that gap filling may backfill from; `base_url` points it elsewhere (a fake)."""

    source: Source
    base_url: HttpUrl | None = None
    pools: dict[Symbol, PoolRef] = Field(default_factory=dict,
                                         description="GeckoTerminal: the pool per symbol.")


class CollectConfig(FrozenModel):
    """One collector per symbol: (source, symbol, timeframe) is a lake partition it owns."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    source: Source
    base_url: HttpUrl | None = Field(None, description="The vendor's API root (default: its "
                                     "public host); a fake venue's address in a sandbox.")
    symbols: tuple[Symbol, ...] = Field(min_length=1)
    timeframe: Timeframe
    start: date = Field(description="Where a new partition starts (UTC day); a collector that "
                        "has a watermark resumes from it instead.")
    fallbacks: tuple[FallbackSpec, ...] = ()
    settle_seconds: float = Field(5.0, ge=0.0, le=600.0,
                                  description="Wait after a bar closes before asking for it.")
    max_window_bars: int = Field(5000, ge=1, le=1_000_000,
                                 description="At most this many bars per request window.")

    def start_time(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=UTC)

"""The ground truth every fake venue serves slices of: simulator bars per market, cached.

One market is one order book (or pool, or coin index) a venue serves. Its prices come from the
seeded simulator (`data.sample`) under a *price symbol*: the canonical symbol, except that crypto
quoted in a dollar stablecoin is priced as BASE-USD. So Binance BTCUSDT, Binance.US BTCUSD, the
CoinGecko `bitcoin` index and a BTC/USDC pool all move together, bar for bar, as venues of one
asset roughly do; their volumes differ by a per-venue scale, since USD and USDT books (and DEX
pools) are different markets whose volumes must never be spliced. The simulator's own missing
bars (its `missing_rate` and outages) are gaps in the truth: minutes without trades.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from raytrade.core.types import AssetClass, Timeframe, asset_class_of
from raytrade.data.sample import SimulatorSpec, simulate_bars
from raytrade.data.schema import BAR_SCHEMA, empty_bars
from raytrade.venues.faults import Window

DOLLAR_QUOTES = frozenset({"USD", "USDT", "USDC", "FDUSD", "BUSD", "DAI"})
_CACHE_CHUNKS = 96
_YEAR_CHUNKS = frozenset({Timeframe.H4, Timeframe.D1})  # as the simulator chunks them
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Market:
    """One book a venue serves: its canonical symbol, the vendor's id, and how it is priced."""

    symbol: str  # canonical symbol of this book: the `symbol` of its truth bars
    vendor_id: str  # what the vendor calls it: AAPL, BTCUSDT, bitcoin, a pool address
    volume_scale: float = 1.0  # this venue's share of the simulated volume

    @property
    def price_symbol(self) -> str:
        return price_symbol_of(self.symbol)

    @property
    def asset_class(self) -> AssetClass:
        return asset_class_of(self.symbol)


def price_symbol_of(symbol: str) -> str:
    """Return the simulator symbol that prices `symbol` (dollar stablecoins price as USD)."""
    if asset_class_of(symbol) is AssetClass.CRYPTO:
        base, quote = symbol.split("-")
        if quote in DOLLAR_QUOTES:
            return f"{base}-USD"
    return symbol


def split_pair(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("-")
    return base, quote


def stable_key(*parts: object) -> int:
    """Return a 64-bit key that is the same in every process (never `hash()`)."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def uniform(values: np.ndarray, *key: object) -> np.ndarray:
    """Return a uniform [0, 1) number per integer in `values`, fixed for `key` (splitmix64)."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) + np.uint64(stable_key(*key))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


def to_ms(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def floor_time(moment: datetime, step: timedelta) -> datetime:
    """Return the start of the epoch-aligned `step` interval that holds `moment`."""
    return EPOCH + (moment - EPOCH) // step * step


class BarBook:
    """Simulator bars of a venue's markets, cached per simulator chunk, outages removed.

    `bars` is what the venue serves and what its truth is made of; `withheld` counts what the
    outage windows took away, for the fault log.
    """

    def __init__(self, spec: SimulatorSpec, outages: dict[str, list[Window]]) -> None:
        self.spec = spec
        self._outages = outages
        self._cache: OrderedDict[tuple[str, Timeframe, datetime], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def bars(self, market: Market, timeframe: Timeframe, start: datetime, end: datetime,
             *, keep_withheld: bool = False) -> pl.DataFrame:
        """Return the market's bars with open times in [start, end), ascending, canonical
        schema (vendor `sample`), volume scaled; bars in outage windows removed unless asked."""
        if end <= start:
            return empty_bars()
        frames = [self._chunk(market.price_symbol, timeframe, lo)
                  for lo in _chunk_starts(timeframe, start, end)]
        bars = pl.concat(frames).filter(pl.col("ts").is_between(start, end, closed="left"))
        bars = bars.with_columns(symbol=pl.lit(market.symbol),
                                 volume=pl.col("volume") * market.volume_scale)
        if not keep_withheld:
            for lo, hi in self._outages.get(market.symbol, []):
                bars = bars.filter(~pl.col("ts").is_between(lo, hi, closed="left"))
        return bars

    def withheld(self, market: Market, timeframe: Timeframe, start: datetime, end: datetime
                 ) -> list[tuple[Window, int]]:
        """Return each outage window overlapping [start, end) with the bars it withheld there."""
        found = []
        for lo, hi in self._outages.get(market.symbol, []):
            a, b = max(lo, start), min(hi, end)
            if a < b:
                found.append(((lo, hi), self.bars(market, timeframe, a, b,
                                                  keep_withheld=True).height))
        return found

    def windows(self, symbol: str) -> Sequence[Window]:
        return self._outages.get(symbol, [])

    def _chunk(self, price_symbol: str, timeframe: Timeframe, lo: datetime) -> pl.DataFrame:
        key = (price_symbol, timeframe, lo)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        frame = simulate_bars(price_symbol, timeframe, lo, _next_chunk(timeframe, lo), self.spec)
        with self._lock:
            self._cache[key] = frame
            while len(self._cache) > _CACHE_CHUNKS:
                self._cache.popitem(last=False)
        return frame


def _chunk_starts(timeframe: Timeframe, start: datetime, end: datetime) -> list[datetime]:
    first = datetime(start.year, 1 if timeframe in _YEAR_CHUNKS else start.month, 1, tzinfo=UTC)
    starts = []
    while first < end:
        starts.append(first)
        first = _next_chunk(timeframe, first)
    return starts


def _next_chunk(timeframe: Timeframe, lo: datetime) -> datetime:
    if timeframe in _YEAR_CHUNKS:
        return lo.replace(year=lo.year + 1)
    return lo.replace(year=lo.year + lo.month // 12, month=lo.month % 12 + 1)


def canonical(bars: pl.DataFrame, *, vendor: str) -> pl.DataFrame:
    """Return `bars` on the canonical schema, `vendor` set, `backfilled` false, and volume,
    vwap and trades null where the vendor has none."""
    absent = [pl.lit(None).alias(c) for c in ("volume", "vwap", "trades") if c not in bars.columns]
    return bars.with_columns(*absent, vendor=pl.lit(vendor), backfilled=pl.lit(False)).select(
        pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items())


def round_to(column: str, decimals: int) -> pl.Expr:
    """Round like a vendor that prints `decimals` places: k / 10**decimals, the nearest double
    to the printed decimal, so printing and parsing give the same float back."""
    scale = 10.0**decimals

    def exact(values: pl.Series) -> pl.Series:  # numpy divides exactly; polars may not
        return pl.Series(np.rint(values.to_numpy() * scale) / scale)

    return pl.col(column).map_batches(exact, return_dtype=pl.Float64).alias(column)


__all__ = ["DOLLAR_QUOTES", "EPOCH", "BarBook", "Market", "canonical", "floor_time", "from_ms",
           "price_symbol_of", "round_to", "split_pair", "stable_key", "to_ms", "uniform"]

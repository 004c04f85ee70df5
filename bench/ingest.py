"""Benchmark ingestion: vendor payload -> normalised canonical bars -> the Parquet lake.

    python bench/ingest.py [--symbols 10] [--days 91] [--repeat 3]

The payload is what python-binance's `get_klines` returns for Binance spot 1m klines (decoded
JSON: 12-element arrays, open and close time in ms, prices and volumes as 8-decimal strings),
in pages of 1000, for `--symbols` USDT pairs over `--days` days from 2024-01-01 (10 x 91 days
is about 1.3 M bars across 3 months, 30 month files). Each symbol's pages go through the
adapter's pure functions exactly as `BinanceSource.fetch_bars` calls them (`parse_klines` per
page, `klines_to_raw`, `finalize_bars`), and all symbols through one `Lake.upsert`:

- fresh: into an empty lake (every bar added);
- re-upsert: the same payload normalised and upserted again (the idempotent path: every bar
  compared with the stored one, nothing rewritten).

Each path is shown split into normalising and `Lake.upsert` (validation, month grouping, the
merge, the atomic zstd write with fsync), so a miss says where the time goes. Before timing,
the lake is checked to read back exactly the normalised bars.

The baseline, measured in the same run, is `pyarrow.parquet.write_table` of the same final
table to one temporary file with the lake's codec (zstd), no fsync: the raw cost of putting
these bars on disk. Target: the fresh path at least 50% of that raw write speed. Timings are
medians of `--repeat` runs, each on a fresh temporary lake, after one untimed warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from raytrade.core.types import Timeframe
from raytrade.data.lake import Lake, PartitionKey
from raytrade.sources.base import finalize_bars
from raytrade.sources.binance import MAX_LIMIT, klines_to_raw, parse_klines

TARGET = 0.5  # of the raw Parquet write speed
SOURCE = "binance"
TIMEFRAME = Timeframe.M1
START = datetime(2024, 1, 1, tzinfo=UTC)
BASES = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC", "TRX",
         "ATOM", "NEAR", "UNI", "XLM")
STEP_MS = 60_000

Page = list[list[object]]


def kline_pages(symbol_index: int, start: datetime, end: datetime, seed: int) -> list[Page]:
    """Return one symbol's 1m klines in [start, end) as python-binance returns them, paged."""
    rng = np.random.default_rng([seed, symbol_index])
    first = int(start.timestamp() * 1000)
    n = int((end - start).total_seconds()) // 60
    opens = first + STEP_MS * np.arange(n, dtype=np.int64)
    close = 100.0 * (symbol_index + 1) * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 5e-4, (2, n))) * close
    high, low = np.maximum(open_, close) + wick[0], np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 5.0, n) * (rng.random(n) > 0.02)  # some minutes without trades
    quote = volume * (high + low) / 2.0
    trades = rng.poisson(40, n) * (volume > 0)
    taker = volume * 0.5
    columns = [[f"{v:.8f}" for v in values] for values in (open_, high, low, close, volume)]
    quote_s, taker_s = [f"{v:.8f}" for v in quote], [f"{v:.8f}" for v in taker]
    taker_quote = [f"{v:.8f}" for v in taker * close]
    rows: Page = [
        [int(t), o, h, lo, c, v, int(t) + STEP_MS - 1, q, int(k), tb, tq, "0"]
        for t, o, h, lo, c, v, q, k, tb, tq in zip(
            opens, *columns, quote_s, trades, taker_s, taker_quote, strict=True)]
    return [rows[i:i + MAX_LIMIT] for i in range(0, len(rows), MAX_LIMIT)]


def normalise(payload: dict[str, list[Page]], end: datetime) -> pl.DataFrame:
    """Return canonical bars of every symbol, built as `BinanceSource.fetch_bars` builds them."""
    now = end + timedelta(hours=1)  # every kline has closed
    now_ms = int(now.timestamp() * 1000)
    frames = []
    for symbol, pages in payload.items():
        rows: Page = []
        for page in pages:
            rows.extend(parse_klines(page))
        raw = klines_to_raw(rows, now_ms)
        frames.append(finalize_bars(raw, symbol=symbol, vendor=SOURCE, timeframe=TIMEFRAME,
                                    start=START, end=end, now=now))
    return pl.concat(frames)


def ingest(payload: dict[str, list[Page]], end: datetime, lake: Lake
           ) -> tuple[float, float, int]:
    """Normalise and upsert; return the seconds each took and the bars added."""
    began = time.perf_counter()
    bars = normalise(payload, end)
    normalised = time.perf_counter()
    report = lake.upsert(bars, source=SOURCE, timeframe=TIMEFRAME, origin="bench")
    return normalised - began, time.perf_counter() - normalised, report.added


def raw_write(bars: pl.DataFrame, directory: Path) -> float:
    """Return the seconds `pyarrow.parquet.write_table` takes for the same table."""
    table = bars.to_arrow()
    began = time.perf_counter()
    pq.write_table(table, directory / "raw.parquet", compression="zstd")
    return time.perf_counter() - began


def check_lake(bars: pl.DataFrame, directory: Path) -> None:
    """Fail unless the lake reads back exactly the normalised bars, after an idempotent rerun."""
    lake = Lake(directory)
    for _ in range(2):
        lake.upsert(bars, source=SOURCE, timeframe=TIMEFRAME, origin="bench")
    for symbol in bars["symbol"].unique(maintain_order=True):
        stored = lake.scan(PartitionKey(SOURCE, TIMEFRAME, symbol)).collect()
        if not stored.equals(bars.filter(pl.col("symbol") == symbol)):
            raise SystemExit(f"the lake does not read back the bars of {symbol} as written")


def median_of(repeat: int, measure: Callable[[Path], tuple[float, ...]]) -> tuple[float, ...]:
    """Run `measure` once untimed, then `repeat` times, each in a fresh temporary folder."""
    runs = []
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory(prefix="rt_ingest_") as tmp:
            timings = measure(Path(tmp))
        if i:
            runs.append(timings)
    return tuple(statistics.median(column) for column in zip(*runs, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.symbols <= len(BASES):
        parser.error(f"--symbols must be 1..{len(BASES)}")
    end = START + timedelta(days=args.days)
    made = time.perf_counter()
    payload = {f"{base}-USDT": kline_pages(i, START, end, args.seed)
               for i, base in enumerate(BASES[:args.symbols])}
    bars = normalise(payload, end)
    n = bars.height
    print(f"{n:,} 1m bars of {args.symbols} symbols over {args.days} days "
          f"({sum(len(p) for p in payload.values()):,} kline pages, built in "
          f"{time.perf_counter() - made:.1f} s); {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(prefix="rt_ingest_") as tmp:
        check_lake(bars, Path(tmp))

    def lake_runs(tmp: Path) -> tuple[float, ...]:
        lake = Lake(tmp / "lake")
        parse, fresh, added = ingest(payload, end, lake)
        parse_again, again, re_added = ingest(payload, end, lake)
        assert (added, re_added) == (n, 0), (added, re_added)
        return parse, fresh, parse + fresh, parse_again, again, parse_again + again

    (raw_s,) = median_of(args.repeat, lambda tmp: (raw_write(bars, tmp),))
    medians = median_of(args.repeat, lake_runs)
    print(f"medians of {args.repeat} runs, bars per second (seconds; share of the raw speed):")
    print(f"  {'raw pyarrow.parquet.write_table, zstd':<40} {_speed(n, raw_s, raw_s)}")
    for path, (parse_s, upsert_s, total_s) in (("fresh", medians[:3]), ("re-upsert", medians[3:])):
        print(f"  {path}:")
        print(f"    {'normalise (parse_klines .. finalize)':<38} {_speed(n, parse_s, raw_s)}")
        print(f"    {'Lake.upsert':<38} {_speed(n, upsert_s, raw_s)}")
        print(f"    {'normalise + Lake.upsert':<38} {_speed(n, total_s, raw_s)}")
    ratio = raw_s / medians[2]
    met = ratio >= TARGET
    print(f"target: normalise + Lake.upsert (fresh) >= {TARGET:.0%} of the raw write speed: "
          f"{'met' if met else 'MISSED'} ({ratio:.0%})")
    return 0 if met else 1


def _speed(bars: int, seconds: float, raw_seconds: float) -> str:
    return f"{bars / seconds:12,.0f} ({seconds:.3f} s; {raw_seconds / seconds:4.0%})"


if __name__ == "__main__":
    sys.exit(main())

"""Small hand-made canonical bars for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from raytrade.data.schema import conform

T0 = datetime(2024, 1, 31, 22, 0, tzinfo=UTC)


def make_bars(n: int, *, symbol: str = "BTC-USD", start: datetime = T0,
              step: timedelta = timedelta(minutes=5), price: float = 100.0) -> pl.DataFrame:
    ts = [start + i * step for i in range(n)]
    close = [price + i for i in range(n)]
    frame = pl.DataFrame({"ts": ts, "open": close, "high": [c + 1 for c in close],
                          "low": [c - 1 for c in close], "close": close,
                          "volume": [10.0] * n})
    return conform(frame, symbol=symbol, vendor="test")

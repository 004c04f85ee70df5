"""Benchmark the backtest and its metrics against vectorbt's Portfolio.from_signals.

Run: ``python bench/backtest.py [--bars 1000000] [--repeats 7]``. Both engines run in this
process on the same prices, signals, fees and slippage, alternating repetition by repetition
so that load from other processes hits both alike; medians are quoted. Numba compile (or cache
load) is excluded from the timings and reported on its own. Exits with status 1 when the two
equity curves disagree by more than 1e-6 in log.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from raytrade.core.types import AssetClass, Timeframe, periods_per_year
from raytrade.research.backtest import backtest
from raytrade.research.metrics import compute_metrics

FEE_BPS, SLIPPAGE_BPS = 10.0, 2.0
# vectorbt's default init_cash=100 stops trading once cash falls below its minimum order, and
# random signals pay their costs: equity ends near e^-150 after a million bars. Start rich.
INIT_CASH = 1e200
TOLERANCE = 1e-6  # largest allowed |log equity difference|
BoolArray = npt.NDArray[np.bool_]


def main() -> int:
    """Time both engines, print bars/s and the ratio, return 1 when results disagree."""
    args = _arguments()
    import vectorbt as vbt  # type: ignore[import-untyped]  # dev-only; --help works without

    close, signal = _market(args.bars, args.seed)
    per_year = periods_per_year(Timeframe.M5, AssetClass.CRYPTO)
    vbt_signals = _schedule(signal, args.holding_period)

    def ours() -> object:
        result = backtest(close, signal, holding_period=args.holding_period, fee_bps=FEE_BPS,
                          slippage_bps=SLIPPAGE_BPS, allow_short=True)
        return result, compute_metrics(result, per_year)

    def theirs() -> Any:
        return vbt.Portfolio.from_signals(close, *vbt_signals, init_cash=INIT_CASH,
                                          fees=FEE_BPS * 1e-4, slippage=SLIPPAGE_BPS * 1e-4)

    warm_ours = _seconds(ours)
    warm_theirs = _seconds(lambda: theirs().value())
    ours_s, theirs_s, value_s = [], [], []
    for _ in range(args.repeats):
        ours_s.append(_seconds(ours))
        theirs_s.append(_seconds(theirs))
        portfolio = theirs()
        value_s.append(_seconds(portfolio.value))
    result = backtest(close, signal, holding_period=args.holding_period, fee_bps=FEE_BPS,
                      slippage_bps=SLIPPAGE_BPS, allow_short=True)
    gap = float(np.max(np.abs(np.log(result.equity)
                              - np.log(np.asarray(theirs().value()) / INIT_CASH))))
    _report(args.bars, result.trades.height, warm_ours, warm_theirs, ours_s, theirs_s, value_s)
    agree = gap <= TOLERANCE
    print(f"results agree: {'yes' if agree else 'NO'} (max |log equity gap| {gap:.2e}, "
          f"tolerance {TOLERANCE:.0e})")
    return 0 if agree else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--holding-period", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _market(bars: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Return a random-walk close (1 % a bar) and a signal with 10 % longs and 10 % shorts."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
    signal = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=bars, p=[0.1, 0.8, 0.1])
    return close, signal


def _schedule(signal: npt.NDArray[np.int8], holding: int) -> tuple[BoolArray, ...]:
    """Return vectorbt's long/short entries and exits for fixed, non-overlapping holds.

    A same-side entry at an exit bar makes vectorbt ignore both (the position continues),
    matching the backtest, which pays no cost there. Plain Python: outside the timings.
    """
    n = signal.size
    long_entry, long_exit, short_entry, short_exit = (np.zeros(n, dtype=bool) for _ in range(4))
    side, exit_at = 0, -1
    for t, wanted in enumerate(signal.tolist()):
        if side != 0 and (t == exit_at or t == n - 1):
            (long_exit if side > 0 else short_exit)[t] = True
            side = 0
        if side == 0 and wanted != 0 and t < n - 1:
            (long_entry if wanted > 0 else short_entry)[t] = True
            side, exit_at = wanted, t + holding
    return long_entry, long_exit, short_entry, short_exit


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _report(bars: int, trades: int, warm_ours: float, warm_theirs: float,
            ours_s: list[float], theirs_s: list[float], value_s: list[float]) -> None:
    ours, theirs = statistics.median(ours_s), statistics.median(theirs_s)
    with_value = statistics.median(t + v for t, v in zip(theirs_s, value_s, strict=True))
    print(f"{bars:,} bars, {trades:,} trades, {len(ours_s)} repetitions (medians)")
    print(f"first call (numba compile, or load from its disk cache): raytrade {warm_ours:.2f} s, "
          f"vectorbt {warm_theirs:.2f} s")
    print(f"raytrade backtest + metrics : {ours * 1e3:8.1f} ms  {bars / ours / 1e6:7.1f} M bars/s")
    print(f"vectorbt from_signals       : {theirs * 1e3:8.1f} ms  "
          f"{bars / theirs / 1e6:7.1f} M bars/s  ratio {theirs / ours:5.1f}x")
    print(f"vectorbt from_signals+value : {with_value * 1e3:8.1f} ms  "
          f"{bars / with_value / 1e6:7.1f} M bars/s  ratio {with_value / ours:5.1f}x")


if __name__ == "__main__":
    sys.exit(main())

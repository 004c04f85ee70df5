"""Cross-check the backtest against vectorbt's Portfolio.from_signals (a dev-only dependency).

vectorbt gets the same prices, fees and slippage, and entries and exits scheduled here by an
independent plain-Python reading of the trade rules (fixed holding, no overlap, same-side
re-entry at the exit bar keeps the position, the open trade closes at the last bar). Its
default init_cash=100 stops trading once cash falls below its minimum order, so it gets a large
one; equity is compared after dividing by it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from raytrade.research.backtest import backtest

vbt = pytest.importorskip("vectorbt")

INIT_CASH = 1e10
Signals = tuple[npt.NDArray[np.bool_], ...]


def schedule(signal: npt.NDArray[np.int8], holding: int, allow_short: bool) -> Signals:
    """Return vectorbt's long entries, long exits, short entries and short exits."""
    n = signal.size
    flags = [np.zeros(n, dtype=bool) for _ in range(4)]
    long_entry, long_exit, short_entry, short_exit = flags
    side, exit_at = 0, -1
    for t in range(n):
        wanted = int(signal[t]) if allow_short or signal[t] > 0 else 0
        if side != 0 and (t == exit_at or t == n - 1):
            (long_exit if side > 0 else short_exit)[t] = True
            side = 0
        if side == 0 and wanted != 0 and t < n - 1:
            (long_entry if wanted > 0 else short_entry)[t] = True
            side, exit_at = wanted, t + holding
    return long_entry, long_exit, short_entry, short_exit


def random_case(seed: int, n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    signal = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=n, p=[0.1, 0.8, 0.1])
    return close, signal


@pytest.mark.parametrize("allow_short", [False, True])
@pytest.mark.parametrize(("seed", "holding"), [(1, 1), (2, 5), (3, 12), (4, 48)])
def test_log_equity_matches_vectorbt_from_signals(seed: int, holding: int,
                                                  allow_short: bool) -> None:
    close, signal = random_case(seed, 4000)
    fee_bps, slippage_bps = 10.0, 2.0
    ours = backtest(close, signal, holding_period=holding, fee_bps=fee_bps,
                    slippage_bps=slippage_bps, allow_short=allow_short)
    long_entry, long_exit, short_entry, short_exit = schedule(signal, holding, allow_short)
    portfolio = vbt.Portfolio.from_signals(
        close, long_entry, long_exit, short_entry, short_exit, init_cash=INIT_CASH,
        fees=fee_bps * 1e-4, slippage=slippage_bps * 1e-4)
    theirs = np.asarray(portfolio.value()) / INIT_CASH
    assert ours.trades.height > 50
    np.testing.assert_allclose(np.log(ours.equity), np.log(theirs), rtol=0, atol=1e-6)
    # Every order vectorbt placed is a bar where our position changed, and nowhere else.
    changed = np.flatnonzero(np.diff(ours.position, prepend=np.int8(0)))
    np.testing.assert_array_equal(np.sort(portfolio.orders.records["idx"]), changed)

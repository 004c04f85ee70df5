"""`raytrade sandbox`: the whole live loop on loopback, fast, with no keys and no network."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from raytrade.cli.context import engine_of, lake_of, settings_of
from raytrade.cli.output import print_table, stderr, stdout
from raytrade.config.examples import examples_dir
from raytrade.config.loader import load_experiment
from raytrade.core.clock import ScaledClock
from raytrade.live.report import session_report
from raytrade.live.sandbox import BarLine, Sandbox, session_name, start_instant
from raytrade.live.trader import load_for_session
from raytrade.runner import RunEnvironment, code_version, run_experiment
from raytrade.store.repository import list_models
from raytrade.store.session import Engine

QUICKSTART = "quickstart"


def sandbox(
    ctx: typer.Context,
    speed: Annotated[float, typer.Option(
        min=1.0, max=3600.0,
        help="How much faster than the wall clock sandbox time runs (60: a 5-minute bar "
             "closes every 5 seconds).")] = 60.0,
    bars: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many decided bars instead of waiting for Ctrl-C.")] = None,
) -> None:
    """Run a fake Binance.US, a collector and a paper session on the quick-start model, on a
    fast clock, printing every decided bar; Ctrl-C stops it all and prints the session's PnL."""
    engine = engine_of(ctx)
    run_id = quickstart_model(ctx, engine)
    clock = ScaledClock(start_instant(engine), speed)
    name = session_name(clock.start)
    box = Sandbox(engine=engine, lake=lake_of(ctx), settings=settings_of(ctx),
                  model=load_for_session(engine, run_id), run_id=run_id, clock=clock, name=name)
    stderr.print(f"sandbox: session {name} trades run {run_id} on simulated BTC-USD 5m bars "
                 f"from a fake Binance.US on 127.0.0.1, time x{speed:g}; Ctrl-C stops",
                 highlight=False)
    stdout.print(f"{'bar (UTC)':<16} {'close':>10} {'P(up)':>6} {'sig':>4} {'action':<20} "
                 f"{'fills':<28} {'equity':>10} {'PnL':>9}", highlight=False)
    try:
        asyncio.run(box.run(asyncio.Event(), show_bar, bars))
    except KeyboardInterrupt:
        stderr.print("stopped: venue, collector and session are down")
    print_summary(engine, name)


def quickstart_model(ctx: typer.Context, engine: Engine) -> int:
    """Return the newest promoted quick-start model's run, running the experiment if none."""
    promoted = [m for m in list_models(engine) if m.experiment == QUICKSTART]
    if promoted:
        return promoted[0].run_id
    stderr.print("no promoted quick-start model in the store: running experiments/"
                 "quickstart.yaml first (a few seconds)")
    settings = settings_of(ctx)
    env = RunEnvironment(engine=engine, lake=lake_of(ctx), runs_dir=settings.runs_path,
                         models_dir=settings.models_path, code_version=code_version())
    result = run_experiment(load_experiment(examples_dir() / "quickstart.yaml"), env)
    if not result.decision.passed:
        raise typer.Exit(_failed(result.run_id))
    stderr.print(f"run {result.run_id} passed the gate and was promoted")
    return result.run_id


def _failed(run_id: int) -> int:
    stderr.print(f"run {run_id} did not pass the gate; `raytrade runs show {run_id}` says why")
    return 1


def show_bar(line: BarLine) -> None:
    d = line.decision
    fills = ", ".join(f"{f.side} {f.qty:.5g}@{f.price:.2f}" for f in line.fills) or "-"
    stdout.print(f"{d.bar_time:%Y-%m-%d %H:%M} {_num(line.close, 10, 2)} "
                 f"{d.output[-1]:>6.3f} {d.signal:>+4d} {d.action:<20} {fills:<28} "
                 f"{_num(line.equity, 10, 2)} {_num(line.pnl, 9, 2, sign=True)}",
                 highlight=False)


def _num(value: float | None, width: int, digits: int, *, sign: bool = False) -> str:
    if value is None:
        return "-".rjust(width)
    return f"{value:>+{width}.{digits}f}" if sign else f"{value:>{width}.{digits}f}"


def print_summary(engine: Engine, name: str) -> None:
    r = session_report(engine, name)
    rows = [("status", r.status), ("decisions", r.decisions), ("orders", r.orders),
            ("trades", r.trades), ("capital", f"{r.capital:.2f}"),
            ("equity", "-" if r.equity is None else f"{r.equity:.2f}"),
            ("PnL", "-" if r.pnl is None else f"{r.pnl:+.2f}"),
            ("return", "-" if r.total_return is None else f"{r.total_return:+.3%}"),
            ("Sharpe (live)", "-" if r.sharpe is None else f"{r.sharpe:.2f}"),
            ("Sharpe (backtest)", "-" if r.expected.sharpe is None
             else f"{r.expected.sharpe:.2f}"),
            ("flags", ", ".join(f["kind"] for f in r.flags) or "none")]
    print_table(f"session {r.name} (run {r.run_id})", ["", "value"], rows)
    stdout.print(f"more: `raytrade paper status {r.name}`", highlight=False)


__all__ = ["sandbox"]

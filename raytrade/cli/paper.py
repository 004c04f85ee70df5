"""`raytrade paper`: paper-trading sessions, as detached Ray actors or in the foreground."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from raytrade.cli.context import (
    AddressOpt,
    JsonFlag,
    engine_of,
    lake_of,
    require_cluster,
    settings_of,
)
from raytrade.cli.output import print_json, print_table, stderr, stdout
from raytrade.config.loader import load_session
from raytrade.live.parity_check import check_session_parity
from raytrade.live.report import SessionReport, session_report
from raytrade.store import paper as store
from raytrade.store.session import secret_url

app = typer.Typer(help="Paper trading: one session per file, named, around the clock.",
                  no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(help="Session YAML file.")]
NameArg = Annotated[str, typer.Argument(help="Session name (the file's `name`).")]


@app.command("start")
def paper_start(ctx: typer.Context, file: FileArg, address: AddressOpt = None) -> None:
    """Start the session as a detached actor `paper:<name>` on a running Ray cluster."""
    from raytrade.runtime.local import connect
    from raytrade.runtime.paper import start_session

    cfg = load_session(file)
    require_cluster(address, what="sessions",
                    foreground="the session in the foreground with `raytrade paper run FILE`")
    url = secret_url(engine_of(ctx))
    connect(address)
    name = start_session(cfg, database_url=url, lake_root=settings_of(ctx).lake_dir)
    stdout.print(f"started {name}; `raytrade paper status {cfg.name}` shows how it does")


@app.command("run")
def paper_run(ctx: typer.Context, file: FileArg) -> None:
    """Run the session in this process (no Ray) until Ctrl-C."""
    from raytrade.runtime.paper import build_trader

    cfg = load_session(file)
    settings = settings_of(ctx)
    trader = build_trader(cfg, database_url=secret_url(engine_of(ctx)),
                          lake_root=settings.lake_dir, settings=settings)
    stderr.print(f"session {cfg.name}: run {cfg.model.run_id} on {cfg.bars.symbol} "
                 f"{cfg.bars.timeframe} from {cfg.bars.source}, {cfg.broker.kind} broker; "
                 "Ctrl-C stops")
    try:
        asyncio.run(trader.run(asyncio.Event()))
    except KeyboardInterrupt:
        trader.stopped()
        stderr.print(f"stopped; `raytrade paper status {cfg.name}` shows the session")


@app.command("stop")
def paper_stop(ctx: typer.Context, name: NameArg, address: AddressOpt = None) -> None:
    """Stop a session's actor after its current bar; its rows stay in the store."""
    from raytrade.runtime.local import connect
    from raytrade.runtime.paper import stop_session

    connect(address or "auto")
    stop_session(name)
    stdout.print(f"stopped paper:{name.removeprefix('paper:')}")


@app.command("ls")
def paper_ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List every session in the store with its status."""
    rows = store.sessions(engine_of(ctx))
    if as_json:
        print_json([{"name": s.name, "run_id": s.run_id, "status": s.status.value,
                     "halt_reason": s.halt_reason, "updated_at": s.updated_at} for s in rows])
        return
    print_table("paper sessions", ["name", "run", "broker", "symbol", "status", "updated"],
                [(s.name, s.run_id, s.config["broker"]["kind"], s.config["bars"]["symbol"],
                  s.status.value if not s.halt_reason else f"halted: {s.halt_reason}",
                  f"{s.updated_at:%Y-%m-%d %H:%M}") for s in rows])


@app.command("status")
def paper_status(ctx: typer.Context,
                 name: Annotated[str | None, typer.Argument(help="Session name.")] = None,
                 as_json: JsonFlag = False) -> None:
    """Live PnL, trades and Sharpe next to the backtest's expectation, and the flags."""
    engine = engine_of(ctx)
    names = [name] if name else [s.name for s in store.sessions(engine)]
    reports = [session_report(engine, n) for n in names]
    if as_json:
        print_json([r.as_dict() for r in reports])
        return
    if not reports:
        stdout.print("no paper sessions yet: `raytrade paper start FILE` starts one")
    for report in reports:
        _print_report(report)


def _print_report(r: SessionReport) -> None:
    e = r.expected
    status = r.status if not r.halt_reason else f"{r.status}: {r.halt_reason}"
    print_table(f"paper:{r.name} (run {r.run_id}) — {status}", ["", "live", "backtest (test)"], [
        ("bars decided", r.decisions, ""),
        ("last bar", r.last_bar, ""),
        ("equity (start → now)", f"{_num(r.start_equity)} → {_num(r.equity)}", ""),
        ("capital traded", f"{r.capital:,.2f}", ""),
        ("PnL", _num(r.pnl), ""),
        ("return", _pct(r.total_return), f"{_pct(e.return_over_live_bars)} over as many bars "
                                         f"({_pct(e.total_return)} over its test)"),
        ("trades", r.trades, f"{_num(e.trades_per_bar and e.trades_per_bar * r.decisions)}"
                             " expected over as many bars"),
        ("Sharpe (annualised)", _num(r.sharpe), _num(e.sharpe)),
        ("orders open / all", f"{r.open_orders} / {r.orders}", ""),
        ("drift (CUSUM)", "FLAGGED: live returns left the backtest's" if r.drift_flagged
         else "in control", ""),
    ])
    for flag in r.flags:
        stdout.print(f"  flag {flag['kind']} at {flag['at']}: {flag['detail']}")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2%}"


@app.command("parity")
def paper_parity(ctx: typer.Context, name: NameArg,
                 last: Annotated[int | None, typer.Option(
                     help="Check only the newest N decisions.")] = None,
                 as_json: JsonFlag = False) -> None:
    """Recompute the session's decisions through the batch path; a mismatch halts it
    (exit 1)."""
    report = check_session_parity(engine_of(ctx), lake_of(ctx), name, last)
    if as_json:
        print_json({"ok": report.ok, "checked": report.checked,
                    "mismatches": report.mismatches, "max_abs_diff": report.max_abs_diff,
                    "first_bar": report.first_bar, "first_feature": report.first_feature})
    else:
        stdout.print(report.describe())
    if not report.ok:
        _halt_actor(name, f"parity: {report.describe()}")
        stderr.print(f"session {name} is halted: it sends no orders until started anew")
        raise typer.Exit(1)


def _halt_actor(name: str, reason: str) -> None:
    """Halt the live actor too, when a cluster is reachable (the store is halted already)."""
    if not os.environ.get("RAY_ADDRESS"):
        return
    from raytrade.runtime.local import connect
    from raytrade.runtime.paper import halt_session

    connect("auto")
    halt_session(name, reason)


__all__ = ["app"]

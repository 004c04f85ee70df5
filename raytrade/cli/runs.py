"""`raytrade runs`: what has been run, from the store."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import typer

from raytrade.cli.context import JsonFlag, engine_of
from raytrade.cli.output import print_json, print_table, stdout
from raytrade.store.repository import gate_checks, get_run, list_runs, mark_abandoned, run_metrics

app = typer.Typer(help="List and inspect recorded runs.", no_args_is_help=True)


@app.command("ls")
def runs_ls(ctx: typer.Context, limit: int = typer.Option(50, min=1, help="Newest N runs."),
            as_json: JsonFlag = False) -> None:
    """List the newest runs with their status."""
    runs = list_runs(engine_of(ctx), limit)
    if as_json:
        print_json([asdict(r) for r in runs])
        return
    print_table("runs", ["id", "experiment", "family", "status", "started", "finished"],
                [(r.id, r.experiment, r.family, r.status.value,
                  f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                  f"{r.finished_at:%H:%M:%S}" if r.finished_at else "") for r in runs])


@app.command("show")
def runs_show(ctx: typer.Context, run_id: int, as_json: JsonFlag = False) -> None:
    """Show one run and its metrics."""
    engine = engine_of(ctx)
    run = get_run(engine, run_id)
    metrics = run_metrics(engine, run_id)
    checks = gate_checks(engine, run_id)
    if as_json:
        print_json({**asdict(run), "metrics": [asdict(m) for m in metrics],
                    "gate": [asdict(c) for c in checks]})
        return
    stdout.print(f"run {run.id}: {run.experiment} ({run.family}) {run.status.value}, "
                 f"seed {run.seed}, code {run.code_version}")
    if run.error:
        stdout.print(f"error: {run.error}", markup=False)
    print_table("metrics", ["segment", "name", "value"],
                [(m.segment, m.name, f"{m.value:.6g}") for m in metrics])
    print_table("gate", ["tier", "check", "verdict", "value", "threshold", "detail"],
                [(c.tier, c.check, c.verdict.value, "" if c.value is None else f"{c.value:.4g}",
                  c.threshold or "", c.detail) for c in checks])


@app.command("reap")
def runs_reap(ctx: typer.Context,
              silent_minutes: int = typer.Option(60, min=1, help="Heartbeat older than this."),
              as_json: JsonFlag = False) -> None:
    """Mark `running` runs whose heartbeat went quiet (a crashed process) as failed."""
    reaped = mark_abandoned(engine_of(ctx), timedelta(minutes=silent_minutes))
    if as_json:
        print_json(reaped)
    else:
        stdout.print(f"{len(reaped)} abandoned run(s) marked failed: {reaped}")

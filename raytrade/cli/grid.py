"""`raytrade grid`: a grid file's trials as Ray Tune trials, with progress and a leaderboard;
`raytrade grids`: grids recorded in the store."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from raytrade.cli.context import JsonFlag, engine_of, settings_of
from raytrade.cli.output import print_json, print_table, stderr, stdout
from raytrade.config.loader import load_grid
from raytrade.runner import code_version
from raytrade.store.grids import BoardRow, get_grid, leaderboard, list_grids
from raytrade.store.session import secret_url

if TYPE_CHECKING:  # the runtime (Ray, Tune) is imported only by the commands that use it
    from raytrade.runtime.tune import TrialEvent

app = typer.Typer(help="List and inspect recorded grids and their leaderboards.",
                  no_args_is_help=True)
TIER_MARKS = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]", "skipped": "[dim]skip[/]"}


def grid(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Grid YAML file (experiments/grids/).")],
    address: Annotated[str | None, typer.Option(
        help="Join this Ray cluster (else RAY_ADDRESS; else start Ray on loopback).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Do not re-run trials already finished with the same config and bars.")] = False,
    share_features: Annotated[bool, typer.Option(
        help="Compute each symbol's features once in the FeatureService.")] = True,
    num_cpus: Annotated[int | None, typer.Option(
        help="CPUs for a local Ray (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run every trial of a grid on Ray: record each run, then print and store a leaderboard.

    Exits 1 if any trial failed to run (gate failures are results, not failures)."""
    from raytrade.runtime.local import connect, shutdown
    from raytrade.runtime.tune import GridStores, run_grid

    grid_cfg, trials = load_grid(file)
    settings = settings_of(ctx)
    engine = engine_of(ctx)
    stores = GridStores(
        engine=engine, database_url=secret_url(engine),
        lake_root=settings.lake_dir, runs_dir=settings.runs_path,
        models_dir=settings.models_path, tune_dir=settings.home_dir / "tune",
        code_version=code_version())
    if not as_json:
        stderr.print(f"grid {grid_cfg.name}: {len(trials)} trials of family "
                     f"{trials[0].family}, each asking {grid_cfg.resources.cpu} CPU"
                     f"{f' + {grid_cfg.resources.gpu} GPU' if grid_cfg.resources.gpu else ''}")
    started = connect(address, num_cpus=num_cpus)
    try:
        report = run_grid(grid_cfg, trials, stores, resume=resume,
                          share_features=share_features,
                          on_event=None if as_json else _print_event,
                          on_warning=lambda w: stderr.print(f"[yellow]warning:[/] {w}"))
    finally:
        if started:
            shutdown()
    failed = [r for r in report.board if r.status != "succeeded"]
    if as_json:
        print_json({"grid_id": report.grid_id, "warnings": report.warnings,
                    "resources": report.resources.model_dump(), "timings_s": report.timings,
                    "pbo": asdict(report.pbo) if report.pbo else None,
                    "leaderboard": [r.as_dict() for r in report.board]})
    else:
        print_board(f"grid {report.grid_id}: {grid_cfg.name}", report.board)
        if report.pbo is not None:
            stdout.print(f"family {trials[0].family}: {report.pbo.detail}; "
                         f"{report.pbo.verdict.value} (threshold {report.pbo.threshold})")
        stdout.print(f"{len(report.board) - len(failed)} of {len(report.board)} trials ran; "
                     f"{sum(r.promoted for r in report.board)} promoted "
                     f"({report.timings.get('wall_s', 0.0):.1f} s)")
    if failed:
        raise typer.Exit(1)


def _print_event(event: TrialEvent) -> None:
    width = len(str(event.total))
    head = f"[{event.done:>{width}}/{event.total}] {event.name}"
    if event.status == "failed":
        stderr.print(f"{head}: [red]failed[/] (run {event.run_id}): {event.error}",
                     highlight=False)
        return
    verdict = ("[green]gate passed[/]" if event.passed
               else f"gate failed at tier {event.failed_tier}")
    sharpe = "" if event.sharpe is None else f" sharpe {event.sharpe:.2f},"
    reused = " (reused: already finished)" if event.status == "reused" else ""
    seconds = "" if event.seconds is None else f" {event.seconds:.1f} s"
    stderr.print(f"{head}: run {event.run_id},{sharpe} {verdict}{reused}{seconds}",
                 highlight=False)


def print_board(title: str, board: list[BoardRow]) -> None:
    tiers = sorted({t for row in board for t in row.tiers})
    print_table(title, ["#", "trial", "run", "status", "sharpe", "return", "trades",
                        *(f"tier {t}" for t in tiers), "promoted"],
                [(i + 1, r.name, r.run_id, r.status + (" (reused)" if r.reused else ""),
                  _fmt(r.metrics.get("sharpe")), _fmt(r.metrics.get("total_return")),
                  _fmt(r.metrics.get("trades")),
                  *(TIER_MARKS.get(r.tiers.get(t, ""), "") for t in tiers),
                  "yes" if r.promoted else "")
                 for i, r in enumerate(board)])


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


@app.command("ls")
def grids_ls(ctx: typer.Context, limit: int = typer.Option(20, min=1, help="Newest N grids."),
             as_json: JsonFlag = False) -> None:
    """List the newest grids."""
    grids = list_grids(engine_of(ctx), limit)
    if as_json:
        print_json([asdict(g) for g in grids])
        return
    print_table("grids", ["id", "name", "family", "status", "trials", "started", "cluster"],
                [(g.id, g.name, g.family, g.status.value, g.trials,
                  f"{g.started_at:%Y-%m-%d %H:%M:%S}", g.cluster) for g in grids])


@app.command("show")
def grids_show(ctx: typer.Context, grid_id: int, as_json: JsonFlag = False) -> None:
    """Show one grid's leaderboard: its trials by test Sharpe, with the gate per tier."""
    engine = engine_of(ctx)
    summary = get_grid(engine, grid_id)
    board = leaderboard(engine, grid_id)
    if as_json:
        print_json({**asdict(summary), "leaderboard": [r.as_dict() for r in board]})
        return
    print_board(f"grid {grid_id}: {summary.name} ({summary.status.value})", board)

"""The root command and the small commands that need no sub-app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raytrade.cli import collect, data, db, gate, grid, market, models, paper, runs
from raytrade.cli.context import load_settings, settings_of
from raytrade.cli.output import print_json, print_table
from raytrade.cli.quickstart import quickstart
from raytrade.cli.run import replay, run
from raytrade.cli.sandbox import sandbox
from raytrade.cli.validate import validate
from raytrade.cli.venues import venues

app = typer.Typer(
    name="raytrade",
    help="Systematic ML trading experiments: YAML hypotheses, run and gated on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
data.app.command("backfill")(market.data_backfill)
data.app.command("quality")(market.data_quality)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(gate.app, name="gate")
app.add_typer(grid.app, name="grids")
app.add_typer(collect.app, name="collect")
app.add_typer(paper.app, name="paper")
app.command()(run)
app.command()(grid.grid)
app.command()(replay)
app.command()(validate)
app.command()(quickstart)
app.command()(venues)
app.command()(sandbox)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


@app.command("settings")
def show_settings(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show where raytrade keeps its state and which credentials are set (never their values)."""
    shown = settings_of(ctx).describe()
    if as_json:
        print_json(shown)
    else:
        print_table("settings (from RAYTRADE_* environment variables)", ["setting", "value"],
                    sorted(shown.items()))


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="State directory (RAYTRADE_HOME).")] = None,
) -> None:
    """Systematic ML trading experiments: YAML hypotheses, run and gated on Ray."""
    ctx.obj = load_settings(home)

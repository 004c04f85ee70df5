"""`raytrade models`: promoted, gate-passing models."""

from __future__ import annotations

import typer

from raytrade.cli.context import JsonFlag, engine_of
from raytrade.cli.output import print_json, print_table
from raytrade.store.repository import list_models

app = typer.Typer(help="Promoted models (only gate-passing runs are here).", no_args_is_help=True)


@app.command("ls")
def models_ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List promoted models, newest first."""
    models = list_models(engine_of(ctx))
    if as_json:
        print_json([{"run_id": m.run_id, "experiment": m.experiment, "path": m.path,
                     "sha256": m.sha256, "promoted_at": m.promoted_at,
                     "features": m.feature_metadata.get("feature_names")} for m in models])
        return
    print_table("promoted models", ["run", "experiment", "promoted", "path", "manifest sha256"],
                [(m.run_id, m.experiment, f"{m.promoted_at:%Y-%m-%d %H:%M}", m.path,
                  m.sha256[:12]) for m in models])

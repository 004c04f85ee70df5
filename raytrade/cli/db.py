"""`raytrade db`: the schema, owned by Alembic."""

from __future__ import annotations

import typer

from raytrade.cli.context import JsonFlag, engine_of, settings_of
from raytrade.cli.output import print_json, stdout
from raytrade.store.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Create and inspect the PostgreSQL schema (Alembic).", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = typer.Argument("head"),
               as_json: JsonFlag = False) -> None:
    """Upgrade the database schema to REVISION (default: the newest)."""
    engine = engine_of(ctx, require_current=False)
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    if as_json:
        print_json({"from": before, "to": after})
    else:
        stdout.print(f"schema: {before or 'empty'} -> {after}")


@app.command("current")
def db_current(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the schema revision of the database, the newest one, and where the database is."""
    engine = engine_of(ctx, require_current=False)
    current, head = current_revision(engine), head_revision()
    shown = {"current": current, "head": head, "up_to_date": current == head,
             "database": settings_of(ctx).describe()["database"]}
    if as_json:
        print_json(shown)
        return
    state = "up to date" if current == head else "behind: run `raytrade db upgrade`"
    stdout.print(f"{shown['database']}\nrevision {current or 'none'} (head {head}): {state}")

"""What every command shares: settings read once from the environment, and the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from raytrade.config.settings import Settings
from raytrade.core.errors import ExternalError, InputError
from raytrade.data.lake import Lake
from raytrade.store.migrate import current_revision, head_revision, upgrade
from raytrade.store.session import Engine, engine_from_settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
AddressOpt = Annotated[str | None, typer.Option(
    help="The Ray cluster to run on (else RAY_ADDRESS); it must outlive this command.")]


def require_cluster(address: str | None, *, what: str, foreground: str) -> None:
    """Refuse to start detached actors without a cluster that outlives the command."""
    if not (address or os.environ.get("RAY_ADDRESS")):
        raise InputError(f"{what} run on a Ray cluster that outlives this command: start one "
                         "(`ray start --head --node-ip-address 127.0.0.1 --dashboard-host "
                         f"127.0.0.1`) and pass --address auto, or run {foreground}")


def load_settings(home: Path | None) -> Settings:
    return Settings(home=home) if home is not None else Settings()


def settings_of(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = load_settings(None)
    return root.obj


def lake_of(ctx: typer.Context) -> Lake:
    return Lake(settings_of(ctx).lake_dir)


def engine_of(ctx: typer.Context, *, require_current: bool = True) -> Engine:
    """Return an engine for the configured store, refusing one whose schema is behind.

    The embedded database belongs to raytrade, so it is upgraded in place; a configured one is
    the operator's, so it is only ever upgraded by `raytrade db upgrade`.
    """
    settings = settings_of(ctx)
    engine = engine_from_settings(settings)
    if require_current and settings.database_url is None:
        upgrade(engine)
    if require_current:
        current, head = current_revision(engine), head_revision()
        if current != head:
            raise ExternalError(f"the database schema is at {current or 'nothing'}, not {head}: "
                                "run `raytrade db upgrade`")
    return engine

"""`raytrade quickstart`: the main job on embedded defaults, with no keys and no network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raytrade.cli.context import engine_of, lake_of, settings_of
from raytrade.cli.output import stdout
from raytrade.cli.run import print_report
from raytrade.config.examples import examples_dir
from raytrade.config.loader import load_experiment
from raytrade.runner import RunEnvironment, code_version, run_experiment
from raytrade.store.migrate import current_revision, upgrade


def quickstart(
    ctx: typer.Context,
    experiments: Annotated[Path | None, typer.Option(help="Folder of experiment files.")] = None,
) -> None:
    """Set up the store, validate the examples, and run experiments/quickstart.yaml end to end."""
    settings = settings_of(ctx)
    stdout.print(f"1/3 store: {settings.describe()['database']}")
    engine = engine_of(ctx, require_current=False)
    upgrade(engine)
    stdout.print(f"    schema at revision {current_revision(engine)}")
    folder = experiments or examples_dir()
    configs = {path.name: load_experiment(path) for path in sorted(folder.glob("*.yaml"))}
    stdout.print(f"2/3 validated {len(configs)} experiments in {folder}")
    cfg = configs["quickstart.yaml"]
    stdout.print(f"3/3 running {cfg.name}: {cfg.data.symbol} {cfg.data.timeframe} bars from the "
                 f"{cfg.data.source} source, {cfg.data.start} to {cfg.data.end}")
    env = RunEnvironment(engine=engine, lake=lake_of(ctx), runs_dir=settings.runs_path,
                         models_dir=settings.models_path, code_version=code_version())
    print_report(run_experiment(cfg, env))

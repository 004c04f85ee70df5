"""`raytrade quickstart`: the main job on embedded defaults, with no keys and no network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raytrade.cli.context import engine_of, lake_of, settings_of
from raytrade.cli.data import data_ls, fill_sample
from raytrade.cli.output import stdout
from raytrade.config.examples import examples_dir
from raytrade.config.experiment import ExperimentConfig
from raytrade.config.loader import load_experiment
from raytrade.data.bundled import load_bundled
from raytrade.data.lake import Lake
from raytrade.data.sample import SimulatorSpec
from raytrade.store.migrate import current_revision, upgrade


def quickstart(
    ctx: typer.Context,
    experiments: Annotated[Path | None, typer.Option(help="Folder of experiment files.")] = None,
) -> None:
    """Set up the store, validate the example experiments and fill the lake with their bars."""
    settings = settings_of(ctx)
    stdout.print(f"1/3 store: {settings.describe()['database']}")
    engine = engine_of(ctx, require_current=False)
    upgrade(engine)
    stdout.print(f"    schema at revision {current_revision(engine)}")
    folder = experiments or examples_dir()
    configs = [load_experiment(path) for path in sorted(folder.glob("*.yaml"))]
    stdout.print(f"2/3 validated {len(configs)} experiments in {folder}")
    stdout.print(f"3/3 bars into the lake at {settings.lake_dir}")
    lake = lake_of(ctx)
    for cfg in configs:
        _fill(lake, cfg)
    data_ls(ctx)


def _fill(lake: Lake, cfg: ExperimentConfig) -> None:
    data = cfg.data
    if data.source == "sample":
        fill_sample(lake, [data.symbol], data.timeframe, data.window(), SimulatorSpec(),
                    "sample", show=True)
    elif data.source == "bundled":
        loaded = load_bundled(data.symbol, data.timeframe)
        lake.upsert(loaded.bars, source="bundled", timeframe=data.timeframe,
                    origin=loaded.origin)
    else:
        stdout.print(f"    {cfg.name}: source {data.source} is collected from the vendor, "
                     "not bundled; skipped")

"""`raytrade collect`: collectors that keep lake partitions filled as bars close."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from raytrade.cli.context import (
    AddressOpt,
    JsonFlag,
    engine_of,
    require_cluster,
    settings_of,
)
from raytrade.cli.output import print_json, print_table, stderr, stdout
from raytrade.config.loader import load_collect
from raytrade.core.errors import InputError
from raytrade.store.market import collector_states
from raytrade.store.session import secret_url

app = typer.Typer(help="Collectors: one per (source, symbol, timeframe) lake partition.",
                  no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(help="Collector YAML file.")]


@app.command("start")
def collect_start(ctx: typer.Context, file: FileArg, address: AddressOpt = None) -> None:
    """Start one detached collector actor per symbol on a running Ray cluster."""
    from raytrade.runtime.actors import start_collectors
    from raytrade.runtime.local import connect

    cfg = load_collect(file)
    require_cluster(address, what="collectors",
                    foreground="them in the foreground with `raytrade collect run FILE`")
    url = secret_url(engine_of(ctx))
    connect(address)
    for name in start_collectors(cfg, database_url=url, lake_root=settings_of(ctx).lake_dir):
        stdout.print(f"started {name}")


@app.command("run")
def collect_run(ctx: typer.Context, file: FileArg) -> None:
    """Run the file's collectors in this process (no Ray) until Ctrl-C."""
    from raytrade.runtime.actors import build_collector

    cfg = load_collect(file)
    url, settings = secret_url(engine_of(ctx)), settings_of(ctx)
    collectors = [build_collector(cfg, s, database_url=url, lake_root=settings.lake_dir,
                                  settings=settings) for s in cfg.symbols]
    stop = asyncio.Event()

    async def run_all() -> None:
        await asyncio.gather(*(c.run(stop) for c in collectors))

    stderr.print(f"collecting {', '.join(cfg.symbols)} {cfg.timeframe} from {cfg.source}; "
                 "Ctrl-C stops")
    try:
        asyncio.run(run_all())
    except KeyboardInterrupt:
        stderr.print("stopped; watermarks are in the store (`raytrade collect status`)")


@app.command("stop")
def collect_stop(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(
        help="Actor name, e.g. collector:binance:BTC-USD:1m.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Stop every collector.")] = False,
    address: AddressOpt = None,
) -> None:
    """Stop collector actors: each finishes its current step and is removed."""
    from raytrade.runtime.actors import collector_actors, stop_collector
    from raytrade.runtime.local import connect

    if (name is None) == (not all_):
        raise InputError("name one collector or pass --all")
    connect(address or "auto")
    for actor in collector_actors() if all_ else [name or ""]:
        stop_collector(actor)
        stdout.print(f"stopped {actor}")


@app.command("status")
def collect_status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show every partition's watermark, bars written and last error, from the store."""
    states = collector_states(engine_of(ctx))
    if as_json:
        print_json([{"source": s.key.source, "symbol": s.key.symbol,
                     "timeframe": str(s.key.timeframe), "watermark": s.watermark,
                     "bars_written": s.bars_written, "last_error": s.last_error,
                     "updated_at": s.updated_at} for s in states])
        return
    print_table("collectors", ["source", "symbol", "timeframe", "watermark", "bars written",
                               "last error", "updated"],
                [(s.key.source, s.key.symbol, s.key.timeframe, f"{s.watermark:%Y-%m-%d %H:%M}",
                  s.bars_written, s.last_error or "", f"{s.updated_at:%H:%M:%S}")
                 for s in states])

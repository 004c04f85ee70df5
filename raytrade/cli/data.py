"""`raytrade data`: put bars into the lake and see what is there."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from raytrade.cli.context import JsonFlag, lake_of
from raytrade.cli.output import print_json, print_table, progress, stdout
from raytrade.core.types import Timeframe
from raytrade.data.bundled import BUNDLED_SOURCE, list_bundled, load_bundled
from raytrade.data.imports import read_bars_file
from raytrade.data.lake import Lake, PartitionKey
from raytrade.data.quality import coverage
from raytrade.data.sample import SAMPLE_SOURCE, SimulatorSpec, simulate_bars

app = typer.Typer(help="Bars in the Parquet lake: import, simulate, list.", no_args_is_help=True)

TimeframeOpt = Annotated[Timeframe, typer.Option(help="Bar length.")]
SymbolOpt = Annotated[str, typer.Option(help="Canonical symbol, e.g. AAPL or BTC-USD.")]
SourceOpt = Annotated[str, typer.Option(help="Lake source name the bars are filed under.")]


@app.command("import")
def data_import(ctx: typer.Context, file: Path, source: SourceOpt, symbol: SymbolOpt,
                timeframe: TimeframeOpt, as_json: JsonFlag = False) -> None:
    """Import one symbol's bars from a CSV or Parquet FILE into the lake."""
    imported = read_bars_file(file, symbol=symbol, vendor=source)
    report = lake_of(ctx).upsert(imported.bars, source=source, timeframe=timeframe,
                                 origin=f"imported from {file.name}")
    shown = {"file": str(file), "rows": imported.rows_read, "reordered": imported.reordered,
             "added": report.added, "revised": report.revised, "unchanged": report.unchanged}
    if as_json:
        print_json(shown)
    else:
        stdout.print(f"{file}: {shown['rows']} rows ({imported.reordered} re-ordered): "
                     f"{report.added} added, {report.revised} revised, "
                     f"{report.unchanged} unchanged in {source}/{timeframe}/{symbol}")


@app.command("sample")
def data_sample(
    ctx: typer.Context,
    symbol: Annotated[list[str], typer.Option(help="Symbols (repeat the option).")],
    timeframe: TimeframeOpt,
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC).")],
    end: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last day, inclusive.")],
    seed: int = 0,
    signal_strength: Annotated[float, typer.Option(help="Planted signal correlation.")] = 0.0,
    signal_lookback: Annotated[int, typer.Option(help="Bars the signal looks back.")] = 1,
    source: SourceOpt = SAMPLE_SOURCE,
    as_json: JsonFlag = False,
) -> None:
    """Write simulated bars (seeded, deterministic) into the lake."""
    spec = SimulatorSpec(seed=seed, signal_strength=signal_strength,
                         signal_lookback=signal_lookback)
    window = (start.replace(tzinfo=UTC),
              datetime.combine(end.date() + timedelta(days=1), time(0), tzinfo=UTC))
    written = fill_sample(lake_of(ctx), symbol, timeframe, window, spec, source, not as_json)
    if as_json:
        print_json(written)
    else:
        for sym, bars in written.items():
            stdout.print(f"{source}/{timeframe}/{sym}: {bars} bars written")


def fill_sample(lake: Lake, symbols: list[str], timeframe: Timeframe,
                window: tuple[datetime, datetime], spec: SimulatorSpec, source: str,
                show: bool) -> dict[str, int]:
    """Simulate `symbols` month by month into the lake, showing progress; return bar counts."""
    months = _month_starts(*window)
    written = dict.fromkeys(symbols, 0)
    with progress(show) as bar:
        task = bar.add_task(f"simulating {timeframe} bars", total=len(symbols) * len(months))
        for sym in symbols:
            for lo, hi in zip(months, [*months[1:], window[1]], strict=True):
                bars = simulate_bars(sym, timeframe, lo, hi, spec)
                if bars.height:
                    lake.upsert(bars, source=source, timeframe=timeframe,
                                origin=f"raytrade simulator (seed {spec.seed}, signal "
                                       f"{spec.signal_strength}/{spec.signal_lookback})")
                written[sym] += bars.height
                bar.advance(task)
    return written


def _month_starts(start: datetime, end: datetime) -> list[datetime]:
    months = [start]
    while True:
        last = months[-1]
        nxt = datetime(last.year + last.month // 12, last.month % 12 + 1, 1, tzinfo=UTC)
        if nxt >= end:
            return months
        months.append(nxt)


@app.command("bundled")
def data_bundled(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="Load this symbol into the lake.")] = None,
    timeframe: Annotated[Timeframe | None, typer.Option(help="Only this timeframe.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the real bars shipped inside installed packages, or load SYMBOL's into the lake."""
    datasets = [d for d in list_bundled() if timeframe in (None, d.timeframe)]
    if symbol is None:
        rows = [{"symbol": d.symbol, "timeframe": str(d.timeframe), "origin": d.origin}
                for d in datasets]
        if as_json:
            print_json(rows)
        else:
            print_table("bundled real bars (load one with `raytrade data bundled SYMBOL`)",
                        ["symbol", "timeframe", "origin"], [list(r.values()) for r in rows])
        return
    timeframes = [d.timeframe for d in datasets if d.symbol == symbol] or [timeframe or
                                                                           Timeframe.D1]
    shown = [_load_bundled(lake_of(ctx), symbol, tf) for tf in timeframes]
    if as_json:
        print_json(shown)
        return
    for row in shown:
        stdout.print(f"bundled/{row['timeframe']}/{symbol}: {row['bars']} bars ({row['added']} "
                     f"new); repaired: {'; '.join(row['fixes']) or 'nothing'}")


def _load_bundled(lake: Lake, symbol: str, timeframe: Timeframe) -> dict[str, Any]:
    loaded = load_bundled(symbol, timeframe)  # unknown symbol: MissingDataError lists them all
    report = lake.upsert(loaded.bars, source=BUNDLED_SOURCE, timeframe=timeframe,
                         origin=loaded.origin)
    return {"symbol": symbol, "timeframe": str(timeframe), "bars": loaded.bars.height,
            "added": report.added, "fixes": list(loaded.fixes)}


@app.command("ls")
def data_ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show every partition of the lake: first and last bar, bars, expected bars, coverage."""
    lake = lake_of(ctx)
    rows = [_describe(lake, key) for key in lake.partitions()]
    if as_json:
        print_json(rows)
        return
    print_table(f"lake {lake.root} (full origins: --json)",
                ["source", "timeframe", "symbol", "first", "last", "bars", "expected",
                 "coverage", "origin"],
                [[r["source"], r["timeframe"], r["symbol"], _when(r["first"]), _when(r["last"]),
                  r["bars"], r["expected"], f"{r['coverage']:.2%}", _short(r["origin"])]
                 for r in rows])
    if not rows:
        stdout.print("the lake is empty: try `raytrade data sample` or `raytrade data bundled`")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _short(origin: str, width: int = 40) -> str:
    return origin if len(origin) <= width else origin[: width - 1] + "…"


def _describe(lake: Lake, key: PartitionKey) -> dict[str, Any]:
    ts = lake.scan(key).select("ts").collect()["ts"]
    cov = coverage(ts, key.symbol, key.timeframe)
    return {"source": key.source, "timeframe": str(key.timeframe), "symbol": key.symbol,
            "first": cov.first, "last": cov.last, "bars": cov.bars, "expected": cov.expected,
            "coverage": cov.ratio, "origin": lake.origin(key)}


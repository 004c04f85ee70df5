"""`raytrade data backfill` and `raytrade data quality`: history from a vendor, and the quality
of every lake partition, recorded in the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import typer

from raytrade.cli.context import JsonFlag, engine_of, lake_of, settings_of
from raytrade.cli.data import SourceOpt, SymbolOpt, TimeframeOpt
from raytrade.cli.output import print_json, print_table, progress, stdout
from raytrade.data.lake import Lake, PartitionKey
from raytrade.data.quality import QualityReport, quality_report
from raytrade.sources.registry import SourceOptions, build_source
from raytrade.store.market import record_coverage
from raytrade.store.session import Engine

DayOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="UTC day, inclusive.")]
CHUNK = timedelta(days=7)


def data_backfill(
    ctx: typer.Context, source: SourceOpt, symbol: SymbolOpt, timeframe: TimeframeOpt,
    start: DayOpt, end: DayOpt,
    base_url: Annotated[str | None, typer.Option(
        help="The vendor's API root (default: its public host), e.g. a fake venue.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Fetch history from a vendor into the lake, a week at a time, then record its quality."""
    begin = datetime.combine(start.date(), time(0), tzinfo=UTC)
    finish = datetime.combine(end.date() + timedelta(days=1), time(0), tzinfo=UTC)
    vendor = build_source(source, settings_of(ctx), SourceOptions(base_url=base_url))
    lake, key = lake_of(ctx), PartitionKey(source, timeframe, symbol)
    windows = [(t, min(t + CHUNK, finish)) for t in _steps(begin, finish)]
    added = revised = fetched = 0
    with progress(not as_json) as bar:
        task = bar.add_task(f"{symbol} {timeframe} from {source}", total=len(windows))
        for lo, hi in windows:
            bars = asyncio.run(vendor.fetch_bars(symbol, timeframe, lo, hi))
            if bars.height:
                report = lake.upsert(bars, source=source, timeframe=timeframe,
                                     origin=f"backfill from {source}")
                added, revised = added + report.added, revised + report.revised
            fetched += bars.height
            bar.advance(task)
    quality = _record(engine_of(ctx), lake, key, begin, finish)
    shown = {"fetched": fetched, "added": added, "revised": revised,
             "quality": quality.as_dict(max_gaps=10)}
    if as_json:
        print_json(shown)
    else:
        stdout.print(f"{symbol} {timeframe} from {source}: {fetched} bars fetched, {added} added,"
                     f" {revised} revised; {quality.summary()}")


def _steps(begin: datetime, finish: datetime) -> list[datetime]:
    steps, at = [], begin
    while at < finish:
        steps.append(at)
        at += CHUNK
    return steps


def _record(engine: Engine, lake: Lake, key: PartitionKey, start: datetime | None,
            end: datetime | None) -> QualityReport:
    bars = lake.scan(key, start, end).collect()
    report = quality_report(bars, key.symbol, key.timeframe, start, end)
    cov = report.coverage
    # The window judged, [start, end): without one, first bar to the close of the last bar
    # (not the last bar's open, which would leave that bar out of the recorded window).
    now = datetime.now(UTC)  # only for no bars and no window: nothing else to record
    record_coverage(engine, key, report.start or now, report.end or now, coverage=cov.ratio,
                    expected=cov.expected, bars=cov.bars, report=report.as_dict(max_gaps=50))
    return report


def data_quality(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    start: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                   help="From this UTC day.")] = None,
    end: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                 help="Through this UTC day.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every lake partition (coverage, gaps, duplicates, OHLC, outliers, stale prices,
    volume, backfilled share), record each report in the store and print them."""
    lo = datetime.combine(start.date(), time(0), tzinfo=UTC) if start else None
    hi = datetime.combine(end.date() + timedelta(days=1), time(0), tzinfo=UTC) if end else None
    lake, engine = lake_of(ctx), engine_of(ctx)
    keys = [k for k in lake.partitions() if (source in (None, k.source))
            and (symbol in (None, k.symbol))]
    reports = [(k, _record(engine, lake, k, lo, hi)) for k in keys]
    if as_json:
        print_json([{"source": k.source, "symbol": k.symbol, "timeframe": str(k.timeframe),
                     **r.as_dict(max_gaps=10)} for k, r in reports])
        return
    print_table("data quality (recorded in the store)",
                ["source", "symbol", "tf", "bars", "coverage", "gaps", "dupes", "ohlc",
                 "outliers", "stale", "volume>0", "backfilled"],
                [_row(k, r) for k, r in reports])


def _row(key: PartitionKey, r: QualityReport) -> tuple[Any, ...]:
    return (key.source, key.symbol, key.timeframe, r.coverage.bars,
            f"{r.coverage.ratio:.1%}", len(r.gaps), r.duplicates, r.ohlc_inconsistent,
            r.outliers, r.stale_bars, f"{r.volume_traded_share:.1%}",
            f"{r.backfilled_share:.1%}")


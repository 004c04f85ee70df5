"""`raytrade run`: one experiment, end to end, with a compact report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from raytrade.cli.context import JsonFlag, engine_of, lake_of, settings_of
from raytrade.cli.output import print_json, print_table, stderr, stdout
from raytrade.config.loader import load_experiment
from raytrade.core.types import Verdict
from raytrade.runner import (
    RunEnvironment,
    RunResult,
    code_version,
    replay_run,
    run_experiment,
)

HEADLINE = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades",
            "exposure", "profit_factor", "bh_total_return", "bh_sharpe", "bh_max_drawdown")


def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    device: Annotated[str, typer.Option(help="XGBoost device: cpu or cuda.")] = "cpu",
    as_json: JsonFlag = False,
) -> None:
    """Run one experiment: train, backtest, gate, record, and promote it if the gate passes."""
    cfg = load_experiment(file)
    if device not in ("cpu", "cuda"):
        raise typer.BadParameter("expected cpu or cuda", param_hint="--device")
    settings = settings_of(ctx)
    env = RunEnvironment(engine=engine_of(ctx), lake=lake_of(ctx), runs_dir=settings.runs_path,
                         models_dir=settings.models_path, code_version=code_version(),
                         device=_device(device))
    if not as_json:
        stderr.print(f"running {cfg.name} ({cfg.data.symbol} {cfg.data.timeframe}, "
                     f"{cfg.data.start} to {cfg.data.end})...")
    result = run_experiment(cfg, env)
    if as_json:
        print_json(report(result))
    else:
        print_report(result)
    if not result.decision.passed:
        raise typer.Exit(1)


def replay(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="The run to reproduce.")],
    as_json: JsonFlag = False,
) -> None:
    """Re-run a recorded run from its stored config; report whether every metric is identical."""
    settings = settings_of(ctx)
    env = RunEnvironment(engine=engine_of(ctx), lake=lake_of(ctx), runs_dir=settings.runs_path,
                         models_dir=settings.models_path, code_version=code_version())
    outcome = replay_run(run_id, env)
    if as_json:
        print_json(asdict(outcome))
    elif outcome.identical:
        stdout.print(f"run {run_id} replayed as run {outcome.replay}: every metric identical")
    else:
        stdout.print(f"run {run_id} replayed as run {outcome.replay}: "
                     f"{len(outcome.differences)} difference(s)")
        for line in outcome.differences:
            stdout.print(f"  {line}", markup=False)
    if not outcome.identical:
        raise typer.Exit(1)


def _device(name: str) -> Literal["cpu", "cuda"]:
    return "cuda" if name == "cuda" else "cpu"


def report(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id, "experiment": result.experiment,
        "passed": result.decision.passed, "failed_tier": result.decision.failed_tier,
        "promoted": str(result.model_path) if result.model_path else None,
        "metrics": {f"{m.segment}.{m.name}": m.value for m in result.metrics},
        "gate": [{"tier": c.tier, "check": c.check, "verdict": c.verdict.value,
                  "value": c.value, "threshold": c.threshold, "detail": c.detail}
                 for c in result.decision.checks],
        "timings_s": result.timings,
    }


def print_report(result: RunResult) -> None:
    values = {m.name: m.value for m in result.metrics if m.segment == "test"}
    print_table(f"run {result.run_id}: {result.experiment} — test segment",
                ["metric", "value"], [(k, f"{values[k]:.4g}") for k in HEADLINE if k in values])
    marks = {Verdict.PASSED: "[green]pass[/]", Verdict.FAILED: "[red]FAIL[/]",
             Verdict.SKIPPED: "[dim]skip[/]"}
    print_table("gate", ["tier", "check", "result", "value", "threshold", "detail"],
                [(c.tier, c.check, marks[c.verdict],
                  "" if c.value is None else f"{c.value:.4g}", c.threshold or "", c.detail)
                 for c in result.decision.checks])
    if result.model_path:
        stdout.print(f"[green]gate passed[/]: promoted to {result.model_path}")
    else:
        stdout.print(f"[red]gate failed at tier {result.decision.failed_tier}[/]: not promoted "
                     f"(run {result.run_id} is recorded; `raytrade runs show {result.run_id}`)")

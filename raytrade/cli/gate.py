"""`raytrade gate`: family-wide overfitting and rescoring stored decisions (history is kept)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from raytrade.audit import family_pbo, rescore_family
from raytrade.cli.context import JsonFlag, engine_of
from raytrade.cli.output import print_json, print_table, stdout
from raytrade.config.experiment import GateSpec
from raytrade.core.errors import InputError
from raytrade.core.types import Verdict

app = typer.Typer(help="Audit the gate: PBO over a family, rescoring under new thresholds.",
                  no_args_is_help=True)
FamilyOpt = Annotated[str, typer.Option(help="Hypothesis family (the experiments' `family`).")]


@app.command("pbo")
def gate_pbo(ctx: typer.Context, family: FamilyOpt,
             max_pbo: Annotated[float, typer.Option(help="Block promotion above this.")] =
             GateSpec().max_pbo,
             blocks: Annotated[int, typer.Option(help="CSCV blocks (even).")] = 16,
             as_json: JsonFlag = False) -> None:
    """Compute the probability of backtest overfitting over the family's stored test returns."""
    check = family_pbo(engine_of(ctx), family, max_pbo=max_pbo, n_blocks=blocks)
    if as_json:
        print_json(asdict(check))
    else:
        stdout.print(f"{family}: {check.detail}; {check.verdict.value} (threshold "
                     f"{check.threshold})")
    if check.verdict is Verdict.FAILED:
        raise typer.Exit(1)


@app.command("rescore")
def gate_rescore(
    ctx: typer.Context, family: FamilyOpt,
    threshold: Annotated[list[str] | None, typer.Option(
        help="A gate threshold to change, as KEY=VALUE (repeat), e.g. min_sharpe=1.0.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-evaluate the family's stored evidence under changed thresholds; list what changes."""
    rows = rescore_family(engine_of(ctx), family, _overrides(threshold or []))
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    print_table(f"rescore of family {family} (nothing stored is changed)",
                ["run", "experiment", "promoted", "passed then", "passed now", "changed checks"],
                [(r.run_id, r.experiment, r.promoted, r.passed_then, r.passed_now,
                  ", ".join(r.changed)) for r in rows])
    flips = [r for r in rows if r.promoted and not r.passed_now]
    stdout.print(f"{len(flips)} promoted model(s) would no longer pass; "
                 f"{sum(not r.passed_then and r.passed_now for r in rows)} run(s) would newly pass")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in GateSpec.model_fields:
            raise InputError(f"--threshold {pair!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(GateSpec.model_fields)}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out

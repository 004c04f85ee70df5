"""`raytrade validate`: check experiment and grid files without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from raytrade.cli.context import JsonFlag
from raytrade.cli.output import print_error, print_json, stdout
from raytrade.config.loader import is_grid, load_experiment, load_grid, read_yaml
from raytrade.core.errors import ConfigError, InputError


def validate(
    paths: Annotated[list[Path], typer.Argument(help="Experiment or grid files, or folders.")],
    as_json: JsonFlag = False,
) -> None:
    """Validate experiment and grid files: every problem names the file, key, value and fix."""
    files = _expand(paths)
    results = [_check(path) for path in files]
    if as_json:
        print_json(results)
    else:
        for result in results:
            _print(result)
    if not files or any(not r["ok"] for r in results):
        raise typer.Exit(2)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]))
        else:
            files.append(path)
    if not files:
        print_error("no YAML files found in " + ", ".join(map(str, paths)))
    return files


def _check(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"file": str(path)}
    try:
        if is_grid(read_yaml(path)):
            grid, trials = load_grid(path)
            result.update(ok=True, kind="grid", name=grid.name, trials=len(trials),
                          family=trials[0].family if trials else None)
        else:
            cfg = load_experiment(path)
            result.update(ok=True, kind="experiment", name=cfg.name, family=cfg.family,
                          config_hash=cfg.config_hash())
    except ConfigError as exc:
        result.update(ok=False, message=str(exc), problems=[
            {"path": p.path, "found": p.found, "expected": p.expected} for p in exc.problems])
    except InputError as exc:
        result.update(ok=False, message=str(exc), problems=[])
    return result


def _print(result: dict[str, Any]) -> None:
    if not result["ok"]:
        print_error(result["message"])
    elif result["kind"] == "grid":
        stdout.print(f"[green]ok[/] {result['file']}: grid {result['name']}, "
                     f"{result['trials']} trials in family {result['family']}")
    else:
        stdout.print(f"[green]ok[/] {result['file']}: {result['name']} "
                     f"(family {result['family']}, config {result['config_hash'][:12]})")

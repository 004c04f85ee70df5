"""The codebase keeps its promises: small modules, lint, types, layers, and an honest README."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "raytrade"
MAX_MODULE_LINES = 400


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extras (pip install -e '.[dev]')")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def test_no_module_exceeds_400_lines() -> None:
    sizes = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {str(p): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (limit {MAX_MODULE_LINES} lines): {too_long}"


def test_ruff_is_clean() -> None:
    result = _run(_tool("ruff"), "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(_tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    result = _run(_tool("lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"## Quick start.*?```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README.md needs a Quick start section with a code block"
    commands = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, f"the quick start is exactly two commands, found {commands}"
    assert commands[1] in ci.splitlines(), f"{commands[1]!r} must be a line of .ci/run"


def test_no_source_file_mentions_an_address_other_than_loopback() -> None:
    pattern = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
    allowed = {"127.0.0.1", "0.0.0.0"}  # 0.0.0.0 only appears to be refused by tests
    offenders = {}
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        found = set(pattern.findall(path.read_text())) - allowed
        found = {ip for ip in found if not ip.startswith("127.")}
        if found:
            offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert not offenders, offenders

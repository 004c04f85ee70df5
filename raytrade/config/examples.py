"""The example experiments: shipped in the wheel, or read from the source tree."""

from __future__ import annotations

from pathlib import Path

import raytrade


def examples_dir() -> Path:
    """Return the folder of example experiment files (`experiments/` in the repository)."""
    package = Path(raytrade.__file__).parent
    for candidate in (package / "_experiments", package.parent / "experiments"):
        if (candidate / "quickstart.yaml").is_file():
            return candidate
    raise FileNotFoundError("the example experiments are missing from this installation")

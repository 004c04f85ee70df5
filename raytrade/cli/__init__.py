"""The `raytrade` command line. Exit codes: 0 ok, 1 the work failed, 2 bad input."""

from __future__ import annotations

import sys

from raytrade.cli.app import app
from raytrade.cli.output import print_error
from raytrade.core.errors import RaytradeError


def main() -> None:
    """Run the CLI; expected failures print one sentence, never a traceback."""
    try:
        app()
    except RaytradeError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]

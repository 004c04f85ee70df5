"""The `raytrade` command line. Exit codes: 0 ok, 1 the work failed, 2 bad input."""

from __future__ import annotations

import sys

from raytrade.cli.app import app
from raytrade.cli.output import print_error
from raytrade.core.errors import RaytradeError


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (on `argv`, else the process's arguments); expected failures print one
    sentence, never a traceback."""
    try:
        app(args=argv, prog_name="raytrade")
    except RaytradeError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]

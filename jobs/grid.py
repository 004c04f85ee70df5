"""`ray job submit --working-dir . -- python jobs/grid.py GRID.yaml [--resume]`

Runs a grid on the cluster the job was submitted to, exactly as `raytrade grid` does (the job's
RAY_ADDRESS is joined). The store comes from RAYTRADE_DATABASE_URL in the environment of the
`ray start` that began the cluster; never put it in a runtime env, which the dashboard shows.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Trials import raytrade from the uploaded working dir; the driver must run the same code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytrade.cli import main

if __name__ == "__main__":
    main(["grid", *sys.argv[1:]])

"""`ray job submit --working-dir . -- python jobs/run.py EXPERIMENT.yaml`

Runs one experiment as a Ray job, exactly as `raytrade run` does; the store comes from
RAYTRADE_DATABASE_URL in the environment of the `ray start` that began the cluster.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytrade.cli import main

if __name__ == "__main__":
    main(["run", *sys.argv[1:]])

"""`ray job submit --working-dir . -- python jobs/collect.py COLLECT.yaml`

Starts the file's collectors as detached actors on the cluster the job was submitted to; they
keep running after the job ends (`raytrade collect status`, `raytrade collect stop --all`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytrade.cli import main

if __name__ == "__main__":
    main(["collect", "start", *sys.argv[1:], "--address", "auto"])

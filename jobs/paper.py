"""`ray job submit --working-dir . -- python jobs/paper.py SESSION.yaml`

Starts the file's paper session as the detached actor `paper:<name>` on the cluster the job
was submitted to; it keeps trading after the job ends (`raytrade paper status NAME`,
`raytrade paper stop NAME`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytrade.cli import main

if __name__ == "__main__":
    main(["paper", "start", *sys.argv[1:], "--address", "auto"])

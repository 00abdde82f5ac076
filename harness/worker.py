"""``python -m harness.worker RUN_DIR``: run the job described by ``RUN_DIR/job.json`` (one process per job)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli import run_cli


def main(argv: list[str] | None = None) -> int:
    from harness.tasks import TASKS

    run_dir = Path((argv or sys.argv[1:])[0])
    job = json.loads((run_dir / "job.json").read_text())
    TASKS[job["task"]].run(job["config"], run_dir, progress=False)
    return 0


if __name__ == "__main__":
    run_cli(main)

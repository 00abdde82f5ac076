"""``python -m harness.worker RUN_DIR``: run the job described by ``RUN_DIR/job.json`` (one process per job).

The worker holds the run folder's lock for the whole job, so no second process writes there, and it does
not outlive the orchestrator that started it: killed with it (``kill -9``, out of memory, a dropped SSH
session), it stops at once and leaves its last checkpoint for the next run to resume.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from harness.cli import run_cli
from harness.orchestrate import ORCHESTRATOR_PID, run_lock

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid`` (the orchestrator that started it) is gone: the kernel's
    parent-death signal on Linux, a one-second watch of the parent elsewhere."""
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    from harness.tasks import TASKS

    run_dir = Path((argv or sys.argv[1:])[0])
    if os.environ.get(ORCHESTRATOR_PID):
        die_with(int(os.environ[ORCHESTRATOR_PID]))
    with run_lock(run_dir):
        job = json.loads((run_dir / "job.json").read_text())
        TASKS[job["task"]].run(job["config"], run_dir, progress=False)
    return 0


if __name__ == "__main__":
    run_cli(main)

"""A worker runs the job described by ``RUN_DIR/job.json``, one process per job: forked by the orchestrator,
which has imported the harness already (:func:`start`), or by hand as ``python -m harness.worker RUN_DIR``.

The worker holds the run folder's lock for the whole job, so no second process writes there, and it does
not outlive the orchestrator that started it: killed with it (``kill -9``, out of memory, a dropped SSH
session), it stops at once and leaves its last checkpoint for the next run to resume.
"""
from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

from harness.cli import run_cli
from harness.locks import run_lock

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


def run_job(run_dir: Path) -> None:
    """Run the job of ``run_dir`` while holding the folder's lock."""
    from harness.tasks import TASKS

    with run_lock(run_dir):
        job = json.loads((run_dir / "job.json").read_text())
        TASKS[job["task"]].run(job["config"], run_dir, progress=False)


def main(argv: list[str] | None = None) -> int:
    run_job(Path((argv or sys.argv[1:])[0]))
    return 0


def _forked(run_dir: str, threads: int) -> None:
    """A worker's body in a process forked from the orchestrator: output into the job's log, the thread count,
    then the job (exit status as ``python -m harness.worker`` would give)."""
    die_with(os.getppid())
    log = open(Path(run_dir) / "job.log", "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    import torch

    torch.set_num_threads(threads)
    run_cli(main, [run_dir])


def start(run_dir: Path, threads: int) -> multiprocessing.Process:
    """Start a worker for ``run_dir``, forked from this process (which has imported torch, timm and the tasks
    already, so a job starts in milliseconds rather than seconds); where fork is unavailable, spawned."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    sys.stdout.flush()
    sys.stderr.flush()
    process = multiprocessing.get_context(method).Process(target=_forked, args=(str(run_dir), threads),
                                                          name=f"mixbench-worker {run_dir.name}")
    process.start()
    return process


if __name__ == "__main__":
    run_cli(main)

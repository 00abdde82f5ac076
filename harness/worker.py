"""A worker runs the job described by ``RUN_DIR/job.json``, one process per job: started by the orchestrator
through a fork server that has imported the harness once (:func:`start`), or by hand as ``python -m harness.worker RUN_DIR``.
A data-parallel job (``world_size`` N > 1) runs as N workers under torchrun (:func:`start_distributed`), or as N
Slurm tasks; rank 0 holds the lock and writes.

The worker holds the run folder's lock for the whole job, so no second process writes there, and it does
not outlive the orchestrator that started it: killed with it (``kill -9``, out of memory, a dropped SSH
session), it stops within a second and leaves its last checkpoint for the next run to resume.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from harness.cli import run_cli
from harness.locks import run_lock

ORCHESTRATOR_PID = "MIXBENCH_ORCHESTRATOR_PID"  # set for workers that torchrun starts: they die with the orchestrator


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process stays a zombie until its parent reaps it: that is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def die_with(pid: int) -> None:
    """End this process within a second of process ``pid`` (the orchestrator that started it) being gone."""

    def watch() -> None:
        while alive(pid):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="orchestrator-watch").start()


def run_job(run_dir: Path) -> None:
    """Run the job of ``run_dir``; rank 0 (every single-process job) holds the folder's lock meanwhile."""
    from harness.models.catalog import import_model_files
    from harness.tasks import TASKS
    from harness.train.provenance import take_harness_code

    import_model_files()  # the network the job builds may be any file of harness/models
    job = json.loads((run_dir / "job.json").read_text())
    take_harness_code(job.get("harness_code"))  # the code the job runs is what its record says made it
    with run_lock(run_dir) if int(os.environ.get("RANK", 0)) == 0 else nullcontext():
        TASKS[job["task"]].run(job["config"], run_dir, progress=False)


def main(argv: list[str] | None = None) -> int:
    if ORCHESTRATOR_PID in os.environ:
        die_with(int(os.environ[ORCHESTRATOR_PID]))
    run_job(Path((argv or sys.argv[1:])[0]))
    return 0


def log_to_run_folder(run_dir: Path) -> None:
    """Send this process's whole output (Python's and its libraries', file descriptors 1 and 2) to the end of
    the job's ``job.log``."""
    log = open(run_dir / "job.log", "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log


def use_threads(threads: int) -> None:
    """Give this process's math libraries ``threads`` threads (torch's intra-op pool, and OpenMP/MKL in anything
    started later)."""
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    import torch

    torch.set_num_threads(threads)


def _forked(run_dir: str, threads: int, orchestrator: int, gpu: str | None) -> None:
    """A worker's body in a process of the orchestrator's fork server: output into the job's log, the thread
    count, the job's GPU (before anything touches CUDA: the server never does), then the job (exit status as
    ``python -m harness.worker`` would give)."""
    die_with(orchestrator)
    log_to_run_folder(Path(run_dir))
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        print(f"CUDA_VISIBLE_DEVICES={gpu}", flush=True)
    use_threads(threads)
    run_cli(main, [run_dir])


_context = None


def start(run_dir: Path, threads: int, gpu: str | None = None) -> multiprocessing.Process:
    """Start a worker for ``run_dir``, forked from a fork server that imported torch, timm and the tasks once
    (a job starts in milliseconds instead of re-importing them), pinned to GPU ``gpu`` when given. The server
    is a fresh process that never computes or touches CUDA, so forking it is safe, unlike forking a process
    whose torch threads are running."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        from harness.tasks import TASKS

        runtime = {module for task in TASKS.values() for module in task.runtime_modules}
        _context.set_forkserver_preload(["harness.worker", "harness.tasks", *sorted(runtime)])
    process = _context.Process(target=_forked, args=(str(run_dir), threads, os.getpid(), gpu),
                               name=f"mixbench-worker {run_dir.name}")
    process.start()
    return process


class Launched:
    """A torchrun launch, seen as the orchestrator sees a forked worker (``exitcode``, ``terminate``, ``join``)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        self.process.terminate()

    def join(self) -> None:
        self.process.wait()


def distributed_command(run_dir: Path, processes: int) -> list[str]:
    """torchrun on this machine: ``processes`` workers for ``run_dir`` (a free rendezvous port each time)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
            f"--nproc-per-node={processes}", "-m", "harness.worker", str(run_dir)]


def start_distributed(run_dir: Path, processes: int, threads: int, gpus: list[str] | None = None) -> Launched:
    """Start a data-parallel job: ``processes`` workers under torchrun, each with ``threads`` threads and, with
    ``gpus`` (one per process), GPU ``gpus[LOCAL_RANK]``; output to the job's log; they die with this process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), ORCHESTRATOR_PID: str(os.getpid())}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    with open(Path(run_dir) / "job.log", "a") as log:
        if gpus:
            log.write(f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}\n")
        log.flush()
        process = subprocess.Popen(distributed_command(run_dir, processes), env=env, stdout=log, stderr=subprocess.STDOUT)
    return Launched(process)


if __name__ == "__main__":
    run_cli(main)

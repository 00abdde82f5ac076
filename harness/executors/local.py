"""The local executor: one worker process per job on this machine (``--jobs`` at a time), each pinned to its own
GPU(s) through ``CUDA_VISIBLE_DEVICES`` where there are GPUs; a data-parallel job's N processes run under torchrun
on N GPUs (or N CPU processes). Workers die with the orchestrator; what they checkpointed is resumed next time."""
from __future__ import annotations

import os

from tqdm import tqdm

from harness import worker
from harness.errors import HarnessError
from harness.executors.base import Job, Running
from harness.locks import RUN_LOCK, lock_holder


class WorkerRun:
    """A worker process this orchestrator started (forked, or torchrun's launcher)."""

    def __init__(self, process) -> None:
        self.process = process

    def ended(self) -> str | None:
        code = self.process.exitcode
        return None if code is None else f"worker exited with status {code}"


class HeldRun:
    """A run folder that another live process holds (an earlier orchestrator's worker, a job started by hand)."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def ended(self) -> str | None:
        return None if lock_holder(self.job.run_dir / RUN_LOCK) else "its process ended"


class LocalExecutor:
    """Up to ``workers`` jobs at once; with ``gpus``, each job gets as many of them as it has processes, never
    one that another job holds."""

    name = "local"

    def __init__(self, workers: int, gpus: list[str] | None = None) -> None:
        self.gpus = list(gpus or [])
        self.free = list(self.gpus)
        self.workers = min(workers, len(self.gpus)) if self.gpus else workers
        self.threads = max(1, (os.cpu_count() or 1) // max(1, self.workers))
        self.given: dict[str, list[str]] = {}

    def check(self, jobs: list[Job]) -> None:
        """Fail before anything starts if a job needs more GPUs than there are."""
        for job in jobs:
            if self.gpus and job.processes > len(self.gpus):
                raise HarnessError(f"job {job.key} trains on {job.processes} GPUs but only {len(self.gpus)} are "
                                   f"available (--gpus {','.join(self.gpus)})")

    def reserve(self, job: Job, running: int) -> bool:
        if running >= self.workers:
            return False
        if self.gpus:
            if job.processes > len(self.free):
                return False
            self.given[job.key], self.free = self.free[:job.processes], self.free[job.processes:]
        return True

    def start(self, jobs: list[Job]) -> list[WorkerRun]:
        return [self._start(job) for job in jobs]

    def _start(self, job: Job) -> WorkerRun:
        gpus = self.given.get(job.key)
        if job.processes > 1:
            threads = max(1, self.threads // job.processes)
            return WorkerRun(worker.start_distributed(job.run_dir, job.processes, threads, gpus))
        return WorkerRun(worker.start(job.run_dir, self.threads, gpus[0] if gpus else None))

    def adopt(self, job: Job) -> HeldRun | None:
        holder = lock_holder(job.run_dir / RUN_LOCK)
        if not holder:
            return None
        tqdm.write(f"{job.key}: its folder is in use by {holder}; waiting for it instead of starting a second worker")
        return HeldRun(job)

    def release(self, job: Job) -> None:
        self.free.extend(self.given.pop(job.key, []))

    def interrupt(self, running: list[Running]) -> None:
        started = [run.process for run in running if isinstance(run, WorkerRun)]
        for process in started:
            process.terminate()
        for process in started:
            process.join()

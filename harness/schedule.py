"""Running a plan's jobs: each unfinished job on an :class:`~harness.executors.base.Executor` once its
dependencies have finished, a failed job never stopping the others, a job still queued or running from an earlier
orchestrator collected rather than started again."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from harness.executors.base import Executor, Running
from harness.jobs import Job
from harness.store import prepare_run, record_crash, record_failure, record_is_sound
from harness.train import RECORD


def next_ready(todo: list[Job], running: set[str], status_of) -> tuple[Job | None, list[tuple[Job, str]]]:
    """The first job whose dependencies have finished, and the jobs that can never start (with why).

    ``status_of(key)`` is a job's status (``missing`` for a job that is neither planned nor recorded).
    A dependency still queued or running makes its dependents wait.
    """
    waiting = {job.key for job in todo} | running
    blocked, ready = [], None
    for job in todo:
        unmet = [key for key in job.depends_on if status_of(key) != "finished"]
        dead = [key for key in unmet if key not in waiting]
        if dead:
            blocked.append((job, f"its dependency {dead[0]} is {status_of(dead[0])} (run that table first)"))
        elif not unmet and ready is None:
            ready = job
    return ready, blocked


class Scheduler:
    """The state of one :func:`execute`: the jobs to start, those under way, and what became of each."""

    def __init__(self, jobs: list[Job], executor: Executor, progress: bool):
        self.executor = executor
        self.todo = [job for job in jobs if job.status() != "finished"]
        self.outcome: dict[str, list[Job]] = {"cached": [j for j in jobs if j.status() == "finished"],
                                              "finished": [], "failed": []}
        self.running: dict[str, tuple[Job, Running, bool]] = {}  # key -> (job, its run, adopted from an earlier one)
        self.by_key = {job.key: job for job in jobs}
        self.results = jobs[0].run_dir.parent if jobs else Path(".")
        self.bar = tqdm(total=len(self.todo), desc="jobs", unit="job", disable=not progress, dynamic_ncols=True)

    def status_of(self, key: str) -> str:
        """A job's status; ``missing`` for a job that is neither planned nor recorded."""
        if key in self.by_key:
            return self.by_key[key].status()
        record = self.results / key / RECORD
        return "finished" if record.is_file() and record_is_sound(record) else "missing"

    def ended(self) -> int:
        return len(self.outcome["finished"]) + len(self.outcome["failed"])

    def _failed(self, job: Job, line: str) -> None:
        self.outcome["failed"].append(job)
        tqdm.write(line)
        self.bar.update(1)

    def collect(self) -> None:
        """Take in the jobs that have ended: finished, failed (recorded), or adopted ones stopped before the end
        (resumed here)."""
        for key, (job, run, adopted) in list(self.running.items()):
            how = run.ended()
            if how is None:
                continue
            del self.running[key]
            self.executor.release(job)
            if job.status() == "finished":
                self.outcome["finished"].append(job)
                self.bar.update(1)
            elif adopted and job.status() != "failed":  # it stopped before the end: resume it here
                self.todo.insert(0, job)
            else:
                record_crash(job, how)
                rows = ", ".join(f"{t}/{r}" for t, r, _ in job.cells)
                self._failed(job, f"FAILED {job.key} ({rows}): see {job.run_dir}/job.log")

    def _next(self, starting: list[Job]) -> Job | None:
        """The next job whose dependencies have finished, after recording those that never can start."""
        job, blocked = next_ready(self.todo, set(self.running) | {j.key for j in starting}, self.status_of)
        for stuck, why in blocked:
            self.todo.remove(stuck)
            record_failure(stuck, "DependencyFailed", why)
            self._failed(stuck, f"FAILED {stuck.key}: {why}")
        return job

    def start_ready(self) -> None:
        """Adopt or start every job that can go now, as far as the executor has room."""
        starting: list[Job] = []
        while self.todo:
            job = self._next(starting)
            if job is None:
                break
            found = self.executor.adopt(job)
            if found is not None:
                self.todo.remove(job)
                self.running[job.key] = (job, found, True)
                continue
            if not self.executor.reserve(job, len(self.running) + len(starting)):
                break
            self.todo.remove(job)
            starting.append(job)
        for job in starting:
            prepare_run(job)
        for job, run in zip(starting, self.executor.start(starting) if starting else []):
            self.running[job.key] = (job, run, False)
        self.bar.set_postfix_str(" | ".join(f"{j.cells[0][1]} {j.progress()}" for j, _, _ in self.running.values()))


CHANGE_SHARE = 8  # on_change takes at most 1/8 of the time: the jobs keep the machine's cores


class Reporter:
    """``on_change`` run in a thread of its own, so that a job ending while the report is rebuilt is replaced at
    once (the rebuild took the scheduler away for 4-20 s at a time: a core idle); one rebuild at a time, at most
    every ``interval`` seconds and every :data:`CHANGE_SHARE` times its own last duration. An error in it is
    raised in the caller's thread."""

    def __init__(self, on_change: Callable[[], None], interval: float) -> None:
        self.on_change, self.wait = on_change, interval
        self.interval, self.reported, self.finished_at = interval, 0, time.monotonic()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _build(self) -> None:
        started = time.monotonic()
        try:
            self.on_change()
        except BaseException as error:  # raised again in the scheduler's thread (check)
            self.error = error
        self.finished_at = time.monotonic()
        self.wait = max(self.interval, CHANGE_SHARE * (self.finished_at - started))

    def check(self, ended: int) -> None:
        """Raise a rebuild's error; start a rebuild where jobs have ended since the last and it is time."""
        if self.error is not None:
            raise self.error
        busy = self.thread is not None and self.thread.is_alive()
        if not busy and ended != self.reported and time.monotonic() - self.finished_at >= self.wait:
            self.reported = ended
            self.thread = threading.Thread(target=self._build, name="live report", daemon=True)
            self.thread.start()

    def join(self) -> None:
        """Wait for a rebuild under way (the caller's final report comes after it); raise its error."""
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error


def execute(jobs: list[Job], executor: Executor, progress: bool = True,
            on_change: Callable[[], None] | None = None, change_interval: float = 10.0) -> dict[str, list[Job]]:
    """Run every unfinished job on ``executor`` (:mod:`harness.executors`), each once its dependencies have
    finished; a failed job never stops the others. A job still queued or running from an earlier orchestrator is
    collected, not started again. ``on_change`` is called when jobs have ended (:class:`Reporter`: in a thread,
    at most every ``change_interval`` seconds and every :data:`CHANGE_SHARE` times its own last duration; the
    report is rebuilt there, so it fills in while the run goes on, without taking the jobs' cores; the caller
    builds the final one). The jobs by outcome: ``cached``, ``finished``, ``failed``."""
    scheduler = Scheduler(jobs, executor, progress)
    reporter = Reporter(on_change, change_interval) if on_change is not None else None
    try:
        while scheduler.todo or scheduler.running:
            scheduler.collect()
            scheduler.start_ready()
            if reporter is not None:
                reporter.check(scheduler.ended())
            time.sleep(0.5)
        if reporter is not None:
            reporter.join()
    except KeyboardInterrupt:
        executor.interrupt([run for _, run, _ in scheduler.running.values()])
        raise
    finally:
        scheduler.bar.close()
    return scheduler.outcome

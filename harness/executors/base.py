"""The contract between the orchestrator and an executor."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Job(Protocol):
    """What an executor reads of an orchestrator's job (:class:`harness.jobs.Job`)."""

    key: str
    run_dir: Path

    @property
    def processes(self) -> int: ...


class Running(Protocol):
    """A started (or adopted) job, as its executor sees it."""

    def ended(self) -> str | None:
        """None while the job is queued or running; once it has ended, how (``exit status 1``, ``Slurm state
        TIMEOUT``...). Whether it succeeded is read from its run folder, not from here."""


class Executor(Protocol):
    """Starts jobs somewhere. The orchestrator keeps the order (a job starts once its dependencies finished) and
    the records; an executor keeps nothing of its own that a re-run could not find again in the run folders."""

    name: str

    def check(self, jobs: list[Job]) -> None:
        """Fail, before anything starts, on a job this executor can never run."""

    def reserve(self, job: Job, running: int) -> bool:
        """Whether ``job`` can start now, with ``running`` jobs under way; if so, what it needs is set aside
        (its GPUs) until :meth:`release`."""

    def start(self, jobs: list[Job]) -> list[Running]:
        """Start reserved jobs whose folders are prepared (``job.json``); one :class:`Running` each."""

    def adopt(self, job: Job) -> Running | None:
        """The job as still queued or running from an earlier orchestrator (never started twice), else None."""

    def release(self, job: Job) -> None:
        """``job`` has ended: what :meth:`reserve` set aside is free again."""

    def interrupt(self, running: list[Running]) -> None:
        """The user pressed Ctrl-C: stop local work, or say what keeps running elsewhere."""

"""The plan's data model: a :class:`Job` (one run, shared by every table cell whose configuration has its key)
and a :class:`Cell` (a table row at one seed, and the job that fills it or why none does). What a job's folder
holds is read through :mod:`harness.store`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import store


@dataclass
class Job:
    """One run, shared by every table cell whose configuration hashes the same."""

    key: str
    task: str
    scale: str
    config: dict[str, Any]
    run_dir: Path
    epochs: int
    cost: float
    cost_unit: str
    cells: list[tuple[str, str, int]] = field(default_factory=list)  # (table id, row name, seed)
    depends_on: list[str] = field(default_factory=list)  # keys of jobs that must finish first
    needed_by: list[str] = field(default_factory=list)  # tables outside the selection whose rows start from it

    def status(self) -> str:
        """``finished``, ``damaged``, ``failed``, ``partial`` or ``pending``: what its folder holds now."""
        return store.run_status(self.run_dir)

    @property
    def processes(self) -> int:
        """Processes the job trains on (a data-parallel job's ``world_size``; one GPU each where there are GPUs)."""
        return int(self.config.get("world_size", 1))

    def progress(self) -> str:
        """``epoch 3/10`` from the job's status file, or ``starting``."""
        return store.run_progress(self.run_dir)


@dataclass
class Cell:
    """A table row at one seed: the job that fills it, or why nothing can."""

    table: str
    row: str
    seed: int | None
    job: Job | None = None
    reason: str | None = None  # "not implemented: ..." or "not run at this scale: ..."
    note: str | None = None  # the job is not this plan's own run but an earlier one of the cell (harness.store)


def cost_left(jobs: list[Job]) -> str:
    """The estimated cost of the unfinished ``jobs``, per unit (``12.0 GPU-h, 3.5 CPU-min``), or ``nothing``."""
    totals: dict[str, float] = {}
    for job in jobs:
        if job.status() != "finished":
            totals[job.cost_unit] = totals.get(job.cost_unit, 0.0) + job.cost
    return ", ".join(f"{v:.1f} {unit}" for unit, v in totals.items()) or "nothing"

"""The results store: the only code that reads or writes run folders (``<results>/<scale>/<key>/``).

A run folder holds what the scheduler asked (``job.json``), the run's own files (checkpoints, ``status.json``,
``log.csv``) and its outcome: ``record.json`` when it finished, ``failure.json`` when it failed. Here: a run's
status, the lock of a results folder, setting a folder aside, writing a job's description and its failure,
every finished run of a scale (:func:`stored_runs`), and whether a record is what this checkout would compute
now (:func:`stale_reason`).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from harness.code_identity import changed_files, executed_sources
from harness.io import atomic_write_json, read_json
from harness.locks import hold_lock
from harness.train.files import DAMAGED_NOTE, FAILURE, RECORD, STATUS


class Job(Protocol):
    """What the store reads of a planned job (:class:`harness.jobs.Job`)."""

    key: str
    task: str
    config: dict[str, Any]
    cells: list[tuple[str, str, int]]
    run_dir: Path

    def status(self) -> str: ...

JOB_FILE = "job.json"  # what the orchestrator asked the run to do: task, configuration, the cells it fills
JOB_LOG = "job.log"
RESULTS_LOCK = ".lock"


def record_is_sound(path: Path) -> bool:
    """Whether a ``record.json`` reads back as a finished run's record (not truncated, not another file); read
    once per version of the file."""
    stat = path.stat()
    return _sound(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4096)
def _sound(path: str, mtime_ns: int, size: int) -> bool:
    record = read_json(Path(path))
    return isinstance(record, dict) and record.get("status") == "finished" and "config" in record


def run_status(run_dir: Path) -> str:
    """``finished``, ``damaged`` (a record that does not read back), ``failed``, ``partial`` (checkpointed) or
    ``pending``."""
    if (run_dir / RECORD).is_file():
        return "finished" if record_is_sound(run_dir / RECORD) else "damaged"
    if (run_dir / FAILURE).is_file():
        return "failed"
    if (run_dir / STATUS).is_file():  # written with each checkpoint by every task
        return "partial"
    return "pending"


def run_progress(run_dir: Path) -> str:
    """``epoch 3/10`` (or the task's own unit) from the run's status file, or ``starting``."""
    try:
        status = json.loads((run_dir / STATUS).read_text())
        return f"{status.get('unit', 'epoch')} {status['epoch']}/{status['epochs']}"
    except (OSError, ValueError, KeyError):
        return "starting"


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's record, or None where it has none (or it does not read back)."""
    return read_json(run_dir / RECORD)


def results_lock(results: Path):
    """One orchestrator per results folder: a second one is refused with a clear message."""
    return hold_lock(Path(results) / RESULTS_LOCK, "run_all.py", "wait for it to finish or use --results elsewhere")


def set_aside(jobs: list[Job], why: str) -> list[tuple[Job, Path]]:
    """Move the folder of each job aside (``<key>.<why>-<time>``, never deleted) so that it runs again from
    nothing: ``damaged`` records (a note left in its place lets the report say why) or ``stale`` ones (made by other
    harness code: the report still reads the record kept aside); (job, where its folder went) for each."""
    moved = []
    for job in jobs:
        aside = job.run_dir.with_name(f"{job.run_dir.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(job.run_dir, aside)
        if why == "damaged":
            atomic_write_json(job.run_dir / DAMAGED_NOTE, {"damaged": str(aside / RECORD), "kept_aside_as": str(aside)})
        moved.append((job, aside))
    return moved


def executed_code(task: str) -> dict[str, str]:
    """The digests of the files a run of ``task`` executes (:func:`harness.code_identity.executed_files`)."""
    from harness.tasks import TASKS

    return _run_code(TASKS[task].runtime_modules)


@lru_cache(maxsize=None)
def _run_code(modules: tuple[str, ...]) -> dict[str, str]:
    return executed_sources(modules)


def prepare_run(job: Job) -> None:
    """Write what a worker reads (``job.json``, with the code the run executes), clear an earlier failure, and
    mark the start in the job's log."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(job.run_dir / JOB_FILE, {"task": job.task, "config": job.config, "key": job.key,
                                               "cells": job.cells, "harness_code": executed_code(job.task)})
    (job.run_dir / FAILURE).unlink(missing_ok=True)
    with open(job.run_dir / JOB_LOG, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start ({job.status()}) ===\n")


def record_failure(job: Job, error_type: str, error: str, **details) -> None:
    """Write the job's ``failure.json`` (the report and the next command read why it failed)."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(job.run_dir / FAILURE, {"status": "failed", "error_type": error_type, "error": error,
                                              "config": job.config, "config_hash": job.key, **details})


def record_crash(job: Job, how: str) -> None:
    """A job that ended without writing failure.json (killed, out of memory, cancelled...) is recorded here."""
    if (job.run_dir / FAILURE).is_file() or (job.run_dir / RECORD).is_file():
        return
    log = job.run_dir / JOB_LOG
    log_tail = log.read_text(errors="replace").splitlines()[-30:] if log.is_file() else []
    record_failure(job, "WorkerExit", how, log_tail=log_tail)


ORIGIN = "origin.json"  # where an imported run came from (harness.bundles)
MADE_ELSEWHERE = "made_elsewhere"  # records of the same run made by others, kept beside this one's


def run_origin(run_dir: Path) -> dict[str, Any] | None:
    """Where an imported run came from (bundle, its digest, the commit and hardware that made it); None for a run
    made here."""
    return read_json(run_dir / ORIGIN)


HERE = "here"  # the origin label of a run made in this results folder


def origin_label(run_dir: Path) -> str:
    """Who made a run, as the report's rows and leaderboard name it: ``here``, or the bundle it was imported from
    (its file name and the start of its SHA-256: two users' bundles may share a file name)."""
    origin = run_origin(run_dir)
    return HERE if origin is None else f"{origin.get('bundle')} {str(origin.get('bundle_sha256'))[:8]}"


@dataclass(frozen=True)
class StoredRun:
    """A finished run found in the results folder."""

    folder: Path
    task: str
    config: dict[str, Any]
    cells: tuple[tuple[str, str, int], ...]  # (table, row, seed) it was run for
    finished_at: float  # its record's modification time
    origin: str = HERE  # who made it (:func:`origin_label`)


def stored_runs(results: Path, scale: str) -> list[StoredRun]:
    """Every run folder of ``results/<scale>`` with a sound record and its ``job.json``, oldest first."""
    folder = Path(results) / scale
    runs = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
        record, job = Path(entry.path) / RECORD, read_json(Path(entry.path) / JOB_FILE)
        if entry.is_dir() and record.is_file() and isinstance(job, dict) and record_is_sound(record):
            cells = tuple((t, r, s) for t, r, s in job.get("cells", []))
            runs.append(StoredRun(Path(entry.path), job.get("task", "classification"), job.get("config", {}), cells,
                                  record.stat().st_mtime, origin_label(Path(entry.path))))
    return sorted(runs, key=lambda run: run.finished_at)


def stale_reason(record: dict[str, Any], current: dict[str, str] | None = None) -> str | None:
    """Why a record was made by other code than this checkout's would run (None: the same code): the files its
    task's run executes (``current``: by default, this checkout's) whose digests differ from the record's."""
    git = record.get("git") or {}
    made_by = (git.get("commit") or "an unknown commit")[:7] + ("+dirty" if git.get("dirty") else "")
    if "harness_code" not in record:
        return f"made by {made_by}, before records named their code"
    changed = changed_files(record["harness_code"],
                            current if current is not None else executed_code(record.get("task", "classification")))
    if not changed:
        return None
    shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
    return f"made by {made_by}; changed since: {shown}"


def other_makings(run_dir: Path) -> list[dict[str, Any]]:
    """The same run as made by others (imported while this folder already held a finished record)."""
    folder = run_dir / MADE_ELSEWHERE
    return [read_json(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def import_run(files: Path, run_dir: Path, origin: dict[str, Any], record: dict[str, Any]) -> str:
    """Put a verified imported run (its unpacked ``files``) under ``run_dir``: ``imported``; where a finished run
    is already there, it is kept as it is and the imported figures are kept beside it (``made twice``); an
    unfinished folder is set aside first (``<key>.superseded-<time>``). Atomic: the folder appears whole."""
    if run_status(run_dir) == "finished":
        if read_record(run_dir) == record:
            return "already here"
        entry = {"origin": origin, "best": record.get("best"), "last": record.get("last")}
        atomic_write_json(run_dir / MADE_ELSEWHERE / f"{origin['bundle_sha256'][:16]}.json", entry)
        return "made twice"
    if run_dir.exists():
        os.replace(run_dir, run_dir.with_name(f"{run_dir.name}.superseded-{time.strftime('%Y%m%d-%H%M%S')}"))
    incoming = run_dir.with_name(f".{run_dir.name}.importing")
    if incoming.exists():
        shutil.rmtree(incoming)
    shutil.copytree(files, incoming)
    atomic_write_json(incoming / ORIGIN, origin)
    os.replace(incoming, run_dir)
    return "imported"

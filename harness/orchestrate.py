"""From tables to finished runs: expand specs into jobs, skip cached ones, run the rest in worker
processes (``--jobs N``), record failures, and resume interrupted jobs from their checkpoints."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from harness.experiments import Table
from harness.errors import HarnessError
from harness.io import atomic_write_json
from harness import worker
from harness.locks import RUN_LOCK, hold_lock, lock_holder
from harness.tasks import TASKS, Unrunnable
from harness.train import FAILURE, RECORD, STATUS


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

    def status(self) -> str:
        if (self.run_dir / RECORD).is_file():
            return "finished"
        if (self.run_dir / FAILURE).is_file():
            return "failed"
        if (self.run_dir / STATUS).is_file():  # written with each checkpoint by every task
            return "partial"
        return "pending"

    def progress(self) -> str:
        try:
            status = json.loads((self.run_dir / STATUS).read_text())
            return f"{status.get('unit', 'epoch')} {status['epoch']}/{status['epochs']}"
        except (OSError, ValueError, KeyError):
            return "starting"


@dataclass
class Cell:
    """A table row at one seed: the job that fills it, or why nothing can."""

    table: str
    row: str
    seed: int | None
    job: Job | None = None
    reason: str | None = None  # "not implemented: ..." or "not run at this scale: ..."


def run_resolver(catalog: dict[str, Table], protocols: dict[str, Any], scale: str, results: Path, overrides: dict[str, Any]):
    """``resolve("T3_imagenet_r50/CutMix", seed) -> (job key, run folder)`` of another table's run at ``scale``
    (a fine-tuning job names the run whose checkpoint it starts from)."""

    def resolve(reference: str, seed: int) -> tuple[str, Path]:
        table_id, _, row_name = reference.partition("/")
        if table_id not in catalog or row_name not in [r.name for r in catalog[table_id].rows]:
            raise HarnessError(f"backbone {reference!r} names no table row")
        table = catalog[table_id]
        row = next(r for r in table.rows if r.name == row_name)
        _, key = TASKS[table.task].configure(table, row, scale, protocols[table.protocol][scale], seed, overrides)
        return key, results / scale / key

    return resolve


def expand(tables: list[Table], protocols: dict[str, Any], scale: str, results: Path, *,
           seeds: list[int] | None = None, methods: list[str] | None = None,
           overrides: dict[str, Any] | None = None, catalog: dict[str, Table] | None = None) -> tuple[list[Job], list[Cell]]:
    """Jobs (deduplicated by configuration hash) and the cells they fill, for ``scale``.

    ``catalog``: every table by id, for rows that start from another table's run (default: ``tables``).
    """
    overrides = dict(overrides or {})
    overrides["resolve_run"] = run_resolver(catalog or {t.id: t for t in tables}, protocols, scale, results, overrides)
    jobs: dict[str, Job] = {}
    cells: list[Cell] = []
    wanted = {m.lower() for m in methods} if methods else None
    for table in tables:
        settings = protocols[table.protocol].get(scale)
        if settings is None:
            raise HarnessError(f"{table.id}: protocol {table.protocol!r} has no {scale!r} scale")
        task = TASKS[table.task]
        for row in table.rows:
            if wanted is not None and (row.method or "").lower() not in wanted and row.name.lower() not in wanted:
                continue
            if row.planned:
                cells.append(Cell(table.id, row.name, None, reason=f"not implemented: {row.planned}"))
                continue
            if "rows" in settings and row.name not in settings["rows"]:
                cells.append(Cell(table.id, row.name, None, reason=f"not run at {scale} scale (it runs {', '.join(settings['rows'])})"))
                continue
            for seed in seeds if seeds is not None else settings["seeds"]:
                try:
                    config, key = task.configure(table, row, scale, settings, seed, overrides)
                except Unrunnable as why:
                    cells.append(Cell(table.id, row.name, seed, reason=f"not run at {scale} scale: {why}"))
                    continue
                if key not in jobs:
                    epochs = task.epochs(config)
                    cost = settings.get("cost", {})
                    jobs[key] = Job(key, table.task, scale, config, results / scale / key, epochs,
                                    cost.get("per_job", 0.0) + cost.get("per_epoch", 0.0) * epochs, cost.get("unit", "?"),
                                    depends_on=task.dependencies(config))
                jobs[key].cells.append((table.id, row.name, seed))
                cells.append(Cell(table.id, row.name, seed, job=jobs[key]))
    if wanted is not None:
        known = {name.lower() for t in tables for r in t.rows for name in (r.name, r.method or "")} - {""}
        unknown = sorted(wanted - known)
        if unknown:
            methods = sorted({r.method for t in tables for r in t.rows if r.method})
            raise HarnessError(f"--methods {' '.join(unknown)}: no row of the selected tables has this method or name "
                               f"(their methods: {', '.join(methods)})")
    return list(jobs.values()), cells


def check_data(jobs: list[Job]) -> None:
    """Fail, with the fix, if any unfinished job's data are missing (each distinct configuration checked once)."""
    seen = set()
    for job in jobs:
        identity = (job.task, json.dumps(job.config, sort_keys=True, default=str))
        if job.status() != "finished" and identity not in seen:
            seen.add(identity)
            TASKS[job.task].check_data(job.config)


def format_plan(jobs: list[Job], cells: list[Cell]) -> str:
    """The job list with status and estimated cost, then the rows that will stay empty and why."""
    lines = [f"{'status':9s} {'job':16s} {'cost':>12s}  {'model':20s} {'method':10s} seed  rows"]
    totals: dict[str, float] = {}
    for job in jobs:
        rows = "; ".join(f"{t}/{r}" for t, r, _ in job.cells)
        cost = f"{job.cost:.2f} {job.cost_unit}"
        lines.append(f"{job.status():9s} {job.key:16s} {cost:>12s}  {job.config.get('model', ''):20s} "
                     f"{job.config.get('method', ''):10s} {job.config.get('seed', ''):>4}  {rows}")
        if job.status() != "finished":
            totals[job.cost_unit] = totals.get(job.cost_unit, 0.0) + job.cost
    for cell in cells:
        if cell.reason:
            lines.append(f"{'-':9s} {'-':16s} {'':>12s}  {cell.table}/{cell.row}: {cell.reason}")
    done = sum(job.status() == "finished" for job in jobs)
    remaining = ", ".join(f"{v:.1f} {unit}" for unit, v in totals.items()) or "nothing"
    lines.append(f"{len(jobs)} jobs ({done} finished); left to run: {remaining} (rough estimate)")
    return "\n".join(lines)


RESULTS_LOCK = ".lock"


def results_lock(results: Path):
    """One orchestrator per results folder: a second one is refused with a clear message."""
    return hold_lock(Path(results) / RESULTS_LOCK, "run_all.py", "wait for it to finish or use --results elsewhere")


def _start(job: Job, threads: int, gpu: str | None = None):
    """Start the job's worker process (see :func:`harness.worker.start`), pinned to ``gpu`` when given."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(job.run_dir / "job.json", {"task": job.task, "config": job.config, "key": job.key, "cells": job.cells})
    (job.run_dir / FAILURE).unlink(missing_ok=True)
    with open(job.run_dir / "job.log", "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start ({job.status()}) ===\n")
    return worker.start(job.run_dir, threads, gpu)


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


def _record_failure(job: Job, error_type: str, error: str, **details) -> None:
    atomic_write_json(job.run_dir / FAILURE, {"status": "failed", "error_type": error_type, "error": error,
                                              "config": job.config, "config_hash": job.key, **details})


def _record_crash(job: Job, returncode: int) -> None:
    """A worker that died without writing failure.json (killed, out of memory...) is recorded here."""
    if (job.run_dir / FAILURE).is_file() or (job.run_dir / RECORD).is_file():
        return
    log_tail = (job.run_dir / "job.log").read_text(errors="replace").splitlines()[-30:]
    _record_failure(job, "WorkerExit", f"worker exited with status {returncode}", log_tail=log_tail)


def execute(jobs: list[Job], workers: int = 1, progress: bool = True,
            on_change: Callable[[], None] | None = None, change_interval: float = 10.0,
            gpus: list[str] | None = None) -> dict[str, list[Job]]:
    """Run every unfinished job, ``workers`` at a time; a failed job never stops the others. ``on_change`` is
    called when jobs have ended, at most every ``change_interval`` seconds (the report is rebuilt there, so it
    fills in while the run goes on; the caller builds the final one). With ``gpus``, at most one job per GPU
    runs at a time, each seeing only its own (``CUDA_VISIBLE_DEVICES``)."""
    todo = [job for job in jobs if job.status() != "finished"]
    outcome: dict[str, list[Job]] = {"cached": [j for j in jobs if j.status() == "finished"], "finished": [], "failed": []}
    free_gpus = list(gpus or [])
    workers = min(workers, len(free_gpus)) if free_gpus else workers
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    running: dict[str, tuple[Job, Any]] = {}  # key -> (job, its worker process, or None while another process runs it)
    pinned: dict[str, str] = {}  # key -> the GPU its worker holds
    by_key = {job.key: job for job in jobs}
    results = jobs[0].run_dir.parent if jobs else Path(".")

    def status_of(key: str) -> str:
        if key in by_key:
            return by_key[key].status()
        return "finished" if (results / key / RECORD).is_file() else "missing"

    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress, dynamic_ncols=True)
    reported, reported_at = 0, time.monotonic()
    try:
        while todo or running:
            for key, (job, process) in list(running.items()):
                if process is None:  # adopted
                    if lock_holder(job.run_dir / RUN_LOCK):
                        continue
                    del running[key]
                    if job.status() == "finished":
                        outcome["finished"].append(job)
                        bar.update(1)
                    else:  # it stopped before the end: resume it here
                        todo.insert(0, job)
                    continue
                if process.exitcode is None:
                    continue
                del running[key]
                if key in pinned:
                    free_gpus.append(pinned.pop(key))
                if process.exitcode == 0 and job.status() == "finished":
                    outcome["finished"].append(job)
                else:
                    _record_crash(job, process.exitcode)
                    outcome["failed"].append(job)
                    tqdm.write(f"FAILED {job.key} ({', '.join(f'{t}/{r}' for t, r, _ in job.cells)}): see {job.run_dir}/job.log")
                bar.update(1)
            while todo and len(running) < workers:
                job, blocked = next_ready(todo, set(running), status_of)
                for stuck, why in blocked:
                    todo.remove(stuck)
                    stuck.run_dir.mkdir(parents=True, exist_ok=True)
                    _record_failure(stuck, "DependencyFailed", why)
                    outcome["failed"].append(stuck)
                    tqdm.write(f"FAILED {stuck.key}: {why}")
                    bar.update(1)
                if job is None:
                    break
                todo.remove(job)
                holder = lock_holder(job.run_dir / RUN_LOCK)
                if holder:  # an earlier orchestrator's worker (or a hand-started one) still runs it: wait for it
                    tqdm.write(f"{job.key}: its folder is in use by {holder}; waiting for it instead of starting a second worker")
                    running[job.key] = (job, None)
                    continue
                gpu = free_gpus.pop(0) if gpus else None
                if gpu is not None:
                    pinned[job.key] = gpu
                running[job.key] = (job, _start(job, threads, gpu))
            bar.set_postfix_str(" | ".join(f"{j.cells[0][1]} {j.progress()}" for j, _ in running.values()))
            ended = len(outcome["finished"]) + len(outcome["failed"])
            if on_change is not None and ended != reported and time.monotonic() - reported_at >= change_interval:
                on_change()
                reported, reported_at = ended, time.monotonic()
            time.sleep(0.5)
    except KeyboardInterrupt:
        started = [process for _, process in running.values() if process is not None]
        for process in started:
            process.terminate()
        for process in started:
            process.join()
        raise
    finally:
        bar.close()
    return outcome

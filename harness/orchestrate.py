"""From tables to finished runs: expand specs into jobs, skip cached ones, run the rest in worker
processes (``--jobs N``), record failures, and resume interrupted jobs from their checkpoints."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from harness.code_identity import current_sources
from harness.errors import DataNotFoundError, HarnessError
from harness.executors.base import Executor, Running
from harness.experiments import Table
from harness.io import atomic_write_json, read_json
from harness.locks import hold_lock
from harness.tasks import TASKS, Unrunnable
from harness.train import FAILURE, RECORD, STATUS
from harness.train.files import DAMAGED_NOTE


def record_is_sound(path: Path) -> bool:
    """Whether a ``record.json`` reads back as a finished run's record (not truncated, not another file); read
    once per version of the file."""
    stat = path.stat()
    return _sound(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4096)
def _sound(path: str, mtime_ns: int, size: int) -> bool:
    record = read_json(Path(path))
    return isinstance(record, dict) and record.get("status") == "finished" and "config" in record


def set_aside(jobs: list["Job"], why: str) -> list[tuple["Job", Path]]:
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
        if (self.run_dir / RECORD).is_file():
            return "finished" if record_is_sound(self.run_dir / RECORD) else "damaged"
        if (self.run_dir / FAILURE).is_file():
            return "failed"
        if (self.run_dir / STATUS).is_file():  # written with each checkpoint by every task
            return "partial"
        return "pending"

    @property
    def processes(self) -> int:
        """Processes the job trains on (a data-parallel job's ``world_size``; one GPU each where there are GPUs)."""
        return int(self.config.get("world_size", 1))

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
    note: str | None = None  # the job is not this plan's own run but an earlier one of the cell (harness.store)


def run_resolver(catalog: dict[str, Table], protocols: dict[str, Any], scale: str, results: Path, overrides: dict[str, Any]):
    """``resolve("T3_imagenet_r50/CutMix", seed) -> (job key, run folder, configuration)`` of another table's run
    at ``scale`` (a fine-tuning job names the run whose checkpoint it starts from, and the network that ran)."""

    def resolve(reference: str, seed: int) -> tuple[str, Path, dict[str, Any]]:
        table_id, _, row_name = reference.partition("/")
        if table_id not in catalog or row_name not in [r.name for r in catalog[table_id].rows]:
            raise HarnessError(f"backbone {reference!r} names no table row")
        table = catalog[table_id]
        row = next(r for r in table.rows if r.name == row_name)
        config, key = TASKS[table.task].configure(table, row, scale, protocols[table.protocol][scale], seed, overrides)
        return key, results / scale / key, config

    return resolve


def row_reason(row, settings: dict[str, Any], scale: str) -> str | None:
    """Why a row has no run at a scale, before any run is configured (None: it runs)."""
    if row.planned:
        return f"not implemented: {row.planned}"
    if "rows" in settings and row.name not in settings["rows"] and not row.candidate:  # a candidate runs wherever
        return f"not run at {scale} scale (it runs {', '.join(settings['rows'])})"  # the rows it is compared with do
    return None


def expand(tables: list[Table], protocols: dict[str, Any], scale: str, results: Path, *,
           seeds: list[int] | None = None, rows: set[tuple[str, str]] | None = None,
           overrides: dict[str, Any] | None = None, catalog: dict[str, Table] | None = None) -> tuple[list[Job], list[Cell]]:
    """Jobs (deduplicated by configuration hash) and the cells they fill, for ``scale``.

    ``rows``: the (table id, row name) to expand (default: every row; see :func:`harness.experiments.select_rows`).
    ``catalog``: every table by id, for rows that start from another table's run (default: ``tables``).
    """
    overrides = dict(overrides or {})
    overrides["resolve_run"] = run_resolver(catalog or {t.id: t for t in tables}, protocols, scale, results, overrides)
    jobs: dict[str, Job] = {}
    cells: list[Cell] = []
    for table in tables:
        settings = protocols[table.protocol].get(scale)
        if settings is None:
            raise HarnessError(f"{table.id}: protocol {table.protocol!r} has no {scale!r} scale")
        task = TASKS[table.task]
        for row in table.rows:
            if rows is not None and (table.id, row.name) not in rows:
                continue
            reason = row_reason(row, settings, scale)
            if reason:
                cells.append(Cell(table.id, row.name, None, reason=reason))
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
    return list(jobs.values()), cells


def backbone_rows(tables: list[Table], catalog: dict[str, Table]) -> dict[str, set[str]]:
    """Table id -> the names of its rows that the rows of ``tables`` start from, directly or through another
    row's backbone, outside ``tables`` (Table 10 -> Table 3's Baseline, Mixup, Cutout and CutMix)."""
    selected, wanted = {t.id for t in tables}, {}
    todo = [row.backbone for table in tables for row in table.rows if row.backbone]
    while todo:
        table_id, _, row_name = todo.pop().partition("/")
        if table_id in selected or row_name in wanted.get(table_id, set()) or table_id not in catalog:
            continue
        wanted.setdefault(table_id, set()).add(row_name)
        todo += [r.backbone for r in catalog[table_id].rows if r.name == row_name and r.backbone]
    return wanted


def with_upstream(jobs: list[Job], tables: list[Table], catalog: dict[str, Table], protocols: dict[str, Any],
                  scale: str, results: Path, **expanding) -> list[Job]:
    """The upstream runs the selected tables' jobs need (their backbones, transitively) and only those, before
    ``jobs``; each marked with the tables that need it. Cached ones are reused as any job."""
    upstream_rows = backbone_rows(tables, catalog)
    upstream_tables = [catalog[t] for t in upstream_rows if scale in protocols[catalog[t].protocol]]
    if not upstream_tables:
        return jobs
    rows = {(table_id, name) for table_id, names in upstream_rows.items() for name in names}
    candidates, _ = expand(upstream_tables, protocols, scale, results, rows=rows, catalog=catalog, **expanding)
    by_key, planned = {job.key: job for job in candidates}, {job.key for job in jobs}
    needed, todo = {}, [(key, job) for job in jobs for key in job.depends_on]
    while todo:
        key, dependent = todo.pop()
        if key in planned or key not in by_key:
            continue
        upstream = needed.setdefault(key, by_key[key])
        for table in dict.fromkeys(dependent.needed_by or [t for t, _, _ in dependent.cells]):
            if table not in upstream.needed_by:
                upstream.needed_by.append(table)
        todo += [(deeper, upstream) for deeper in upstream.depends_on]
    return list(needed.values()) + jobs


def without_missing_runtimes(jobs: list[Job], cells: list[Cell]) -> tuple[list[Job], list[Cell], dict[str, list[Job]]]:
    """``jobs`` and ``cells`` less the unfinished jobs that need what this machine lacks (:meth:`Task.missing_runtime`:
    a Java runtime for captioning's metrics), whose cells give the reason instead, so that every other job runs;
    and the jobs left out, by reason."""
    missing: dict[str, list[Job]] = {}
    for job in jobs:
        reason = None if job.status() == "finished" else TASKS[job.task].missing_runtime(job.config)
        if reason:
            missing.setdefault(reason, []).append(job)
    left_out = {job.key: reason for reason, group in missing.items() for job in group}
    cells = [Cell(c.table, c.row, c.seed, reason=left_out[c.job.key]) if c.job and c.job.key in left_out else c
             for c in cells]
    return [job for job in jobs if job.key not in left_out], cells, missing


def check_data(jobs: list[Job]) -> None:
    """Fail, with the fix, if any unfinished job's data are missing (each distinct configuration checked once)."""
    seen = set()
    for job in jobs:
        identity = (job.task, json.dumps(job.config, sort_keys=True, default=str))
        if job.status() != "finished" and identity not in seen:
            seen.add(identity)
            try:
                TASKS[job.task].check_data(job.config)
            except DataNotFoundError as err:
                raise DataNotFoundError(f"{err} (run_all.py --check-data lists every data set of the plan)") from None


def cost_left(jobs: list[Job]) -> str:
    """The estimated cost of the unfinished ``jobs``, per unit (``12.0 GPU-h, 3.5 CPU-min``), or ``nothing``."""
    totals: dict[str, float] = {}
    for job in jobs:
        if job.status() != "finished":
            totals[job.cost_unit] = totals.get(job.cost_unit, 0.0) + job.cost
    return ", ".join(f"{v:.1f} {unit}" for unit, v in totals.items()) or "nothing"


def format_plan(jobs: list[Job], cells: list[Cell]) -> str:
    """The job list with status and estimated cost, then the rows that will stay empty and why."""
    lines = [f"{'status':9s} {'job':16s} {'cost':>12s}  {'model':20s} {'method':10s} seed  rows"]
    for job in jobs:
        rows = "; ".join(f"{t}/{r}" for t, r, _ in job.cells)
        cost = f"{job.cost:.2f} {job.cost_unit}"
        needed = f" (needed by {', '.join(job.needed_by)})" if job.needed_by else ""
        lines.append(f"{job.status():9s} {job.key:16s} {cost:>12s}  {job.config.get('model', ''):20s} "
                     f"{job.config.get('method', ''):10s} {job.config.get('seed', ''):>4}  {rows}{needed}")
    for cell in cells:
        if cell.reason:
            lines.append(f"{'-':9s} {'-':16s} {'':>12s}  {cell.table}/{cell.row}: {cell.reason}")
    done = sum(job.status() == "finished" for job in jobs)
    lines.append(f"{len(jobs)} jobs ({done} finished); left to run: {cost_left(jobs)} (rough estimate)")
    return "\n".join(lines)


RESULTS_LOCK = ".lock"


def results_lock(results: Path):
    """One orchestrator per results folder: a second one is refused with a clear message."""
    return hold_lock(Path(results) / RESULTS_LOCK, "run_all.py", "wait for it to finish or use --results elsewhere")


def _prepare(job: Job) -> None:
    """Write what a worker reads (``job.json``), clear an earlier failure, and mark the start in the job's log."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(job.run_dir / "job.json", {"task": job.task, "config": job.config, "key": job.key, "cells": job.cells,
                                                 "harness_code": current_sources()})
    (job.run_dir / FAILURE).unlink(missing_ok=True)
    with open(job.run_dir / "job.log", "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start ({job.status()}) ===\n")


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


def _record_crash(job: Job, how: str) -> None:
    """A job that ended without writing failure.json (killed, out of memory, cancelled...) is recorded here."""
    if (job.run_dir / FAILURE).is_file() or (job.run_dir / RECORD).is_file():
        return
    log = job.run_dir / "job.log"
    log_tail = log.read_text(errors="replace").splitlines()[-30:] if log.is_file() else []
    _record_failure(job, "WorkerExit", how, log_tail=log_tail)


def execute(jobs: list[Job], executor: Executor, progress: bool = True,
            on_change: Callable[[], None] | None = None, change_interval: float = 10.0) -> dict[str, list[Job]]:
    """Run every unfinished job on ``executor`` (:mod:`harness.executors`), each once its dependencies have
    finished; a failed job never stops the others. A job still queued or running from an earlier orchestrator is
    collected, not started again. ``on_change`` is called when jobs have ended, at most every
    ``change_interval`` seconds (the report is rebuilt there, so it fills in while the run goes on; the caller
    builds the final one)."""
    todo = [job for job in jobs if job.status() != "finished"]
    outcome: dict[str, list[Job]] = {"cached": [j for j in jobs if j.status() == "finished"], "finished": [], "failed": []}
    running: dict[str, tuple[Job, Running, bool]] = {}  # key -> (job, how it runs, adopted from an earlier orchestrator)
    by_key = {job.key: job for job in jobs}
    results = jobs[0].run_dir.parent if jobs else Path(".")

    def status_of(key: str) -> str:
        if key in by_key:
            return by_key[key].status()
        return "finished" if (results / key / RECORD).is_file() and record_is_sound(results / key / RECORD) else "missing"

    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress, dynamic_ncols=True)
    reported, reported_at = 0, time.monotonic()
    try:
        while todo or running:
            for key, (job, run, adopted) in list(running.items()):
                how = run.ended()
                if how is None:
                    continue
                del running[key]
                executor.release(job)
                if job.status() == "finished":
                    outcome["finished"].append(job)
                elif adopted and job.status() != "failed":  # it stopped before the end: resume it here
                    todo.insert(0, job)
                    continue
                else:
                    _record_crash(job, how)
                    outcome["failed"].append(job)
                    tqdm.write(f"FAILED {job.key} ({', '.join(f'{t}/{r}' for t, r, _ in job.cells)}): see {job.run_dir}/job.log")
                bar.update(1)
            starting: list[Job] = []
            while todo:
                job, blocked = next_ready(todo, set(running) | {j.key for j in starting}, status_of)
                for stuck, why in blocked:
                    todo.remove(stuck)
                    stuck.run_dir.mkdir(parents=True, exist_ok=True)
                    _record_failure(stuck, "DependencyFailed", why)
                    outcome["failed"].append(stuck)
                    tqdm.write(f"FAILED {stuck.key}: {why}")
                    bar.update(1)
                if job is None:
                    break
                found = executor.adopt(job)
                if found is not None:
                    todo.remove(job)
                    running[job.key] = (job, found, True)
                    continue
                if not executor.reserve(job, len(running) + len(starting)):
                    break
                todo.remove(job)
                starting.append(job)
            for job in starting:
                _prepare(job)
            for job, run in zip(starting, executor.start(starting) if starting else []):
                running[job.key] = (job, run, False)
            bar.set_postfix_str(" | ".join(f"{j.cells[0][1]} {j.progress()}" for j, _, _ in running.values()))
            ended = len(outcome["finished"]) + len(outcome["failed"])
            if on_change is not None and ended != reported and time.monotonic() - reported_at >= change_interval:
                on_change()
                reported, reported_at = ended, time.monotonic()
            time.sleep(0.5)
    except KeyboardInterrupt:
        executor.interrupt([run for _, run, _ in running.values()])
        raise
    finally:
        bar.close()
    return outcome

"""From tables to jobs: every selected row at every seed configured by the :class:`~harness.study.Study`, one
:class:`~harness.jobs.Job` per key (cells that configure the same run share it), the upstream runs the rows start
from, and the jobs left out for what this machine lacks. Reads no run folder but through a job's status."""
from __future__ import annotations

from typing import Any

from harness.experiments import Row, Table
from harness.jobs import Cell, Job
from harness.study import Study
from harness.tasks import TASKS, Unrunnable


def row_reason(row: Row, protocol: dict[str, Any], scale: str) -> str | None:
    """Why a row has no run at a scale, before any run is configured (None: it runs)."""
    if row.planned:
        return f"not implemented: {row.planned}"
    if "rows" in protocol and row.name not in protocol["rows"] and not row.candidate:  # a candidate runs wherever
        return f"not run at {scale} scale (it runs {', '.join(protocol['rows'])})"  # the rows it is compared with do
    return None


def _new_job(study: Study, table: Table, config: dict[str, Any], key: str) -> Job:
    task, protocol = TASKS[table.task], study.protocol(table)
    epochs, cost = task.epochs(config), protocol.get("cost", {})
    return Job(key, table.task, study.scale, config, study.run_folder(key), epochs,
               cost.get("per_job", 0.0) + cost.get("per_epoch", 0.0) * epochs, cost.get("unit", "?"),
               depends_on=task.dependencies(config))


def expand(study: Study, tables: list[Table], *, seeds: list[int] | None = None,
           rows: set[tuple[str, str]] | None = None) -> tuple[list[Job], list[Cell]]:
    """Jobs (one per key) and the cells they fill, for the study's scale.

    ``rows``: the (table id, row name) to expand (default: every row; see :func:`harness.experiments.select_rows`).
    ``seeds``: default, each protocol's.
    """
    jobs: dict[str, Job] = {}
    cells: list[Cell] = []
    for table in tables:
        protocol = study.protocol(table)
        for row in table.rows:
            if rows is not None and (table.id, row.name) not in rows:
                continue
            reason = row_reason(row, protocol, study.scale)
            if reason:
                cells.append(Cell(table.id, row.name, None, reason=reason))
                continue
            for seed in seeds if seeds is not None else protocol["seeds"]:
                try:
                    config, key = study.configure(table, row, seed)
                except Unrunnable as why:
                    cells.append(Cell(table.id, row.name, seed, reason=f"not run at {study.scale} scale: {why}"))
                    continue
                if key not in jobs:
                    jobs[key] = _new_job(study, table, config, key)
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


def with_upstream(study: Study, jobs: list[Job], tables: list[Table], seeds: list[int] | None = None) -> list[Job]:
    """The upstream runs the selected tables' jobs need (their backbones, transitively) and only those, before
    ``jobs``; each marked with the tables that need it. Cached ones are reused as any job."""
    upstream_rows = backbone_rows(tables, study.catalog)
    upstream_tables = [study.catalog[t] for t in upstream_rows if study.has_scale(study.catalog[t])]
    if not upstream_tables:
        return jobs
    rows = {(table_id, name) for table_id, names in upstream_rows.items() for name in names}
    upstream_jobs, _ = expand(study, upstream_tables, seeds=seeds, rows=rows)
    by_key, planned = {job.key: job for job in upstream_jobs}, {job.key for job in jobs}
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

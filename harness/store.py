"""The results store: every finished run of a scale in the results folder, by the table cells it filled, and
whether it is what this checkout would compute now.

A scale's report is built over the whole store, not only over the last command's plan: a cell whose planned run
has not finished shows the newest record that filled it (made with other settings or other code, and marked so),
and the rows of candidates profiled earlier come back from their records, without their plugin.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.code_identity import changed_files, current_sources
from harness.experiments import Row, Table
from harness.io import read_json
from harness.orchestrate import Cell, Job, record_is_sound
from harness.train.files import RECORD

JOB_FILE = "job.json"  # what the orchestrator asked the run to do: task, configuration, the cells it fills


@dataclass(frozen=True)
class StoredRun:
    """A finished run found in the results folder."""

    folder: Path
    task: str
    config: dict[str, Any]
    cells: tuple[tuple[str, str, int], ...]  # (table, row, seed) it was run for
    finished_at: float  # its record's modification time

    def as_job(self, scale: str) -> Job:
        """The run as the report reads a job (its folder's record)."""
        return Job(self.folder.name, self.task, scale, self.config, self.folder, 0, 0.0, "",
                   cells=[tuple(cell) for cell in self.cells])


def stored_runs(results: Path, scale: str) -> list[StoredRun]:
    """Every run folder of ``results/<scale>`` with a sound record and its ``job.json``, oldest first."""
    folder = Path(results) / scale
    runs = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
        record, job = Path(entry.path) / RECORD, read_json(Path(entry.path) / JOB_FILE)
        if entry.is_dir() and record.is_file() and isinstance(job, dict) and record_is_sound(record):
            cells = tuple((t, r, s) for t, r, s in job.get("cells", []))
            runs.append(StoredRun(Path(entry.path), job.get("task", "classification"), job.get("config", {}), cells,
                                  record.stat().st_mtime))
    return sorted(runs, key=lambda run: run.finished_at)


def stale_reason(record: dict[str, Any], current: dict[str, str] | None = None) -> str | None:
    """Why a record was made by other harness code than this checkout's (None: the same code)."""
    git = record.get("git") or {}
    made_by = (git.get("commit") or "an unknown commit")[:7] + ("+dirty" if git.get("dirty") else "")
    if "harness_code" not in record:
        return f"made by {made_by}, before records named their code"
    changed = changed_files(record["harness_code"], current if current is not None else current_sources())
    if not changed:
        return None
    shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
    return f"made by {made_by}; changed since: {shown}"


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A job's configuration with a nested training run (``train``) lifted to the top level."""
    return {**{k: v for k, v in config.items() if k != "train"}, **config.get("train", {})}


IGNORED = {"data_root", "device", "num_workers", "plugins", "labels", "compile", "download", "init_from",
           "backbone_checkpoint"}  # where and how a run executed: never a difference in what it computed


def settings_difference(stored: dict[str, Any], planned: dict[str, Any]) -> list[str]:
    """The settings in which a stored run differs from the planned one (``code`` where its method or model code
    does; ``backbone_key`` where it starts from another run)."""
    stored, planned = _flat(stored), _flat(planned)
    return sorted(k for k in set(stored) | set(planned)
                  if k not in IGNORED and json.dumps(stored.get(k), sort_keys=True, default=str)
                  != json.dumps(planned.get(k), sort_keys=True, default=str))


def substitute_note(run: StoredRun, planned: Job) -> str:
    """What a cell shows instead of its planned run, and how that run differs."""
    differs = settings_difference(run.config, planned.config)
    what = "other method or model code" if "code" in differs else "other settings"
    listed = ", ".join(differs) if differs else "the identity's formula"
    return f"{what} than this plan's run ({listed} differ; job {planned.key} is {planned.status()})"


def _newest_by_cell(runs: list[StoredRun]) -> dict[tuple[str, str, int], StoredRun]:
    newest = {}
    for run in runs:  # oldest first: a later run replaces an earlier one
        for cell in run.cells:
            newest[cell] = run
    return newest


def _recorded_row(run: StoredRun, name: str) -> Row:
    """A table row known only from its records (a candidate profiled earlier): its method and parameters."""
    config = run.config.get("train", run.config)
    return Row(name=name, method=config.get("method"), params=dict(config.get("method_params", {})), candidate=True)


def with_stored_runs(tables: list[Table], cells: list[Cell], runs: list[StoredRun],
                     scale: str) -> tuple[list[Table], list[Cell]]:
    """The report's tables and cells over the whole store: each planned cell whose run has not finished filled by
    the newest stored run of that cell (with a note), the stored cells the plan does not have (other seeds,
    candidates profiled earlier) added, and the rows those candidates need added to their tables."""
    newest = _newest_by_cell(runs)
    merged, planned = [], set()
    for cell in cells:
        planned.add((cell.table, cell.row, cell.seed))
        stored = newest.get((cell.table, cell.row, cell.seed))
        if cell.job is not None and cell.job.status() in ("pending", "partial", "failed") and stored is not None:
            cell = replace(cell, job=stored.as_job(scale), note=substitute_note(stored, cell.job))
        merged.append(cell)
    by_id = {table.id: table for table in tables}
    added: dict[str, dict[str, Row]] = {}
    for (table_id, row, seed), run in newest.items():
        if (table_id, row, seed) in planned or table_id not in by_id:
            continue
        merged.append(Cell(table_id, row, seed, job=run.as_job(scale)))
        if row not in {r.name for r in by_id[table_id].rows} and by_id[table_id].candidate is not None:
            added.setdefault(table_id, {}).setdefault(row, _recorded_row(run, row))
    extended = [replace(t, rows=t.rows + tuple(added[t.id].values())) if t.id in added else t for t in tables]
    return extended, merged

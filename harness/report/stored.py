"""The report over the whole store: a scale's report shows every finished run of the results folder, not only the
last command's plan. A cell whose planned run has not finished shows the newest record that filled it (made with
other settings or other code, and marked so), and the rows of candidates profiled earlier come back from their
records, without their plugin."""
from __future__ import annotations

from dataclasses import replace

from harness.experiments import Row, Table
from harness.identity import settings_difference
from harness.jobs import Cell, Job
from harness.store import StoredRun


def stored_job(run: StoredRun, scale: str) -> Job:
    """A stored run as the report reads a job (its folder's record)."""
    return Job(run.folder.name, run.task, scale, run.config, run.folder, 0, 0.0, "",
               cells=[tuple(cell) for cell in run.cells])


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


def unplanned_cells(runs: list[StoredRun],
                    planned: set[tuple[str, str, int]]) -> dict[tuple[str, str, int], tuple[StoredRun, str]]:
    """The stored cells a plan does not have, the newest run of each, under the row name the report gives them:
    the row's own where one origin made its runs, ``row [origin]`` where several did. Two users' runs of a row are
    never averaged together unless their keys are equal (and then they are one run, in one folder). Each with
    the row it was run for."""
    origins: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        for table, row, seed in run.cells:
            if (table, row, seed) not in planned:
                origins.setdefault((table, row), set()).add(run.origin)
    found = {}
    for run in runs:  # oldest first: a later run replaces an earlier one
        for table, row, seed in run.cells:
            if (table, row, seed) not in planned:
                name = row if len(origins[(table, row)]) == 1 else f"{row} [{run.origin}]"
                found[(table, name, seed)] = (run, row)
    return found


def _recorded_row(run: StoredRun, name: str, candidate: bool) -> Row:
    """A table row known only from its records (a candidate profiled earlier, or one origin's runs of a row that
    several origins made): its method and parameters."""
    config = run.config.get("train", run.config)
    return Row(name=name, method=config.get("method"), params=dict(config.get("method_params", {})),
               candidate=candidate)


def with_stored_runs(tables: list[Table], cells: list[Cell], runs: list[StoredRun],
                     scale: str) -> tuple[list[Table], list[Cell]]:
    """The report's tables and cells over the whole store: each planned cell whose run has not finished filled by
    the newest stored run of that cell (with a note), the stored cells the plan does not have (other seeds,
    candidates profiled earlier, a row per origin where several made them: :func:`unplanned_cells`) added, and
    the rows those candidates need added to their tables."""
    newest = _newest_by_cell(runs)
    merged, planned = [], set()
    for cell in cells:
        planned.add((cell.table, cell.row, cell.seed))
        stored = newest.get((cell.table, cell.row, cell.seed))
        if cell.job is not None and cell.job.status() in ("pending", "partial", "failed") and stored is not None:
            cell = replace(cell, job=stored_job(stored, scale), note=substitute_note(stored, cell.job))
        merged.append(cell)
    by_id = {table.id: table for table in tables}
    rows_of = {table.id: {r.name: r for r in table.rows} for table in tables}
    added: dict[str, dict[str, Row]] = {}
    for (table_id, name, seed), (run, row) in unplanned_cells(runs, planned).items():
        if table_id not in by_id:
            continue
        merged.append(Cell(table_id, name, seed, job=stored_job(run, scale)))
        table_rows = rows_of[table_id]
        if name not in table_rows and (by_id[table_id].candidate is not None or row in table_rows):
            candidate = row not in table_rows or table_rows[row].candidate
            added.setdefault(table_id, {}).setdefault(name, _recorded_row(run, name, candidate))
    extended = [replace(t, rows=t.rows + tuple(added[t.id].values())) if t.id in added else t for t in tables]
    return extended, merged

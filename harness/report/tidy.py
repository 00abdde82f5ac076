"""The report's numbers as data: ``results.csv``/``.json`` (one line per run and metric, every run of the scale)
and one CSV per table in the paper's layout (the figures the report prints, rounded as it rounds them).

``pandas.read_csv("reports/<scale>/results.csv")`` gives them back; the lines with ``shown`` true are exactly the
figures behind ``tables.md``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.experiments import Table
from harness.io import atomic_write_text, read_json
from harness.jobs import Cell
from harness.store import StoredRun, origin_label, stale_reason
from harness.train.files import RECORD

DECIMALS = 2  # as the report prints its figures (harness.report.summary.format_measured)
COLUMNS = ["scale", "table", "row", "seed", "method", "params", "model", "dataset", "data_fingerprint", "code",
           "commit", "stale", "job", "run_dir", "origin", "note", "metric", "best", "last", "paper", "shown"]


def _run_fields(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What every line of one run says about where it came from."""
    config = record["config"].get("train", record["config"])
    git = record.get("git") or {}
    return {"method": config.get("method"), "params": json.dumps(config.get("method_params", {}), sort_keys=True),
            "model": config.get("model"), "dataset": config.get("dataset", record["config"].get("evaluation")),
            "data_fingerprint": record.get("data_fingerprint") or config.get("data_fingerprint"),
            "code": config.get("code"), "commit": git.get("commit"), "stale": stale_reason(record) or "",
            "job": folder.name, "run_dir": str(folder), "origin": origin_label(folder)}


def _lines(table: Table, row: str, seed: int | None, record: dict[str, Any], folder: Path, paper: dict[str, Any],
           scale: str, shown: bool, note: str | None) -> list[dict[str, Any]]:
    fields = _run_fields(record, folder)
    return [{"scale": scale, "table": table.id, "row": row, "seed": seed, **fields, "note": note or "",
             "metric": metric, "best": record["best"].get(metric), "last": record["last"].get(metric),
             "paper": paper.get((row, metric)), "shown": shown} for metric in table.metrics]


def _paper_figures(frame: pd.DataFrame, table: Table) -> dict[tuple[str, str], float]:
    return {(line["row"], metric): line[f"{metric}.paper"] for _, line in frame.iterrows() for metric in table.metrics
            if line[f"{metric}.paper"] is not None and not pd.isna(line[f"{metric}.paper"])}


def results_frame(tables: list[Table], frames: dict[str, pd.DataFrame], cells: list[Cell], runs: list[StoredRun],
                  scale: str) -> pd.DataFrame:
    """One line per (run, table cell, metric): the report's runs (``shown``) and every other stored run of the
    scale (an earlier code version, other settings) for the cells it was run for."""
    lines, used = [], set()
    by_id = {table.id: table for table in tables}
    papers = {table.id: _paper_figures(frames[table.id], table) for table in tables}
    for cell in cells:
        record = read_json(cell.job.run_dir / RECORD) if cell.job and cell.table in by_id else None
        if record and record.get("status") == "finished":
            used.add((cell.job.run_dir, cell.table, cell.row))
            lines += _lines(by_id[cell.table], cell.row, cell.seed, record, cell.job.run_dir, papers[cell.table],
                            scale, True, cell.note)
    for run in runs:
        record = None
        for table_id, row, seed in run.cells:
            if table_id in by_id and (run.folder, table_id, row) not in used:
                record = record or read_json(run.folder / RECORD)
                lines += _lines(by_id[table_id], row, seed, record, run.folder, papers[table_id], scale, False, None)
    return pd.DataFrame(lines, columns=COLUMNS)


def paper_layout(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """A table as the paper lays it out: a line per row, for each metric the paper's figure and the measured
    best epoch (mean, std, seeds) and last epoch, rounded as the report prints them."""
    columns: dict[str, Any] = {"row": frame["row"]}
    for metric in table.metrics:
        for name, source in (("paper", "paper"), ("best", "best"), ("best_std", "best_std"), ("last", "last"),
                             ("last_std", "last_std")):
            columns[f"{metric} {name}"] = pd.to_numeric(frame[f"{metric}.{source}"], errors="coerce").round(DECIMALS)
        columns[f"{metric} n"] = frame[f"{metric}.n"]
    columns["status"] = frame["status"]
    return pd.DataFrame(columns)


def write_tidy(tables: list[Table], frames: dict[str, pd.DataFrame], cells: list[Cell], runs: list[StoredRun],
               scale: str, out_dir: Path) -> dict[str, Path]:
    """``results.csv``, ``results.json`` and ``tables/<table id>.csv`` under ``out_dir``."""
    frame = results_frame(tables, frames, cells, runs, scale)
    written = {"csv": atomic_write_text(out_dir / "results.csv", frame.to_csv(index=False)),
               "json": atomic_write_text(out_dir / "results.json", frame.to_json(orient="records", indent=1))}
    for table in tables:
        atomic_write_text(out_dir / "tables" / f"{table.id}.csv", paper_layout(table, frames[table.id]).to_csv(index=False))
    return written

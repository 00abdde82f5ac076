"""The runs behind a table's means, seed by seed: each run's best and last figure, the mean of its last epochs,
and its clean fit of its own training images, for tables whose rows ran more than one seed (the mini scale's comparison, a paper-scale table)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from harness.experiments import Table

TAIL_EPOCHS = 10  # the mini comparison's deciding figure: the mean of the last 10 epochs (docs/evidence.md)


def tail_mean(record: dict[str, Any], metric: str) -> float | None:
    """The mean of ``metric`` over a run's last :data:`TAIL_EPOCHS` epochs: a figure not selected on the test set
    (the best epoch is) and steadier than the last epoch alone; None for a run without such a curve."""
    curve = record.get("curve") or []
    values = [row[metric] for row in curve[-TAIL_EPOCHS:] if row.get(metric) is not None]
    return sum(values) / len(values) if len(curve) >= TAIL_EPOCHS and len(values) == TAIL_EPOCHS else None


def seed_records(row_cells: list, records_by_run: dict) -> dict[int, dict[str, Any]]:
    """Seed -> the record of that seed's run, for one row's cells (``records_by_run``: run folder -> record)."""
    return {cell.seed: records_by_run[cell.job.run_dir] for cell in row_cells
            if cell.job and records_by_run.get(cell.job.run_dir)}


def by_seed(line: pd.Series, metric: str, which: str = "best") -> dict[int, float]:
    """Seed -> a row's figure of ``metric``: its best epoch's, or (``which="tail"``) its :func:`tail_mean`."""
    figures = {seed: record["best"].get(metric) if which == "best" else tail_mean(record, metric)
               for seed, record in line["by_seed"].items()}
    return {seed: value for seed, value in figures.items() if value is not None}


def seed_rows(table: Table, frame: pd.DataFrame) -> list[dict[str, str]]:
    """One line per row and seed (the headline metric's best epoch and figure, its last, the clean training
    error and loss); empty where no row ran two seeds, as the table's own lines then say it all."""
    if not frame["by_seed"].map(len).gt(1).any():
        return []
    metric, lines = table.metrics[0], []
    for _, line in frame.iterrows():
        for seed, record in sorted(line["by_seed"].items()):
            best, clean = record["best"], record.get("train_clean")
            if best.get(metric) is None:
                continue
            epoch = f" (epoch {best['epoch']})" if best.get("epoch") is not None else ""
            tail = tail_mean(record, metric)
            lines.append({"Row": line["row"], "Seed": str(seed), f"{metric} best": f"{best[metric]:.2f}{epoch}",
                          f"{metric} last": f"{record['last'][metric]:.2f}",
                          f"{metric} last {TAIL_EPOCHS} epochs": "—" if tail is None else f"{tail:.2f}",
                          "clean train err / loss": f"{clean['top1_err']:.2f} / {clean['loss']:.3f}" if clean else "—"})
    return lines

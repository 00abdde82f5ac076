"""The runs behind a table's means, seed by seed: each run's best and last figure and its clean fit of its own
training images, for tables whose rows ran more than one seed (the mini scale's comparison, a paper-scale table)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from harness.experiments import Table


def seed_records(row_cells: list, records_by_run: dict) -> dict[int, dict[str, Any]]:
    """Seed -> the record of that seed's run, for one row's cells (``records_by_run``: run folder -> record)."""
    return {cell.seed: records_by_run[cell.job.run_dir] for cell in row_cells
            if cell.job and records_by_run.get(cell.job.run_dir)}


def best_by_seed(line: pd.Series, metric: str) -> dict[int, float]:
    """Seed -> a row's best-epoch figure of ``metric``."""
    return {seed: record["best"][metric] for seed, record in line["by_seed"].items()
            if record["best"].get(metric) is not None}


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
            lines.append({"Row": line["row"], "Seed": str(seed), f"{metric} best": f"{best[metric]:.2f}{epoch}",
                          f"{metric} last": f"{record['last'][metric]:.2f}",
                          "clean train err / loss": f"{clean['top1_err']:.2f} / {clean['loss']:.3f}" if clean else "—"})
    return lines

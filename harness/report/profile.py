"""A candidate's profile: each of its figures (the metrics the tables' ``candidate:`` blocks name) beside
Baseline, Mixup, Cutout and CutMix, its rank, its distance to CutMix in seed sigma, one figure of where it wins
and loses, and the same numbers as CSV and JSON beside the report."""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.experiments import COMPARED, Table
from harness.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.jobs import Cell
from harness.plotting import figure_png, pyplot
from harness.report.summary import format_measured, lower_is_better
from harness.tasks import TASKS

PROFILE_NOTE = ("One line per metric: the candidate's measured figure beside the paper's four compared methods in the "
                "same table (best epoch where there is one; mean ± std over seeds), its rank among them (1 = best, in "
                "the metric's own direction) and its difference to CutMix, in the metric's points and in units of the "
                "two rows' pooled seed standard deviation √((s²+s²_CutMix)/2) where both have at least two seeds. "
                "Every downstream row starts from the candidate's own upstream run, as the paper's rows do.")


def candidate_labels(tables: list[Table]) -> list[str]:
    """The labels of the candidates that have rows in ``tables``, in their order on the command line."""
    return list(dict.fromkeys(row.name for table in tables for row in table.rows if row.candidate))


def slug(label: str) -> str:
    """A file-name-safe form of a candidate's label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def profile_lines(tables: list[Table], frames: dict[str, pd.DataFrame], cells: list[Cell], label: str) -> list[dict[str, Any]]:
    """Tidy records, one per (profile metric, method): table, metric, its label and direction, the method
    (Baseline/Mixup/Cutout/CutMix/the candidate), the table's row, mean, std, n, the runs' job keys and the rank
    among the five (None where unmeasured)."""
    records = []
    for table in tables:
        if table.candidate is None or label not in [r.name for r in table.rows]:
            continue
        rows = {**table.candidate.compare, label: label}
        frame = frames[table.id].set_index("row")
        runs = {row: ";".join(sorted({c.job.key for c in cells if c.table == table.id and c.row == row and c.job}))
                for row in rows.values()}
        for metric in table.candidate.profile:
            group = []
            for method, row in rows.items():
                line = frame.loc[row]
                n = int(line[f"{metric}.n"])
                group.append({"candidate": label, "table": table.id, "metric": metric,
                              "metric_label": TASKS[table.task].metrics[metric], "higher_is_better": not lower_is_better(metric),
                              "method": method, "row": row, "mean": line[f"{metric}.best"] if n else None,
                              "std": line[f"{metric}.best_std"] if n else None, "n": n, "runs": runs[row]})
            means = pd.Series([g["mean"] for g in group], dtype=float)
            ranks = means.rank(ascending=lower_is_better(metric), method="min")
            for entry, rank in zip(group, ranks):
                entry["rank"] = None if math.isnan(rank) else int(rank)
            records.extend(group)
    return records


def versus_cutmix(candidate: dict[str, Any], cutmix: dict[str, Any]) -> str:
    """The candidate − CutMix in points, and in pooled seed σ where both have two seeds or more."""
    if not candidate["n"] or not cutmix["n"]:
        return "—"
    difference = candidate["mean"] - cutmix["mean"]
    if candidate["n"] < 2 or cutmix["n"] < 2:
        return f"{difference:+.2f} (σ: needs 2 seeds)"
    sigma = math.sqrt((candidate["std"] ** 2 + cutmix["std"] ** 2) / 2)
    return f"{difference:+.2f} ({difference / sigma:+.1f} σ)" if sigma > 0 else f"{difference:+.2f} (σ = 0)"


def by_metric(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The records grouped per (table, metric), in order; each group in the order compared methods, candidate."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["table"], record["metric"]), []).append(record)
    return list(groups.values())


def profile_rows(records: list[dict[str, Any]], label: str) -> list[dict[str, str]]:
    """The profile table's formatted cells: one row per metric."""
    rows = []
    for group in by_metric(records):
        named = {r["method"]: r for r in group}
        mine = named[label]
        cells = {"Metric": f"{mine['metric_label']} {'↑' if mine['higher_is_better'] else '↓'}", "Table": mine["table"]}
        cells.update({method: format_measured(named[method]["mean"], named[method]["std"], named[method]["n"])
                      for method in COMPARED})
        cells[f"{label} (candidate)"] = format_measured(mine["mean"], mine["std"], mine["n"])
        measured = sum(r["rank"] is not None for r in group)
        cells["rank"] = f"{mine['rank']} of {measured}" if mine["rank"] is not None else "—"
        cells["− CutMix (points, σ)"] = versus_cutmix(mine, named["CutMix"])
        rows.append(cells)
    return rows


def _gain(record: dict[str, Any], base: dict[str, Any]) -> tuple[float, float]:
    """(improvement over the baseline in the metric's good direction, its standard error or 0)."""
    if not record["n"] or not base["n"]:
        return math.nan, 0.0
    sign = 1.0 if record["higher_is_better"] else -1.0
    error = 0.0
    if min(record["n"], base["n"]) >= 2:
        error = math.sqrt(record["std"] ** 2 / record["n"] + base["std"] ** 2 / base["n"])
    return sign * (record["mean"] - base["mean"]), error


def profile_figure(records: list[dict[str, Any]], label: str, scale: str) -> bytes | None:
    """Grouped bars, one group per metric: each method's improvement over Baseline in that metric's good
    direction (up = better, error bars = SE over seeds where there are two or more), the candidate in red."""
    groups = [g for g in by_metric(records) if any(r["n"] for r in g)]
    if not groups:
        return None
    methods = [m for m in COMPARED if m != "Baseline"] + [label]
    colours = {"Mixup": "#9ecae1", "Cutout": "#c7e9c0", "CutMix": "#6baed6", label: "#d62728"}
    fig, ax = pyplot().subplots(figsize=(max(6.0, 0.7 * len(groups) + 2), 4.2))
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        gains = [_gain(*(next(r for r in g if r["method"] == m) for m in (method, "Baseline"))) for g in groups]
        positions = [p + (index - (len(methods) - 1) / 2) * width for p in range(len(groups))]
        errors = [g[1] for g in gains]
        ax.bar(positions, [g[0] for g in gains], width, yerr=errors if any(errors) else None, capsize=2,
               color=colours[method], edgecolor="black" if method == label else "none", linewidth=0.6, label=method)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)), [f"{g[0]['table']}\n{g[0]['metric']}" for g in groups], fontsize=7, rotation=45,
                  ha="right")
    ax.set_ylabel("better than Baseline by (points)")
    ax.set_title(f"{label}: difference to Baseline per metric, up = better [{scale} scale]", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=len(methods))
    return figure_png(fig)


def write_profile(tables: list[Table], frames: dict[str, pd.DataFrame], cells: list[Cell], scale: str,
                  out_dir: Path, cache: dict[str, Any]) -> list[dict[str, Any]]:
    """For each candidate: ``profile_<label>.csv`` and ``.json`` and its figure under ``out_dir`` (the figure
    redrawn only when its numbers changed, through ``cache``), and the section the report shows."""
    sections = []
    for label in candidate_labels(tables):
        records = profile_lines(tables, frames, cells, label)
        if not records:  # none of the selected tables gives the profile a metric
            continue
        name = slug(label)
        frame = pd.DataFrame(records)
        csv = atomic_write_text(out_dir / f"profile_{name}.csv", frame.to_csv(index=False))
        rows = profile_rows(records, label)
        atomic_write_json(out_dir / f"profile_{name}.json", {"candidate": label, "scale": scale, "records": records,
                                                              "table": rows})
        digest = hashlib.sha256((json.dumps(records, sort_keys=True, default=str) + scale).encode()).hexdigest()
        figure = f"figures/profile_{name}_{scale}.png"
        if cache.get(figure) != digest or not (out_dir / figure).is_file():
            png = profile_figure(records, label, scale)
            if png is None:
                figure = None
            else:
                atomic_write_bytes(out_dir / figure, png)
                cache[figure] = digest
        sections.append({"label": label, "rows": rows, "records": records, "figure": figure, "csv": csv.name,
                         "json": f"profile_{name}.json", "note": PROFILE_NOTE})
    return sections

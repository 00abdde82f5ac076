"""One leaderboard over many users' results (``run_all.py --report-only --import A --import B``): every stored
run of the report's tables, one line per (table, row, origin, metric) with its seeds, mean ± std and rank, and
the candidates' profiles side by side. Runs of a row by different origins are lines of their own: they are one
run only where their keys are equal (one folder, the run made twice)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.experiments import COMPARED, Table
from harness.io import atomic_write_text, read_json
from harness.report.profile import by_metric, versus_cutmix
from harness.report.summary import format_measured, lower_is_better
from harness.store import HERE, StoredRun
from harness.train.files import RECORD

COLUMNS = ["table", "row", "origin", "metric", "n", "seeds", "best", "best_std", "last", "last_std", "rank", "jobs"]
NOTE = ("Every stored run of these tables, one line per table row, origin and metric: `here` for runs made in this "
        "results folder, else the bundle each was imported from. Origins are never averaged together: a run two "
        "origins made under the same key is one run (see \"The same run made twice\"). The newest run of each seed; "
        "mean ± std over seeds of the best epoch (and of the last); rank among the lines of the metric (1 = best, "
        "in the metric's own direction).")


def _newest_by_seed(tables: list[Table], runs: list[StoredRun]) -> dict[tuple[str, str, str, int], StoredRun]:
    by_id = {table.id for table in tables}
    newest = {}
    for run in runs:  # oldest first
        for table, row, seed in run.cells:
            if table in by_id:
                newest[(table, row, run.origin, seed)] = run
    return newest


def run_lines(tables: list[Table], runs: list[StoredRun]) -> pd.DataFrame:
    """One line per (table, row, origin, seed, metric): the newest stored run's best and last figure."""
    metrics = {table.id: table.metrics for table in tables}
    lines = []
    for (table, row, origin, seed), run in _newest_by_seed(tables, runs).items():
        record = read_json(run.folder / RECORD) or {}
        best, last = record.get("best") or {}, record.get("last") or {}
        lines += [{"table": table, "row": row, "origin": origin, "seed": seed, "metric": metric,
                   "best": best.get(metric), "last": last.get(metric), "job": run.folder.name}
                  for metric in metrics[table]]
    return pd.DataFrame(lines, columns=["table", "row", "origin", "seed", "metric", "best", "last", "job"])


def leaderboard_frame(tables: list[Table], runs: list[StoredRun]) -> pd.DataFrame:
    """The leaderboard: per (table, row, origin, metric) the seeds, mean and std of best and last, and the rank
    among the metric's lines."""
    lines = run_lines(tables, runs)
    if lines.empty:
        return pd.DataFrame(columns=COLUMNS)
    lines[["best", "last"]] = lines[["best", "last"]].apply(pd.to_numeric, errors="coerce")
    frame = (lines.groupby(["table", "row", "origin", "metric"], sort=False)
             .agg(n=("seed", "nunique"), seeds=("seed", lambda s: " ".join(map(str, sorted(set(s))))),
                  best=("best", "mean"), best_std=("best", "std"), last=("last", "mean"), last_std=("last", "std"),
                  jobs=("job", lambda s: " ".join(sorted(set(s)))))
             .reset_index())
    frame["rank"] = [None] * len(frame)
    for (_, metric), group in frame.groupby(["table", "metric"], sort=False):
        frame.loc[group.index, "rank"] = group["best"].rank(ascending=lower_is_better(metric), method="min")
    return frame[COLUMNS]


def leaderboard_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The report's leaderboard table: per table and metric, its lines by rank."""
    rows = []
    for _, group in frame.groupby(["table", "metric"], sort=False):
        for _, line in group.sort_values("rank", na_position="last").iterrows():
            n = int(line["n"])
            rows.append({"Table": line["table"], "Row": line["row"], "Origin": line["origin"],
                         "Metric": line["metric"], "Seeds": line["seeds"],
                         "Best epoch": format_measured(line["best"], line["best_std"], n),
                         "Last epoch": format_measured(line["last"], line["last_std"], n),
                         "Rank": "—" if pd.isna(line["rank"]) else str(int(line["rank"]))})
    return rows


def profiles_side_by_side(profiles: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every candidate's profile in one table: a line per method (the paper's four compared methods, then each
    candidate), a column per profile metric; a candidate's cell adds its rank and its difference to CutMix."""
    if len(profiles) < 2:
        return []
    columns: dict[str, dict[str, str]] = {}
    for profile in profiles:
        for group in by_metric(profile["records"]):
            named = {record["method"]: record for record in group}
            mine = named[profile["label"]]
            column = columns.setdefault(f"{mine['table']} {mine['metric_label']}", {})
            for method in COMPARED:
                column.setdefault(method, format_measured(named[method]["mean"], named[method]["std"], named[method]["n"]))
            rank = f"#{mine['rank']}" if mine["rank"] is not None else "#—"
            column[profile["label"]] = (f"{format_measured(mine['mean'], mine['std'], mine['n'])} ({rank}, CutMix "
                                        f"{versus_cutmix(mine, named['CutMix'])})")
    methods = [*COMPARED, *(profile["label"] for profile in profiles)]
    return [{"Method": method, **{name: column.get(method, "—") for name, column in columns.items()}}
            for method in methods]


def write_leaderboard(tables: list[Table], runs: list[StoredRun], profiles: list[dict[str, Any]],
                      out_dir: Path) -> dict[str, Any]:
    """``leaderboard.csv`` under ``out_dir``, and the report's section: shown where any run was imported or
    several candidates are profiled."""
    frame = leaderboard_frame(tables, runs)
    path = atomic_write_text(Path(out_dir) / "leaderboard.csv", frame.to_csv(index=False))
    imported = any(run.origin != HERE for run in runs)
    return {"csv": path.name, "note": NOTE, "rows": leaderboard_rows(frame) if imported else [],
            "profiles": profiles_side_by_side(profiles)}

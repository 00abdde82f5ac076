"""``run_all.py --compare OTHER_RESULTS``: this results folder's figures beside another's (before and after a
code change, another cluster, a colleague's), cell by cell: both figures, their difference, and whether it lies
within the seeds' noise. The other side is the newest run of each cell in OTHER_RESULTS/<scale>."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.experiments import Table
from harness.io import atomic_write_text
from harness.jobs import Cell
from harness.report.summary import difference_se, format_measured, markdown_table
from harness.report.stored import with_stored_runs
from harness.store import stored_runs

NOISE_SE = 2.0  # a difference beyond two standard errors of the two means is not seed noise


def verdict(here: tuple[float, float, int], there: tuple[float, float, int]) -> str:
    """Whether two cells' means (mean, std, seeds) differ beyond the seeds' noise, or which side lacks the cell."""
    (mean, std, n), (other, other_std, other_n) = here, there
    if not n or not other_n:
        return "only here" if n else "only there"
    difference = mean - other
    if difference == 0:
        return "the same"
    if n < 2 and other_n < 2:
        return "differs (one seed: noise unknown)"
    borrowed = n < 2 or other_n < 2  # one side's seed spread stands for both: the same protocol, the same noise
    if borrowed:
        std = other_std = other_std if n < 2 else std
    error = difference_se(std, n, other_std, other_n)
    if error == 0:
        return "differs (no spread over seeds)"
    ratio = abs(difference) / error
    how = f"{ratio:.1f} SE" + (", one side's spread" if borrowed else "")
    return f"within noise ({how})" if ratio <= NOISE_SE else f"differs ({how})"


def _cell(line: pd.Series, metric: str) -> tuple[float, float, int]:
    n = int(line[f"{metric}.n"])
    return (line[f"{metric}.best"], line[f"{metric}.best_std"], n) if n else (math.nan, math.nan, 0)


def compare_lines(tables: list[Table], here: dict[str, pd.DataFrame], there: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """One line per (table, row, metric) measured on either side: both figures, the difference and the verdict."""
    lines = []
    for table in tables:
        mine, theirs = here[table.id].set_index("row"), there[table.id].set_index("row")
        for row in mine.index:
            for metric in table.metrics:
                a, b = _cell(mine.loc[row], metric), _cell(theirs.loc[row], metric)
                if a[2] or b[2]:
                    lines.append({"table": table.id, "row": row, "metric": metric,
                                  "here": format_measured(a[0], a[1], a[2]), "there": format_measured(b[0], b[1], b[2]),
                                  "difference": f"{a[0] - b[0]:+.2f}" if a[2] and b[2] else "—",
                                  "verdict": verdict(a, b)})
    return lines


def write_comparison(tables: list[Table], cells: list[Cell], table_frame, other: Path, scale: str,
                     out_dir: Path) -> tuple[Path, str]:
    """``compare.md`` and ``compare.csv`` under ``out_dir`` for the report's ``tables`` (this side's ``cells``)
    against the newest runs of each cell in ``other``; (the markdown's path, a one-line summary). ``table_frame``
    is the report's own (table, cells) -> frame, so both sides are summarised alike."""
    runs = stored_runs(other, scale)
    tables, theirs = with_stored_runs(tables, [], runs, scale)  # rows only the other side has join the tables
    here = {t.id: table_frame(t, cells) for t in tables}
    there = {t.id: table_frame(t, theirs) for t in tables}
    lines = compare_lines(tables, here, there)
    frame = pd.DataFrame(lines, columns=["table", "row", "metric", "here", "there", "difference", "verdict"])
    atomic_write_text(out_dir / "compare.csv", frame.to_csv(index=False))
    counts = frame.verdict.map(lambda v: v.split(" (")[0]).value_counts().to_dict() if len(frame) else {}
    summary = ", ".join(f"{count} {what}" for what, count in sorted(counts.items())) or "no cell measured on either side"
    header = (f"# Comparison — {scale} scale\n\nHere: this results folder. There: `{other}` ({len(runs)} runs). "
              f"Figures: best epoch, mean ± std (n seeds); difference = here − there; *within noise* where it is at "
              f"most {NOISE_SE:g} standard errors of the two means (√(s²/n + s'²/n'), from two seeds on each side; where one "
              f"side has a single seed, the other side's spread stands for both: s·√(1/n + 1/n'), *one side's spread*).\n\n"
              f"{summary}.\n\n")
    return atomic_write_text(out_dir / "compare.md", header + (markdown_table(lines) if lines else "") + "\n"), summary

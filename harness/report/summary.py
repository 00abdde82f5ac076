"""What reproduced: for each table, does each method move the metric the paper's way, how far is each cell
from the paper in units of its seed spread, and do the measured and published orderings agree."""
from __future__ import annotations

import math
import re
import statistics
from typing import Any

import pandas as pd
from markupsafe import Markup, escape

LEGEND = (
    "How to read this: each table's first metric is compared with the paper. **Sign** counts the methods whose "
    "measured difference to the table's baseline goes the same way as the paper's (e.g. CutMix lowers the error "
    "in both). **ρ** is Spearman's rank correlation between the measured and the published figures over the rows "
    "that have both (1: the same ordering, 0: unrelated, −1: reversed; shown from 3 rows). **distance (σ)** is the "
    "median distance between a measured cell and the paper's figure in units of that cell's standard deviation "
    "over seeds (shown only where a cell has at least two seeds; about 2 or less is within seed noise). "
    "In each table, **− baseline ± SE** is a row's best-epoch difference to the table's baseline with its "
    "standard error over seeds (√(s²/n + s_b²/n_b), from two seeds on each side) and a verdict: the effect is "
    "*shown* (better by more than 2 SE), *not shown*, or *reversed* (worse by more than 2 SE); **paired** is "
    "the same from the differences seed by seed (a run against the baseline's run of the same seed), where "
    "two seeds or more are in common. **paper: − baseline** is the paper's own difference: the direction to "
    "compare with. "
    "A scale other than `paper` trains other models on other data for less time: there the sign and the "
    "ordering are the evidence, not the figures."
)


def markdown_to_html(text: str) -> Markup:
    """The legend's inline markdown (``**bold**``, ```code```) as HTML, everything else escaped."""
    html = str(escape(text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    html = re.sub(r"\*(.+?)\*", r"<em>\1</em>", html)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", html))


def std_units(measured: float | None, std: float | None, n: int, paper: float | None) -> float | None:
    """(measured − paper) / seed std, or None without a paper figure, two seeds or any spread."""
    if measured is None or paper is None or n < 2 or not std or _missing(measured) or _missing(paper):
        return None
    return (measured - paper) / std


def format_measured(value: float | None, std: float | None = None, n: int | None = None) -> str:
    """``12.34``; with seeds ``12.34 ± 0.56 (n=3)``, the spread shown only where there are two or more."""
    if _missing(value):
        return "—"
    text = f"{value:.2f}"
    if n:
        text += f" ± {std:.2f} (n={n})" if n >= 2 and std is not None else f" (n={n})"
    return text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def table_summary(metric: str, baseline: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Sign agreement, rank correlation and median std-units distance of one table's ``frame`` (one line per
    row, columns ``row``, ``<metric>.best``, ``<metric>.best_std``, ``<metric>.n``, ``<metric>.paper``)."""
    measured, paper = frame[f"{metric}.best"], frame[f"{metric}.paper"]
    both = frame[measured.notna() & paper.notna()]
    base = both[both.row == baseline]
    signs = []
    if not base.empty:
        base_measured, base_paper = base[f"{metric}.best"].iloc[0], base[f"{metric}.paper"].iloc[0]
        for _, line in both[both.row != baseline].iterrows():
            paper_delta = line[f"{metric}.paper"] - base_paper
            if paper_delta != 0:
                signs.append((line[f"{metric}.best"] - base_measured) * paper_delta > 0)
    rho = None
    if len(both) >= 3 and both[f"{metric}.best"].nunique() > 1 and both[f"{metric}.paper"].nunique() > 1:
        ranks = both[[f"{metric}.best", f"{metric}.paper"]].astype(float).rank()  # Spearman's ρ: Pearson's of the ranks
        rho = float(ranks[f"{metric}.best"].corr(ranks[f"{metric}.paper"]))  # (pandas' own would import SciPy: 2 s)
    distances = [abs(u) for u in (std_units(line[f"{metric}.best"], line[f"{metric}.best_std"], int(line[f"{metric}.n"]),
                                            line[f"{metric}.paper"]) for _, line in both.iterrows()) if u is not None]
    return {"compared": len(both), "sign_agree": sum(signs), "sign_total": len(signs), "rho": rho,
            "std_units": float(pd.Series(distances).median()) if distances else None,
            "seeds": int(both[f"{metric}.n"].min()) if len(both) else 0}


def format_summary_row(summary: dict[str, Any]) -> dict[str, str]:
    """The summary's cells as text."""
    sign = f"{summary['sign_agree']}/{summary['sign_total']}" if summary["sign_total"] else "—"
    rho = f"{summary['rho']:+.2f}" if summary["rho"] is not None else "—"
    units = f"{summary['std_units']:.1f}" if summary["std_units"] is not None else "— (1 seed)" if summary["compared"] else "—"
    return {"compared with paper": str(summary["compared"]), "sign as paper": sign, "ρ": rho, "distance (σ)": units}


def lower_is_better(metric: str) -> bool:
    """Errors go down when a method helps; accuracies, mAP, BLEU and AUROC go up."""
    return metric.split(".")[-1].endswith("_err")


def difference_se(std: float, n: int, other_std: float, other_n: int) -> float:
    """The standard error of the difference of two means over independent seeds, sqrt(s²/n + s'²/n')."""
    return math.sqrt(std ** 2 / n + other_std ** 2 / other_n)


def effect(metric: str, mean: float, std: float, n: int, base_mean: float, base_std: float, base_n: int) -> str:
    """A row's difference to the baseline with its standard error (both over seeds) and a plain verdict: the
    method's effect is ``shown`` (better by more than 2 SE), ``reversed`` (worse by more than 2 SE) or ``not
    shown``; ``—`` with fewer than two seeds on either side."""
    if n < 2 or base_n < 2 or any(_missing(v) for v in (mean, std, base_mean, base_std)):
        return "—"
    return _with_verdict(metric, mean - base_mean, difference_se(std, n, base_std, base_n))


def paired_effect(metric: str, by_seed: dict[int, float], base_by_seed: dict[int, float]) -> str:
    """The same difference paired by seed (each seed's run minus the baseline's run of that seed, whose data
    order and initialisation it shares): the mean of the differences with their standard error and the same
    verdict; ``—`` with fewer than two seeds in common."""
    common = sorted(set(by_seed) & set(base_by_seed))
    if len(common) < 2:
        return "—"
    differences = [by_seed[seed] - base_by_seed[seed] for seed in common]
    error = statistics.stdev(differences) / math.sqrt(len(differences))
    return _with_verdict(metric, statistics.mean(differences), error) + f" ({len(common)} pairs)"


def _with_verdict(metric: str, difference: float, error: float) -> str:
    better = -difference if lower_is_better(metric) else difference
    verdict = "shown" if better > 2 * error else "reversed" if better < -2 * error else "not shown"
    return f"{difference:+.2f} ± {error:.2f} ({verdict})"


def markdown_text(value: Any) -> str:
    """Text for markdown (a table cell or a heading): no column break, and no HTML (row names can come from other
    people's bundles)."""
    return str(value).replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of cells as a markdown table (headers from the first row)."""
    header = list(rows[0])
    lines = ["| " + " | ".join(map(markdown_text, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_text(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)

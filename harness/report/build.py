"""Assemble per-table frames (paper | measured mean +- std (n) | delta), plots and provenance, and render
``reports/tables.md`` and ``reports/index.html``."""
from __future__ import annotations

import hashlib
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness.experiments import MINI, PAPER_SOURCE, REHEARSAL, SCALES, Table
from harness.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from harness.jobs import Cell, Job
from harness.plotting import figure_png, pyplot
from harness.report.compare import write_comparison
from harness.report.leaderboard import write_leaderboard
from harness.report.profile import write_profile
from harness.report.seeds import TAIL_EPOCHS, by_seed, seed_records, seed_rows, tail_mean
from harness.report.summary import (LEGEND, effect, format_measured, format_summary_row, markdown_table, markdown_text,
                                    markdown_to_html, paired_effect, std_units, table_summary)
from harness.report.tidy import write_tidy
from harness.store import StoredRun, other_makings, run_origin, stale_reason
from harness.tasks import TASKS
from harness.train import FAILURE, RECORD
from harness.train.files import DAMAGED_NOTE

SCALE_NOTES = {
    "smoke": "SMOKE SCALE: generated data and tiny stand-in models on a CPU. These figures show that the "
             "pipeline runs end to end; they are NOT comparable to the paper's.",
    "rehearsal": "REHEARSAL: every table the paper's way on a small fixed part of the real data sets, for a few "
                 "iterations or epochs, with stand-ins for the networks a CPU cannot run (each section names them). "
                 "It shows that data, environment and code work on this machine; its figures mean nothing, are "
                 "compared with no paper figure and count in no scorecard.",
    "mini": "MINI SCALE: real CIFAR on a CPU: a small network of the official code's ResNet family, a fixed "
            "class-balanced subset of the training set, the full test set, the paper's main rows over 3 seeds. It "
            "shows whether the paper's effect (its direction against the Baseline) appears; its figures are not the "
            "paper's, which stand beside them as the direction to compare with, not as targets.",
    "reduced": "REDUCED SCALE: real data, a lighter model and a shortened schedule; expect the ranking, not the figures.",
    "paper": "PAPER SCALE: the published protocol.",
}


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def row_status(row_cells: list[Cell], records: list[dict[str, Any]]) -> str:
    """A row's Status: ok, n/m seeds, damaged, failed, in progress, pending, or why it cannot run; with what
    was recovered on the way (a damaged checkpoint, a damaged record run again)."""
    jobs = [c.job for c in row_cells if c.job]
    damaged = [job for job in jobs if job.status() == "damaged"]
    failures = [job for job in jobs if job.status() == "failed"]
    if not row_cells:
        return "not selected"
    if all(c.reason for c in row_cells):
        return row_cells[0].reason
    if damaged:
        return f"damaged: {damaged[0].run_dir / RECORD} (run again without --report-only)"
    if failures and not records:
        error = read_json(failures[0].run_dir / FAILURE) or {}
        return f"failed: {error.get('error_type', '?')}: {error.get('error', '')}"[:160]
    if not records:
        started = [job for job in jobs if job.status() == "partial"]
        return f"in progress ({started[0].progress()})" if started else "pending"
    status = "ok" if len(records) == len(jobs) else f"{len(records)}/{len(jobs)} seeds"
    if any(r.get("incidents") for r in records):
        status += " (recovered from a damaged checkpoint: see Provenance)"
    rerun = [read_json(job.run_dir / DAMAGED_NOTE) for job in jobs if (job.run_dir / DAMAGED_NOTE).is_file()]
    if rerun:
        status += f" (run again: its earlier record was damaged, kept aside as {Path(rerun[0]['kept_aside_as']).name})"
    return status


DELTA_NOTE = "Δ = measured − paper."  # how each task's measured_note names the Δ column
STALE_MARK = "†"  # a figure not made by this checkout's code and settings: its Status says by what


def row_marks(row_cells: list[Cell], records: list[dict[str, Any]]) -> str:
    """Why a row's figures are not this checkout's own ("" when they are): an earlier run standing in for the
    planned one (other settings or method code), or a record made by other harness code."""
    reasons = [c.note for c in row_cells if c.note] + [r for r in map(stale_reason, records) if r]
    return "; ".join(dict.fromkeys(reasons))


def table_frame(table: Table, cells: list[Cell], paper: pd.DataFrame) -> pd.DataFrame:
    """One line per row: paper figure, measured best/last (mean, std, n) and delta for each metric."""
    lines = []
    for row in table.rows:
        row_cells = [c for c in cells if c.table == table.id and c.row == row.name]
        line: dict[str, Any] = {"row": row.name, "method": row.method or "", "extra": row.extra, "quoted": row.quoted,
                                "candidate": row.candidate}
        by_run = {c.job.run_dir: read_json(c.job.run_dir / RECORD) for c in row_cells if c.job}
        records = [r for r in by_run.values() if r]
        line["by_seed"] = seed_records(row_cells, by_run)
        line["stale"] = row_marks(row_cells, records)
        line["status"] = row_status(row_cells, records) + (f" {STALE_MARK} {line['stale']}" if line["stale"] else "")
        for metric in table.metrics:
            paper_table, paper_column = table.paper_key(metric)
            match = paper[(paper.table == paper_table) & (paper.row == row.name) & (paper.column == paper_column)]
            published = match[match.source == PAPER_SOURCE]
            line[f"{metric}.paper"] = float(published.value.iloc[0]) if len(published) else None
            elsewhere = match[match.source != PAPER_SOURCE]  # e.g. the official README: shown, marked, not scored
            line[f"{metric}.elsewhere"] = (f"{float(elsewhere.value.iloc[0]):.2f} (not in the paper: "
                                           f"{elsewhere.source.iloc[0]})") if len(elsewhere) else None
            for which in ("best", "last"):
                values = [r[which][metric] for r in records]
                mean, std = _mean_std(values) if values else (None, None)
                line[f"{metric}.{which}"], line[f"{metric}.{which}_std"] = mean, std
            tails = [tail for tail in (tail_mean(r, metric) for r in records) if tail is not None]
            line[f"{metric}.tail"], line[f"{metric}.tail_std"] = _mean_std(tails) if tails else (None, None)
            line[f"{metric}.n"] = len(records)
            paper_value, measured = line[f"{metric}.paper"], line[f"{metric}.best"]
            line[f"{metric}.delta"] = measured - paper_value if measured is not None and paper_value is not None else None
        line["curves"] = [r["curve"] for r in records if r.get("curve")]  # epoch curves (not every task has one)
        clean = [r["train_clean"] for r in records if r.get("train_clean")]  # the memorisation check
        line["clean_err"] = _mean_std([c["top1_err"] for c in clean])[0] if clean else None
        line["clean_loss"] = _mean_std([c["loss"] for c in clean])[0] if clean else None
        lines.append(line)
    return pd.DataFrame(lines)


def _signed(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.2f}"


def display_rows(table: Table, frame: pd.DataFrame, scale: str) -> list[dict[str, str]]:
    """Formatted cells for the markdown and HTML tables; at the mini scale the paper's figures are the direction
    to compare (its − baseline beside the measured one), not targets (no Δ to them)."""
    rows = []
    headline = table.metrics[0]
    base = frame[frame.row == table.baseline]
    base = base.iloc[0] if len(base) else None
    for _, line in frame.iterrows():
        label = line["row"] + (" (not in paper)" if line["extra"] else " (candidate)" if line["candidate"]
                               else " (paper figure: its own paper's)" if line["quoted"] else "")
        cells = {"Row": label}
        for metric in table.metrics:
            n = int(line[f"{metric}.n"])
            elsewhere = line[f"{metric}.elsewhere"]  # a str, or missing (None/NaN in the frame)
            cells[f"{metric} paper"] = f"— [{elsewhere}]" if isinstance(elsewhere, str) else format_measured(line[f"{metric}.paper"])
            mark = f" {STALE_MARK}" if line["stale"] and n else ""
            cells[f"{metric} measured (best)"] = format_measured(line[f"{metric}.best"], line[f"{metric}.best_std"], n) + mark
            if scale != MINI:
                cells[f"{metric} Δ"] = _signed(line[f"{metric}.delta"])
                units = std_units(line[f"{metric}.best"], line[f"{metric}.best_std"], n, line[f"{metric}.paper"])
                cells[f"{metric} Δ/σ"] = "—" if units is None else f"{units:+.1f}"
            cells[f"{metric} last epoch"] = format_measured(line[f"{metric}.last"], line[f"{metric}.last_std"], n)
        if base is not None:  # the headline metric against the baseline, over seeds, with a verdict
            if pd.notna(base[f"{headline}.paper"]):
                cells[f"paper: {headline} − {table.baseline}"] = "" if line["row"] == table.baseline else \
                    _signed(line[f"{headline}.paper"] - base[f"{headline}.paper"])
            cells.update(effect_cells(table, line, base, "best", ""))
            if scale == MINI:  # the mini comparison's deciding figure (docs/evidence.md)
                cells[f"{headline} last {TAIL_EPOCHS} epochs"] = format_measured(
                    line[f"{headline}.tail"], line[f"{headline}.tail_std"], int(line[f"{headline}.n"]))
                cells.update(effect_cells(table, line, base, "tail", f" (last {TAIL_EPOCHS})"))
        if frame["clean_err"].notna().any():
            cells["clean train err / loss"] = "—" if pd.isna(line["clean_err"]) else \
                f"{line['clean_err']:.2f} / {line['clean_loss']:.3f}"
        cells["Status"] = line["status"]
        rows.append(cells)
    return rows


def effect_cells(table: Table, line: pd.Series, base: pd.Series, which: str, label: str) -> dict[str, str]:
    """A row's headline difference to the baseline from its ``best`` (or ``tail``) figures: over seeds with its
    standard error, and paired by seed where the baseline ran two seeds or more; empty for the baseline itself."""
    headline, name = table.metrics[0], table.baseline
    mine = line["row"] == name
    n, base_n = int(line[f"{headline}.n"]), int(base[f"{headline}.n"])
    cells = {f"{headline} − {name} ± SE{label}": "" if mine else effect(
        headline, line[f"{headline}.{which}"], line[f"{headline}.{which}_std"], n,
        base[f"{headline}.{which}"], base[f"{headline}.{which}_std"], base_n)}
    if len(base["by_seed"]) > 1:
        cells[f"{headline} − {name} paired{label}"] = "" if mine else paired_effect(
            headline, by_seed(line, headline, which), by_seed(base, headline, which))
    return cells


def tables_by_run(cells: list[Cell]) -> dict[Path, set[str]]:
    """Run folder -> the tables whose cells it fills."""
    sharing: dict[Path, set[str]] = {}
    for cell in cells:
        if cell.job:
            sharing.setdefault(cell.job.run_dir, set()).add(cell.table)
    return sharing


def shared_runs_note(table: Table, cells: list[Cell], sharing: dict[Path, set[str]], shown: list[Table]) -> str:
    """Which other tables of the report show the same runs as ``table`` (identical configurations: at the smoke
    scale Tables 5 and 7 fall back to the same data and stand-in), so that one measurement is not read as two."""
    rows: dict[str, set[str]] = {}
    for cell in cells:
        if cell.table == table.id and cell.job:
            for other in sharing[cell.job.run_dir] - {table.id}:
                rows.setdefault(other, set()).add(cell.row)
    titles = {t.id: t.title.split(":")[0] for t in shown}
    parts = [f"{titles[other]} ({other}) for {len(names)} row{'s' * (len(names) > 1)}"
             for other, names in sorted(rows.items()) if other in titles]
    return f"The same runs as {'; '.join(parts)} at this scale: one measurement shown twice, not two." if parts else ""


MEMORISED = {"top1_err": 1.0, "loss": 0.05}  # the paper's regime: its Baseline fits its training images


def regime_note(table: Table, frame: pd.DataFrame) -> str:
    """Whether the table's baseline memorised its training images (clean error and loss at the end, mean over
    seeds): where the paper's claims hold, or outside them ("" where no run measured it)."""
    base = frame[frame.row == table.baseline]
    if base.empty or pd.isna(base["clean_err"].iloc[0]):
        return ""
    err, loss = float(base["clean_err"].iloc[0]), float(base["clean_loss"].iloc[0])
    measured = f"The {table.baseline}'s clean training error is {err:.2f} % and its loss {loss:.3f} (unaugmented, at the end)"
    if err <= MEMORISED["top1_err"] and loss <= MEMORISED["loss"]:
        return f"{measured}: it memorises its training images, the regime of the paper's claims."
    return (f"{measured}: it does not memorise them (the paper's regime: error ≤ {MEMORISED['top1_err']:g} %, loss "
            f"≤ {MEMORISED['loss']:g}), so the paper claims nothing about this comparison.")


def curves_figure(table: Table, frame: pd.DataFrame, scale: str) -> bytes | None:
    """Test top-1 error against epoch, one line per row (mean over seeds)."""
    measured = frame[frame.curves.map(len) > 0]
    if measured.empty:
        return None
    from matplotlib.ticker import MaxNLocator

    fig, ax = pyplot().subplots(figsize=(7, 4))
    for _, line in measured.iterrows():
        curves = line["curves"]
        epochs = [row["epoch"] for row in curves[0]]
        mean = [sum(c[i]["top1_err"] for c in curves) / len(curves) for i in range(len(epochs))]
        ax.plot(epochs, mean, marker="o", markersize=3, label=line["row"])
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    ax.set_ylabel("test top-1 error (%)")
    ax.set_title(f"{table.title} [{scale} scale]", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return figure_png(fig)


def delta_figure(table: Table, frame: pd.DataFrame, scale: str) -> bytes | None:
    """The table's first metric minus the baseline's, per row: measured beside the paper's."""
    metric = table.metrics[0]
    base = frame[frame.row == table.baseline]
    if base.empty or base[f"{metric}.best"].isna().all():
        return None
    base_measured, base_paper = base[f"{metric}.best"].iloc[0], base[f"{metric}.paper"].iloc[0]
    others = frame[(frame.row != table.baseline) & frame[f"{metric}.best"].notna()]
    if others.empty:
        return None
    fig, ax = pyplot().subplots(figsize=(7, 0.45 * len(others) + 1.2))
    positions = range(len(others))
    ax.barh([p + 0.2 for p in positions], others[f"{metric}.best"] - base_measured, height=0.4, label="measured")
    paper_delta = others[f"{metric}.paper"].astype(float) - (base_paper if base_paper is not None else float("nan"))
    ax.barh([p - 0.2 for p in positions], paper_delta, height=0.4, label="paper")
    ax.set_yticks(list(positions), others["row"], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    better = "negative is better" if metric.endswith("_err") else "positive is better"
    ax.set_xlabel(f"{metric} − {table.baseline} (points; {better}) [{scale} scale]")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="x")
    return figure_png(fig)


def sweep_figure(table: Table, frame: pd.DataFrame, scale: str) -> bytes | None:
    """An ablation's metric against its swept parameter, with the baseline as a horizontal line (Figure 3)."""
    if not table.sweep:
        return None
    metric = table.metrics[0]
    points = []
    for row in table.rows:
        value = row.params.get(table.sweep)
        measured = frame.loc[frame.row == row.name, f"{metric}.best"]
        if row.name != table.baseline and value is not None and measured.notna().any():
            points.append((value[0] if isinstance(value, list) else value, float(measured.iloc[0])))
    if not points:
        return None
    points.sort()
    fig, ax = pyplot().subplots(figsize=(5, 3.2))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=table.title.split(":")[0])
    base = frame.loc[frame.row == table.baseline, f"{metric}.best"]
    if base.notna().any():
        ax.axhline(float(base.iloc[0]), color="black", linestyle="--", linewidth=1, label=table.baseline)
    if table.sweep == "alpha":
        ax.set_xscale("log")
    ax.set_xlabel(table.sweep)
    ax.set_ylabel(f"{metric} (best epoch)")
    ax.set_title(f"{table.title} [{scale} scale]", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return figure_png(fig)


def _hardware(hardware: dict[str, Any], config: dict[str, Any]) -> str:
    """Where a run trained; for a data-parallel run, how many processes and that batch-level methods mixed
    within each one's share of the batch (the paper's single-process code mixed across the whole batch)."""
    where = hardware.get("gpu") or f"{hardware['device']} ({hardware['cpu_count']} cores)"
    where += f", {config.get('precision', 'fp32' if 'gpu' not in hardware else 'bf16')}"
    world = config.get("world_size", 1)
    if world > 1:
        where += (f"; data-parallel x{world}: mixing within each process's {config['batch_size'] // world} images"
                  f"{', SyncBN' if config.get('sync_bn') else ''}")
    return where


def _data_and_schedule(record: dict[str, Any]) -> tuple[str, str]:
    """The data a run read (set, fingerprint, sizes) and the schedule it ran, as the report's provenance says."""
    config, task = record["config"], record.get("task", "classification")
    train = config.get("train", config)
    if task in ("classification", "localization"):
        sizes = f"; {record['train_size']} train / {record['test_size']} test" if "train_size" in record else ""
        data = f"{train['dataset']} ({record.get('data_fingerprint') or train.get('data_fingerprint') or '?'}{sizes})"
        schedule = f"{train['epochs']} epochs, batch {train['batch_size']}, lr {train['lr']}"
        if train.get("init_from"):
            schedule += f", fine-tuned from {_backbone(config)}"
        return data, schedule
    data = f"{config.get('dataset', config.get('evaluation'))} ({config.get('data_fingerprint', 'the test set of the run it evaluates')})"
    if task == "detection":
        return data, f"{Path(config['detector']).stem} × {config['schedule_fraction']}, from {_backbone(config)}"
    if task == "captioning":
        return data, f"decoder {config['epochs']} epochs, batch {config['batch_size']}, over {_backbone(config)}"
    return data, f"no training: evaluates {_backbone(config)}"


def _backbone(config: dict[str, Any]) -> str:
    """The network a downstream run started from: the harness's run, or a given file (not trained here)."""
    given = config.get("backbone_file")
    if given:
        return f"the file {given['path']} (sha256 {given['sha256'][:16]}…, not trained here)"
    return str(config.get("backbone_key"))


def provenance(jobs: list[Job]) -> list[dict[str, Any]]:
    """One line per finished job: its rows, the network, data and schedule that produced them, and where."""
    entries = []
    for job in jobs:
        record = read_json(job.run_dir / RECORD)
        if not record:
            continue
        config = record["config"].get("train", record["config"])  # tasks that train first nest the run
        data, schedule = _data_and_schedule(record)
        entries.append({
            "job": job.key, "rows": ", ".join(f"{t}/{r} (seed {s})" for t, r, s in job.cells),
            "model": config["model"], "method": config["method"], "data": data, "schedule": schedule,
            "commit": (record["git"]["commit"] or "?")[:10] + ("+dirty" if record["git"].get("dirty") else ""),
            "code": stale_reason(record) or "current",
            "hardware": _hardware(record["hardware"], config),
            "packages": ", ".join(f"{k} {v}" for k, v in record["packages"].items() if v),
            "wall_time": f"{record['wall_time_s']:.0f} s",
            "recoveries": "; ".join(record.get("incidents", [])) or "—",
            "origin": origin_text(run_origin(job.run_dir)),
        })
    return entries


def origin_text(origin: dict[str, Any] | None) -> str:
    """Where a run was made: ``here``, or the bundle it was imported from (its digest, and the commit and
    hardware that made it, as the bundle says)."""
    if not origin:
        return "here"
    hardware = origin.get("hardware") or {}
    made_on = hardware.get("gpu") or hardware.get("processor") or hardware.get("platform") or "?"
    return (f"imported from {origin.get('bundle')} (sha256 {str(origin.get('bundle_sha256'))[:16]}), made by "
            f"{str(origin.get('commit') or '?')[:10]} on {made_on}")


def made_twice(jobs: list[Job]) -> list[dict[str, str]]:
    """The runs made here and also by others (the same key, imported while this one was finished): each figure
    both ways and the difference, a reproduction check across machines."""
    lines = []
    for job in jobs:
        record = read_json(job.run_dir / RECORD) or {}
        for other in other_makings(job.run_dir):
            for metric, here in (record.get("best") or {}).items():
                there = (other.get("best") or {}).get(metric)
                if metric == "epoch" or not isinstance(here, (int, float)) or not isinstance(there, (int, float)):
                    continue
                lines.append({"job": job.key, "rows": ", ".join(f"{t}/{r}" for t, r, _ in job.cells),
                              "metric": metric, "here": f"{here:.2f}", "elsewhere": f"{there:.2f}",
                              "difference": f"{there - here:+.2f}", "made elsewhere": origin_text(other.get("origin"))})
    return lines


FIGURE_CODE = ("report/build.py", "plotting.py", "tasks/localization.py", "tasks/detection.py", "tasks/captioning.py",
               "tasks/robustness.py")


@lru_cache(maxsize=1)
def _figure_code_digest() -> str:
    """A digest of the code that draws the figures: a harness upgrade redraws them."""
    root = Path(__file__).resolve().parents[1]
    return hashlib.sha256(b"".join((root / name).read_bytes() for name in FIGURE_CODE)).hexdigest()[:16]


def table_figures(table: Table, frame: pd.DataFrame, cells: list[Cell], scale: str, out_dir: Path,
                  cache: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The table's PNG figures under ``out_dir/figures`` (kind -> relative path), redrawn only when what they
    show changed: ``cache`` keeps, per table and scale, a digest of its frame's figures (measured values and
    curves, not the status texts), its runs and the drawing code, and the files drawn from them."""
    inputs = frame.drop(columns=["status", "stale", "by_seed"]).to_json(default_handler=str) + scale + _figure_code_digest()
    inputs += "".join(sorted({c.job.run_dir.name for c in cells if c.table == table.id and c.job}))  # in any order
    digest = hashlib.sha256(inputs.encode()).hexdigest()
    key = f"{table.id}_{scale}"
    if cache.get(key, {}).get("digest") == digest and all((out_dir / p).is_file() for p in cache[key]["figures"].values()):
        return cache[key]["figures"]
    pngs = {kind: make(table, frame, scale)
            for kind, make in (("curves", curves_figure), ("delta", delta_figure), ("sweep", sweep_figure))}
    pngs.update(TASKS[table.task].report_figures(table, cells, scale))
    figures = {}
    for kind, png in pngs.items():
        if png:
            path = atomic_write_bytes(out_dir / "figures" / f"{key}_{kind}.png", png)
            figures[kind] = path.relative_to(out_dir).as_posix()
    cache[key] = {"digest": digest, "figures": figures}
    return figures


def profile_markdown(profile: dict[str, Any], scale: str) -> str:
    """A candidate's profile section of ``tables.md``."""
    label = markdown_text(profile["label"])
    figure = f"![profile of {label}]({profile['figure']})\n" if profile["figure"] else ""
    return (f"## Candidate profile: {label} ({scale} scale)\n\n{profile['note']}\n\n{markdown_table(profile['rows'])}\n\n"
            f"{figure}\nThe same numbers: [{profile['csv']}]({profile['csv']}), [{profile['json']}]({profile['json']}).\n")


def table_sections(tables: list[Table], cells: list[Cell], paper: pd.DataFrame, scale: str, out_dir: Path,
                   cache: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, pd.DataFrame]]:
    """(each table's section: rows, figures, notes; its line of What reproduced; its frame by table id)."""
    sections, summary, frames = [], [], {}
    sharing = tables_by_run(cells)
    for table in tables:
        frame = frames[table.id] = table_frame(table, cells, paper)
        figures = table_figures(table, frame, cells, scale, out_dir, cache)
        configs = [c.job.config for c in cells if c.table == table.id and c.job]
        measured = TASKS[table.task].measured_note
        if scale == MINI:  # no Δ column there: the mini scale compares directions only
            measured = measured.replace("; " + DELTA_NOTE, ".").replace(" " + DELTA_NOTE, "")
        note = " ".join(filter(None, [measured, TASKS[table.task].section_note(configs),
                                      stand_in_note(table, cells), regime_note(table, frame) if scale != REHEARSAL else "",
                                      shared_runs_note(table, cells, sharing, tables)]))
        anchor = table.id.lower()
        sections.append({"table": table, "anchor": anchor, "rows": display_rows(table, frame, scale),
                         "seeds": seed_rows(table, frame), "figures": figures,
                         "measured_note": note, "task": TASKS[table.task].name,
                         "filled": int(frame.status.str.startswith("ok").sum()), "total": len(frame)})
        summary.append({"Table": table.title.split(":")[0], "anchor": anchor, "id": table.id,
                        "metric": table.metrics[0], "rows done": f"{sections[-1]['filled']}/{len(frame)}",
                        **scorecard(table, frame, scale)})
    return sections, summary, frames


def scorecard(table: Table, frame: pd.DataFrame, scale: str) -> dict[str, str]:
    """A table's line of What reproduced: its agreement with the paper (none for a rehearsal: its figures are
    not measurements of anything the paper reports)."""
    cells = format_summary_row(table_summary(table.metrics[0], table.baseline, frame))
    if scale == MINI:  # the direction is compared, the distance to the paper's figures is not
        cells["distance (σ)"] = "— (mini)"
    return {header: "— (rehearsal)" for header in cells} if scale == REHEARSAL else cells


def stand_in_note(table: Table, cells: list[Cell]) -> str:
    """Which networks of the section ran in place of the paper's (the scale's stand-ins), "" where none did."""
    paper = {row.name: row.model or table.model for row in table.rows}
    pairs = sorted({(paper[c.row], c.job.config.get("train", c.job.config)["model"]) for c in cells
                    if c.table == table.id and c.job and c.row in paper})
    swapped = [f"{run} for {wanted}" for wanted, run in pairs if run != wanted]
    return f"Stand-in networks: {', '.join(swapped)}." if swapped else ""


def report_markdown(context: dict[str, Any]) -> str:
    """``tables.md``: the same report as ``index.html``, in markdown."""
    data, scale = context["data"], context["scale"]
    markdown = [f"# CutMix paper reproduction — {scale} scale\n", f"> {context['scale_note']}\n",
                f"{context['progress']}.\n", *([f"{context['freshness']}.\n"] if context["freshness"] else []),
                f"Every figure as data: [{data['csv']}]({data['csv']}), [{data['json']}]({data['json']}), "
                "and one CSV per table under [tables/](tables/).\n",
                *([f"{context['compared']}: [compare.md](compare.md).\n"] if context["compared"] else []),
                *(profile_markdown(profile, scale) for profile in context["profiles"]), "## What reproduced\n",
                LEGEND + "\n", markdown_table([{k: f"[{v}](#{row['anchor']}) `{row['id']}`" if k == "Table" else v
                                                for k, v in row.items() if k not in ("anchor", "id")}
                                               for row in context["summary"]]) + "\n"]
    for section in context["sections"]:
        markdown.append(f'<a id="{section["anchor"]}"></a>\n\n## {section["table"].title}\n')
        markdown.append(f"`{section['table'].id}`, {section['filled']}/{section['total']} rows measured. "
                        f"{section['measured_note']}\n")
        if section["table"].notes:
            markdown.append(f"{section['table'].notes}\n")
        markdown.append(markdown_table(section["rows"]) + "\n")
        if section["seeds"]:
            markdown.append("Seed by seed:\n\n" + markdown_table(section["seeds"]) + "\n")
        markdown += [f"![{kind}]({path})\n" for kind, path in section["figures"].items()]
    markdown.append("## Provenance\n")
    if context["provenance"]:
        markdown.append(markdown_table(context["provenance"]) + "\n")
    markdown += leaderboard_markdown(context["leaderboard"])
    if context["made_twice"]:
        markdown.append("## The same run made twice\n\nRuns made here and imported from elsewhere under the same key "
                        "(the same configuration, data and code): their figures, side by side.\n")
        markdown.append(markdown_table(context["made_twice"]) + "\n")
    return "\n".join(markdown)


def leaderboard_markdown(leaderboard: dict[str, Any]) -> list[str]:
    """The leaderboard's sections of ``tables.md`` (none where nothing was imported and one candidate is shown)."""
    markdown = []
    if leaderboard["profiles"]:
        markdown.append("## Candidate profiles side by side\n\nEach candidate's cell: its figure (rank among the "
                        "five; its difference to CutMix).\n\n" + markdown_table(leaderboard["profiles"]) + "\n")
    if leaderboard["rows"]:
        markdown.append(f"## Leaderboard: every origin's runs\n\n{leaderboard['note']} As data: "
                        f"[{leaderboard['csv']}]({leaderboard['csv']}).\n\n" + markdown_table(leaderboard["rows"]) + "\n")
    return markdown


def build_report(tables: list[Table], jobs: list[Job], cells: list[Cell], paper: pd.DataFrame, scale: str,
                 out_dir: Path, runs: list[StoredRun] | None = None, compare: Path | None = None) -> dict[str, Path]:
    """Write ``tables.md``, ``index.html``, ``figures/*.png`` and the numbers as data (:mod:`harness.report.tidy`,
    over the report's cells and every stored run in ``runs``) under ``out_dir``; cheap to call again as jobs
    finish (only the figures of tables whose records changed are redrawn). ``jobs``: the command's, for its
    progress line. ``compare``: another results folder, compared cell by cell (:mod:`harness.report.compare`)."""
    out_dir = Path(out_dir)
    if scale == REHEARSAL:  # its figures are compared with none of the paper's
        paper = paper.iloc[0:0]
    cache_path = out_dir / "figures" / ".drawn.json"
    cache = read_json(cache_path) or {}
    sections, summary, frames = table_sections(tables, cells, paper, scale, out_dir, cache)
    profiles = write_profile(tables, frames, cells, scale, out_dir, cache)
    data = write_tidy(tables, frames, cells, runs or [], scale, out_dir)
    leaderboard = write_leaderboard(tables, runs or [], profiles, out_dir)
    compared = ""
    if compare is not None:
        data["compare"], verdicts = write_comparison(tables, cells, lambda t, c: table_frame(t, c, paper), compare,
                                                     scale, out_dir)
        compared = f"Compared with {compare}: {verdicts}"
    atomic_write_json(cache_path, cache)
    done = sum(job.status() == "finished" for job in jobs)
    progress = f"{done}/{len(jobs)} jobs finished" + ("" if done == len(jobs) else " (this report is rebuilt as jobs finish)")
    shown = provenance(list({c.job.run_dir: c.job for c in cells if c.job and c.table in frames}.values()))
    stale = sum(1 for p in shown if p["code"] != "current")
    freshness = (f"{stale} of the runs shown were made by other harness code ({STALE_MARK} in the tables; "
                 "run_all.py --rerun-stale runs them again)" if stale else "")
    context = {"scale": scale, "scale_note": SCALE_NOTES[scale], "progress": progress, "freshness": freshness,
               "compared": compared, "data": {k: v.name for k, v in data.items()}, "profiles": profiles,
               "summary": summary, "legend": markdown_to_html(LEGEND), "sections": sections, "provenance": shown,
               "made_twice": made_twice([c.job for c in cells if c.job and c.table in frames]),
               "leaderboard": leaderboard}
    return {"markdown": atomic_write_text(out_dir / "tables.md", report_markdown(context)),
            "html": atomic_write_text(out_dir / "index.html", _template("index.html.j2").render(**context))}


def _template(name: str) -> jinja2.Template:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"), autoescape=True)
    return environment.get_template(name)


def write_scales_index(reports: Path) -> Path:
    """``reports/index.html``: a link to each scale's report under ``reports/<scale>/``."""
    pages = {scale: Path(reports) / scale / "index.html" for scale in SCALES}
    scales = [{"name": scale, "built": time.strftime("%Y-%m-%d %H:%M", time.localtime(page.stat().st_mtime))}
              for scale, page in pages.items() if page.is_file()]
    return atomic_write_text(Path(reports) / "index.html", _template("scales.html.j2").render(scales=scales))

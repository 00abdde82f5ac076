"""The paper's tables as data: load and validate ``experiments/`` and expand a table into runs.

``experiments/protocols.yaml`` holds the training protocol of each data-set family at each scale;
``experiments/tables/*.yaml`` one file per paper table (rows = method + parameters [+ model]);
``experiments/paper_tables.csv`` the paper's published figures (table,row,column,value).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from harness import augment
from harness.errors import HarnessError, SpecError
from harness.paths import EXPERIMENTS
from harness.tasks import TASKS

SCALES = {  # each scale and what it is for (run_all.py --scale, --list scales)
    "smoke": "generated data, tiny stand-in models, CPU minutes; shows the pipeline works end to end "
             "(its figures are not comparable to the paper's)",
    "rehearsal": "every table the paper's way on a small fixed part of the real data sets, in minutes: finds layout, "
                 "environment and code faults before GPU-days are spent (its figures count in no comparison)",
    "mini": "real CIFAR on a CPU, hours: the paper's main rows x 3 seeds on one small network that memorises "
            "its training subset, as the paper's do; the paper's effect (its direction), not its figures",
    "reduced": "real data, a lighter model and a fraction of the schedule: one GPU, about a day per table",
    "paper": "the exact published protocol (CutMix paper, Sec. 4.1 and the official code's README)",
}
REHEARSAL = "rehearsal"  # the scale that reads a small part of the real data: never compared with the paper
MINI = "mini"  # real data, a small network: compared with the paper's direction (− Baseline), not its figures
PAPER_SOURCE = "paper"  # paper_values' source of the figures printed in the CutMix paper itself
METRICS = {"top1_err": "Top-1 err (%)", "top5_err": "Top-5 err (%)"}
TABLE_KEYS = {"id", "title", "task", "protocol", "model", "metrics", "baseline", "rows", "notes", "reference", "paper_columns", "sweep",
              "candidate"}
ROW_KEYS = {"name", "method", "params", "model", "model_kwargs", "data_policy", "backbone", "planned", "quoted", "extra"}
COMPARED = ("Baseline", "Mixup", "Cutout", "CutMix")  # the methods a candidate is profiled against (the paper's four)
SLOT_KEYS = {"compare", "backbone", "profile"}
SCALE_KEYS = {"dataset", "image_size", "epochs", "batch_size", "lr", "milestones", "seeds", "method_defaults",
              "model_map", "cost", "require_stand_in", "weight_decay", "head_lr", "init_from", "cam_threshold",
              "detector", "file_detector", "backbone_checkpoint", "schedule_fraction", "eval_transform", "rows", "train_subset", "test_subset",
              "embed_size", "hidden_size", "min_count", "max_length", "beam_size", "evaluation", "epsilon", "ood_sets",
              "hole_steps", "pairs", "gpus", "sync_bn", "input_pipeline"}


@dataclass(frozen=True)
class Row:
    """One row of a table: a method with parameters (and optionally its own model), or a planned row."""

    name: str
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # architectural regularizers (drop_path_rate...)
    data_policy: str | None = None  # a data-pipeline policy such as "autoaugment"
    backbone: str | None = None  # "table/row" of the run whose checkpoint is fine-tuned (localization)
    planned: str | None = None  # why it cannot run yet; shown as "not implemented"
    quoted: bool = False  # the paper quotes this row from another paper
    extra: bool = False  # not in the paper: a newer baseline added by this harness
    candidate: bool = False  # a method under evaluation, added by ``run_all.py --candidate`` (never in a spec file)


@dataclass(frozen=True)
class CandidateSlot:
    """Where a table takes a ``--candidate`` method: the table's rows of the paper's four compared methods, the
    table whose candidate run its row starts from (downstream tables), and the metrics it gives the profile."""

    compare: dict[str, str]  # Baseline/Mixup/Cutout/CutMix -> this table's row name
    backbone: str = ""  # table id: the candidate's row fine-tunes or evaluates its run there ("" = trains itself)
    profile: tuple[str, ...] = ()  # metrics of this table shown in the candidate profile


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    task: str
    protocol: str
    model: str
    metrics: tuple[str, ...]
    baseline: str
    rows: tuple[Row, ...]
    source: Path
    notes: str = ""
    reference: str = ""  # the paper's table id in paper_tables.csv (default: id)
    paper_columns: dict[str, str] = field(default_factory=dict)  # metric -> the paper's column name
    sweep: str = ""  # an ablation's swept parameter: the report plots the metric against it
    candidate: CandidateSlot | None = None  # None: a --candidate method gets no row here

    def paper_key(self, metric: str) -> tuple[str, str]:
        """(table, column) of the paper's figure for ``metric``."""
        return self.reference or self.id, self.paper_columns.get(metric, metric)


def _fail(path: Path, where: str, message: str) -> SpecError:
    return SpecError(f"{path}: {where}: {message}")


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a syntax error becomes a :class:`SpecError` naming the file, line and column."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = " ".join(filter(None, [getattr(err, "context", None), getattr(err, "problem", None)])) or str(err)
        raise SpecError(f"{path}: {where}: invalid YAML: {problem}") from None


def load_protocols(path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    path = path or EXPERIMENTS / "protocols.yaml"
    protocols = read_yaml(path)
    if not isinstance(protocols, dict):
        raise _fail(path, "top level", "expected a mapping of protocol families")
    for family, scales in protocols.items():
        if not isinstance(scales, dict) or not all(isinstance(v, dict) for v in scales.values()):
            raise _fail(path, family, "expected a mapping of scales (smoke, reduced, paper), each a mapping of settings")
        for scale, settings in scales.items():
            if scale not in SCALES:
                raise _fail(path, f"{family}.{scale}", f"unknown scale (known: {', '.join(SCALES)})")
            unknown = set(settings) - SCALE_KEYS
            if unknown:
                raise _fail(path, f"{family}.{scale}", f"unknown field(s) {sorted(unknown)}")
    return protocols


def load_table(path: Path, protocols: dict[str, Any]) -> Table:
    """Parse and validate one table spec; every error names the file and the field."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise _fail(path, "top level", "expected a mapping")
    unknown = set(data) - TABLE_KEYS
    if unknown:
        raise _fail(path, "top level", f"unknown field(s) {sorted(unknown)}")
    for key in ("id", "title", "task", "protocol", "model", "metrics", "baseline", "rows"):
        if key not in data:
            raise _fail(path, key, "missing")
    for key in ("rows", "metrics"):
        if not isinstance(data[key], list) or not data[key]:
            raise _fail(path, key, "expected a non-empty list")
    if data["task"] not in TASKS:
        raise _fail(path, "task", f"unknown task {data['task']!r} (known: {', '.join(TASKS)})")
    if data["protocol"] not in protocols:
        raise _fail(path, "protocol", f"unknown protocol {data['protocol']!r} (known: {', '.join(protocols)})")
    for metric in data["metrics"]:
        if metric not in TASKS[data["task"]].metrics:
            raise _fail(path, "metrics", f"unknown metric {metric!r} (known: {', '.join(TASKS[data['task']].metrics)})")
    rows = []
    for index, raw in enumerate(data["rows"]):
        where = f"rows[{index}]"
        if not isinstance(raw, dict) or "name" not in raw:
            raise _fail(path, where, "a row needs a name")
        where = f"rows[{index}] ({raw['name']})"
        unknown = set(raw) - ROW_KEYS
        if unknown:
            raise _fail(path, where, f"unknown field(s) {sorted(unknown)}")
        if raw.get("planned") is None:
            method = raw.get("method")
            if method is None:
                raise _fail(path, f"{where}.method", "missing (or mark the row planned: \"why\")")
            if not augment.is_known(method):
                raise _fail(path, f"{where}.method", f"unknown method {method!r} (registered: {', '.join(augment.available())})")
        rows.append(Row(**raw))
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise _fail(path, "rows", "row names must be unique")
    if data["baseline"] not in names:
        raise _fail(path, "baseline", f"{data['baseline']!r} is not a row name")
    slot = _candidate_slot(path, data.get("candidate"), names, data["metrics"])
    return Table(id=data["id"], title=data["title"], task=data["task"], protocol=data["protocol"], model=data["model"],
                 metrics=tuple(data["metrics"]), baseline=data["baseline"], rows=tuple(rows), source=Path(path),
                 notes=data.get("notes", ""), reference=data.get("reference", ""),
                 paper_columns=dict(data.get("paper_columns", {})), sweep=data.get("sweep", ""), candidate=slot)


def _candidate_slot(path: Path, raw: Any, names: list[str], metrics: list[str]) -> CandidateSlot | None:
    """A table's ``candidate:`` block, validated against its rows and metrics."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - SLOT_KEYS or not isinstance(raw.get("compare"), dict):
        raise _fail(path, "candidate", f"expected a mapping with compare (and backbone, profile), got {raw!r}")
    compare = raw["compare"]
    if set(compare) != set(COMPARED):
        raise _fail(path, "candidate.compare", f"name the row of each of {', '.join(COMPARED)}, got {sorted(compare)}")
    for method, row in compare.items():
        if row not in names:
            raise _fail(path, f"candidate.compare.{method}", f"{row!r} is not a row name")
    profile = raw.get("profile", [])
    unknown = [m for m in profile if m not in metrics]
    if unknown:
        raise _fail(path, "candidate.profile", f"{unknown} are not metrics of this table ({', '.join(metrics)})")
    return CandidateSlot(compare=dict(compare), backbone=raw.get("backbone", ""), profile=tuple(profile))


def load_tables(directory: Path | None = None, protocols: dict[str, Any] | None = None) -> dict[str, Table]:
    """All table specs, keyed by id, in the paper's order."""
    directory = directory or EXPERIMENTS / "tables"
    protocols = protocols if protocols is not None else load_protocols()
    tables = [load_table(path, protocols) for path in Path(directory).glob("*.yaml")]
    catalog = {table.id: table for table in sorted(tables, key=_paper_order)}
    for table in catalog.values():
        backbone = table.candidate.backbone if table.candidate else ""
        if backbone and (backbone not in catalog or catalog[backbone].candidate is None):
            raise _fail(table.source, "candidate.backbone", f"{backbone!r} is no table with a candidate block")
    return catalog


def _paper_order(table: Table) -> tuple:
    """Tables first (T3 before T10), then the appendix's (TA1...), then figures (F3a...), as the paper."""
    number = re.match(r"[A-Z]A?(\d+)", table.id)
    kind = 0 if re.match(r"T\d", table.id) else 1 if table.id.startswith("TA") else 2
    return (kind, int(number.group(1)) if number else 0, table.id)


def paper_values(directory: Path | None = None) -> pd.DataFrame:
    """The paper's figures (``paper_tables.csv``, source ``paper``) plus the few published elsewhere, such as the
    official code's README (``readme_figures.csv``, each with its source), as a frame with columns table, row,
    column, value, source. Only the paper's are shown as "paper" and counted in the report's scorecard."""
    directory = directory or EXPERIMENTS
    frames = [pd.read_csv(directory / "paper_tables.csv").assign(source=PAPER_SOURCE)]
    extra = directory / "readme_figures.csv"
    if extra.is_file():
        frames.append(pd.read_csv(extra)[["table", "row", "column", "value", "source"]])
    return pd.concat(frames, ignore_index=True)


def select_tables(tables: dict[str, Table], wanted: list[str] | None) -> list[Table]:
    """Tables by id, number or prefix: ``3`` or ``T3`` -> ``T3_imagenet_r50``; ``9`` -> ``T9_*`` and ``T9b_*``;
    ``F3`` -> both Figure 3 ablations; ``A1`` -> appendix Table A1 (``TA1_*``)."""
    if not wanted:
        return list(tables.values())
    chosen = []
    for key in wanted:
        key = f"T{key}" if key[:1].isdigit() or re.fullmatch(r"[Aa]\d+", key) else key
        pattern = re.compile(rf"{re.escape(key)}[a-z]?_", re.IGNORECASE)
        matches = [t for tid, t in tables.items() if tid == key or pattern.match(tid)]
        if not matches:
            raise SpecError(f"no table matches {key!r} (known: {', '.join(tables)})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def select_rows(tables: list[Table], methods: list[str] | None, rows: list[str] | None) -> set[tuple[str, str]] | None:
    """``(table id, row name)`` of the rows of ``tables`` whose method is one of ``methods`` and whose name is one
    of ``rows`` (``--methods``, ``--rows``; case-insensitive; an empty or absent list selects every row), None where
    neither selects. A name that no row of ``tables`` has is an error listing the names they have."""
    if not methods and not rows:
        return None
    return (_rows_matching(tables, methods, lambda row: row.method, "--methods", "has this method",
                           "their methods", "; --rows selects rows by name")
            & _rows_matching(tables, rows, lambda row: row.name, "--rows", "is named so", "their rows"))


def _rows_matching(tables: list[Table], wanted: list[str] | None, key: Callable[[Row], str | None], flag: str,
                   what: str, known_as: str, hint: str = "") -> set[tuple[str, str]]:
    """The rows whose ``key`` (their method or name) is one of ``wanted`` (every row where none is wanted)."""
    chosen = {name.lower() for name in wanted or ()}
    known = sorted({key(row) for table in tables for row in table.rows if key(row)}, key=str.lower)
    unknown = [name for name in wanted or () if name.lower() not in {k.lower() for k in known}]
    if unknown:
        raise HarnessError(f"{flag} {' '.join(unknown)}: no row of the selected tables {what} "
                           f"({known_as}: {', '.join(known)}{hint})")
    return {(table.id, row.name) for table in tables for row in table.rows
            if not chosen or (key(row) or "").lower() in chosen}

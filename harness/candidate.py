"""``run_all.py --candidate``: a new method's rows in every table where the paper compares regularisers.

A candidate is ``[LABEL=]METHOD[:KEY=VALUE,...]`` (e.g. ``patchswap``, ``patchswap:alpha=1.0,prob=0.5`` or
``big=patchswap:prob=1.0``). It gets a row named LABEL in each table with a ``candidate:`` block
(:class:`~harness.experiments.CandidateSlot`); a downstream row (localization, detection, captioning, FGSM,
occlusion, out-of-distribution) starts from the candidate's own run in the table the block names, as the paper's
rows start from theirs. Parameters per data set come from a YAML file (``--candidate-params``)::

    patchswap:               # a candidate's label
      prob: 0.5              # in every table
      cifar10: {prob: 1.0}   # only in the tables of this protocol family (experiments/protocols.yaml)

Precedence: the protocol's ``method_defaults`` < the file's parameters < its protocol's < the command line's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import yaml

from harness import augment
from harness.errors import HarnessError
from harness.experiments import Row, Table, read_yaml
from harness.jobs import Cell, Job, cost_left
from harness.tasks.classification import method_params

SPELLING = "[LABEL=]METHOD[:KEY=VALUE,...]"
_KEY = re.compile(r"(^|,)\s*([A-Za-z_]\w*)\s*=")


@dataclass(frozen=True)
class Candidate:
    """A method under evaluation and the parameters it runs with."""

    label: str  # its rows' name in every table
    method: str  # a registered augmentation (a plugin's, an installed package's or a built-in)
    params: dict[str, Any] = field(default_factory=dict)  # from the command line: every table
    file_params: dict[str, Any] = field(default_factory=dict)  # from --candidate-params: every table
    protocol_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # protocol family -> params

    def params_for(self, protocol: str) -> dict[str, Any]:
        """The parameters its row in a table of ``protocol`` is given (before the protocol's method defaults)."""
        return {**self.file_params, **self.protocol_params.get(protocol, {}), **self.params}


def parse_candidate(text: str) -> Candidate:
    """``[LABEL=]METHOD[:KEY=VALUE,...]`` -> :class:`Candidate` (values read as YAML: ``size=[8,8]`` is a list)."""
    head, _, options = text.partition(":")
    label, _, method = head.partition("=") if "=" in head else (head, "", head)
    label, method = label.strip(), method.strip()
    if not label or not method:
        raise HarnessError(f"--candidate {text!r}: expected {SPELLING}")
    if "/" in label:
        raise HarnessError(f"--candidate {text!r}: a label cannot contain '/' (it names rows as table/row)")
    params: Any = {}
    if options.strip():
        try:
            params = yaml.safe_load("{" + _KEY.sub(r"\1 \2: ", options) + "}")
        except yaml.YAMLError:
            params = None
        if not isinstance(params, dict) or set(params) != {key for _, key in _KEY.findall(options)}:
            raise HarnessError(f"--candidate {text!r}: cannot read the parameters {options!r} (expected KEY=VALUE,...)")
    return Candidate(label, method, params)


def with_file_params(candidates: list[Candidate], path: Path | None, protocols: dict[str, Any]) -> list[Candidate]:
    """The candidates with their parameters from ``--candidate-params`` (a mapping label -> parameters, where a
    key naming a protocol family holds that family's own parameters)."""
    if path is None:
        return candidates
    if not Path(path).is_file():
        raise HarnessError(f"--candidate-params: no such file: {path}")
    data = read_yaml(path) or {}
    labels = {c.label for c in candidates}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise HarnessError(f"{path}: expected a mapping of candidate labels to parameters")
    unknown = sorted(set(data) - labels)
    if unknown:
        raise HarnessError(f"{path}: {', '.join(unknown)} is no --candidate label (given: {', '.join(sorted(labels))})")
    updated = []
    for candidate in candidates:
        entry = data.get(candidate.label, {})
        by_protocol = {k: v for k, v in entry.items() if k in protocols}
        if not all(isinstance(v, dict) for v in by_protocol.values()):
            raise HarnessError(f"{path}: {candidate.label}: a protocol family's entry must be a mapping of parameters")
        plain = {k: v for k, v in entry.items() if k not in protocols}
        updated.append(replace(candidate, file_params=plain, protocol_params=by_protocol))
    return updated


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def check_candidate(candidate: Candidate, catalog: dict[str, Table], protocols: dict[str, Any], scale: str) -> None:
    """One-line errors (exit status 2) for an unknown method, a label that collides with a row of a profiled
    table, and a parameter the method does not accept (each table's parameters are tried on the method)."""
    if not augment.is_known(candidate.method):
        raise HarnessError(f"--candidate {candidate.label}: unknown method {candidate.method!r} (registered: "
                           f"{', '.join(augment.available())}; pass your file with --plugin or install its package)")
    for table in profile_tables(catalog.values()):
        clash = next((r.name for r in table.rows if _normal(r.name) == _normal(candidate.label)), None)
        if clash:
            raise HarnessError(f"--candidate {candidate.label}: the name collides with the row {clash!r} of {table.id}; "
                               f"give it another label: --candidate my{candidate.label}={candidate.method}")
    tried = set()
    for table in profile_tables(catalog.values()):
        settings = protocols[table.protocol].get(scale)
        if settings is None:
            continue
        params = method_params(candidate.method, candidate.params_for(table.protocol), settings.get("method_defaults", {}))
        if repr(params) not in tried:
            tried.add(repr(params))
            try:
                augment.build(candidate.method, num_classes=10, **params)
            except HarnessError as err:
                raise HarnessError(f"--candidate {candidate.label} ({table.protocol}): {err}") from None


def add_candidates(catalog: dict[str, Table], candidates: list[Candidate], protocols: dict[str, Any],
                   scale: str) -> dict[str, Table]:
    """The catalog with a row per candidate in every table that has a ``candidate:`` block, after checking the
    candidates (:func:`check_candidate`); a downstream row's backbone is the candidate's row of the block's table."""
    labels = [c.label for c in candidates]
    if len(set(labels)) != len(labels):
        raise HarnessError(f"--candidate: labels must be unique, got {', '.join(labels)}")
    for candidate in candidates:
        check_candidate(candidate, catalog, protocols, scale)
    extended = {}
    for table_id, table in catalog.items():
        if table.candidate is None or not candidates:
            extended[table_id] = table
            continue
        rows = tuple(Row(name=c.label, method=c.method, params=c.params_for(table.protocol), candidate=True,
                         backbone=f"{table.candidate.backbone}/{c.label}" if table.candidate.backbone else None)
                     for c in candidates)
        extended[table_id] = replace(table, rows=table.rows + rows)
    return extended


def profile_tables(tables: Iterable[Table]) -> list[Table]:
    """The tables a candidate's profile needs (those with a ``candidate:`` block)."""
    return [table for table in tables if table.candidate is not None]


def restrict_to_profile(jobs: list[Job], cells: list[Cell],
                        tables: list[Table]) -> tuple[list[Job], list[Cell], list[Table]]:
    """Only the profile runs: the candidates' rows and the rows they are compared with (Baseline, Mixup, Cutout,
    CutMix) of the profiled tables. The other rows keep their cells where their runs have finished or are shared
    with the profile's (the report shows them) or cannot run (it says why), and are left out otherwise; so are
    the tables left with no run. Returns (jobs to run or reuse, cells to report, tables to report)."""
    wanted = {(t.id, name) for t in profile_tables(tables)
              for name in [*t.candidate.compare.values(), *(r.name for r in t.rows if r.candidate)]}
    needed = {c.job.key for c in cells if c.job and (c.table, c.row) in wanted}
    kept = [c for c in cells
            if (c.table, c.row) in wanted or c.reason or c.job.key in needed or c.job.status() == "finished"]
    shown = [t for t in tables if t.candidate is not None or any(c.table == t.id and c.job for c in kept)]
    return [job for job in jobs if job.key in needed], kept, shown


def describe(candidates: list[Candidate]) -> str:
    """One line per candidate for the console: its method and parameters."""
    lines = []
    for c in candidates:
        from_file = f", from --candidate-params {c.file_params} {c.protocol_params}" if c.file_params or c.protocol_params else ""
        lines.append(f"candidate {c.label}: method {c.method}" + (f", parameters {c.params}" if c.params else "") + from_file)
    return "\n".join(lines)


def candidate_cost(jobs: list[Job], tables: list[Table]) -> str:
    """The plan's line on what the candidates' own runs cost (the compared rows are shared with every profile)."""
    own = {(t.id, r.name) for t in tables for r in t.rows if r.candidate}
    mine = [job for job in jobs if any((table, row) in own for table, row, _ in job.cells)]
    return f"of which the candidates' own: {len(mine)} jobs, left to run: {cost_left(mine)}"

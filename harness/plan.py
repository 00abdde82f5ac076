"""Planning a command, in one step with one result: its :class:`~harness.study.Study`, the tables and rows it
selects, its candidates, the upstream runs they need, the jobs left out for what this machine lacks, and the
finished runs made by other code. ``run_all.py`` prints it (``--plan``), checks its data, runs it and reports it."""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import augment
from harness.candidate import (Candidate, add_candidates, candidate_cost, describe, parse_candidate, profile_tables,
                               restrict_to_profile, with_file_params)
from harness.devices import AUTO_WORKERS
from harness.errors import DataNotFoundError, HarnessError
from harness.expand import expand, with_upstream, without_missing_runtimes
from harness.experiments import Table, load_protocols, load_tables, read_yaml, select_rows, select_tables
from harness.identity import settings_difference
from harness.jobs import Cell, Job, cost_left
from harness.paths import DATA_NAMES
from harness.store import StoredRun, read_record, run_origin, stale_reason, stored_runs
from harness.study import RunSettings, Study
from harness.tasks import TASKS


@dataclass
class Plan:
    """What one command runs and reports."""

    study: Study  # the scale, every table (with the candidates' rows), the protocols, the command's settings
    tables: list[Table]  # the selected ones
    jobs: list[Job]  # to run or reuse, upstream runs first
    cells: list[Cell]  # the selected tables' cells
    candidates: list[Candidate] = field(default_factory=list)
    missing: dict[str, list[Job]] = field(default_factory=dict)  # left out, by what this machine lacks
    stale: list[Job] = field(default_factory=list)  # finished, but made by other harness code
    workers: str = ""  # how many data-loading processes the loader-pipeline jobs get ("" where none uses one)
    near: list[str] = field(default_factory=list)  # imported runs close to a planned job, and how to match them

    def describe(self, rerun_stale: bool) -> str:
        """What ``--plan`` prints: the jobs with status and cost, then the candidates', left-out and stale lines."""
        lines = [format_plan(self.jobs, self.cells)] + ([self.workers] if self.workers else [])
        if self.candidates:
            lines.append(candidate_cost(self.jobs, self.tables))
        if self.missing:
            lines.append(f"left out on this machine: {left_out(self.missing)}")
        if self.near:
            lines += ["imported runs close to planned jobs (not the same runs, so they run here):"] + [
                f"  {line}" for line in self.near]
        if self.stale:
            lines.append(f"{len(self.stale)} finished run(s) were made by other harness code"
                         + (": they run again" if rerun_stale else " (--rerun-stale runs them again)"))
        return "\n".join(lines)


def left_out(missing: dict[str, list[Job]]) -> str:
    """The jobs left out for what this machine lacks, by reason, with their tables: ``8 jobs of T10_caption_nic,
    TA1_caption (needs a Java runtime: ...)``."""
    return "; ".join(f"{len(group)} job(s) of {', '.join(sorted({t for job in group for t, _, _ in job.cells}))} "
                     f"({reason})" for reason, group in missing.items())


def workers_line(args: argparse.Namespace, jobs: list[Job]) -> str:
    """The plan's line on the loader-pipeline jobs' data-loading processes ("" where no job uses a DataLoader)."""
    loading = [job for job in jobs if job.config.get("train", job.config).get("input_pipeline") == "loader"]
    if not loading:
        return ""
    if args.workers != AUTO_WORKERS:
        return f"loader workers: {args.workers} per job ({len(loading)} jobs read through a DataLoader)"
    if args.executor == "slurm":
        return "loader workers: auto: each job's cpus-per-task less one (the Slurm profile's cpus_per_process)"
    cpus, at_once = len(os.sched_getaffinity(0)), args.jobs or 2
    return (f"loader workers: auto: {max(0, cpus // at_once - 1)} per job here ({cpus} CPUs shared by {at_once} jobs "
            f"at once, less one each; with GPUs, one job per GPU shares them)")


def stale_jobs(jobs: list[Job]) -> list[Job]:
    """The finished jobs whose records were made by other code than this checkout's would run."""
    return [job for job in jobs if job.status() == "finished" and stale_reason(read_record(job.run_dir))]


MATCHING_FLAG = {"precision": "--precision {value}", "epochs": "--epochs {value}", "world_size": "--gpus-per-job {value}",
                 "input_pipeline": "--input-pipeline {value}"}  # identity fields a flag sets, and how


def near_misses(jobs: list[Job], runs: list[StoredRun]) -> list[str]:
    """For each unfinished job, the imported run of the same table cell that differs from it: which identity
    fields differ, and the flag that matches it where one does (an imported run is never taken for another)."""
    imported = {cell: run for run in runs if run_origin(run.folder) for cell in run.cells}
    lines = []
    for job in jobs:
        run = next((imported[cell] for cell in map(tuple, job.cells) if cell in imported), None)
        if run is None or job.status() == "finished":
            continue
        differs = settings_difference(run.config, job.config)
        there = run.config.get("train", run.config)
        flags = [MATCHING_FLAG[k].format(value=there.get(k)) for k in differs if k in MATCHING_FLAG]
        lines.append(f"{job.key} ({job.cells[0][0]}/{job.cells[0][1]} seed {job.cells[0][2]}): an imported run "
                     f"({run.folder.name}) differs in {', '.join(differs) or 'its identity'}"
                     + (f"; {' '.join(flags)} matches it" if flags else ""))
    return lines


def require_data(jobs: list[Job]) -> None:
    """Fail, with the fix, if any unfinished job's data are missing (each distinct configuration checked once)."""
    seen = set()
    for job in jobs:
        identity = (job.task, json.dumps(job.config, sort_keys=True, default=str))
        if job.status() != "finished" and identity not in seen:
            seen.add(identity)
            try:
                TASKS[job.task].require_data(job.config)
            except DataNotFoundError as err:
                raise DataNotFoundError(f"{err} (run_all.py --check-data lists every data set of the plan)") from None


def format_plan(jobs: list[Job], cells: list[Cell]) -> str:
    """The job list with status and estimated cost, then the rows that will stay empty and why."""
    lines = [f"{'status':9s} {'job':16s} {'cost':>12s}  {'model':20s} {'method':10s} seed  rows"]
    for job in jobs:
        rows = "; ".join(f"{t}/{r}" for t, r, _ in job.cells)
        cost = f"{job.cost:.2f} {job.cost_unit}"
        needed = f" (needed by {', '.join(job.needed_by)})" if job.needed_by else ""
        status = "imported" if job.status() == "finished" and run_origin(job.run_dir) else job.status()
        lines.append(f"{status:9s} {job.key:16s} {cost:>12s}  {job.config.get('model', ''):20s} "
                     f"{job.config.get('method', ''):10s} {job.config.get('seed', ''):>4}  {rows}{needed}")
    for cell in cells:
        if cell.reason:
            lines.append(f"{'-':9s} {'-':16s} {'':>12s}  {cell.table}/{cell.row}: {cell.reason}")
    done = sum(job.status() == "finished" for job in jobs)
    lines.append(f"{len(jobs)} jobs ({done} finished); left to run: {cost_left(jobs)} (rough estimate)")
    return "\n".join(lines)


def load_catalog(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Table]]:
    """The protocols and the tables of ``--experiments``, after loading the plugins (their methods name rows)."""
    augment.load_plugins(plugin_paths(args))
    missing = [name for name in ("protocols.yaml", "tables/") if not (args.experiments / name).exists()]
    if missing:
        raise HarnessError(f"--experiments {args.experiments}: no {' and no '.join(missing)} there: an experiments "
                           "folder holds protocols.yaml (each data-set family's protocol at each scale) and tables/ "
                           "(a YAML file per table); start one from a copy of the project's experiments/")
    protocols = load_protocols(args.experiments / "protocols.yaml")
    return protocols, load_tables(args.experiments / "tables", protocols)


def plugin_paths(args: argparse.Namespace) -> list[str]:
    """``--plugin`` files as absolute paths (workers run elsewhere), module names as they are."""
    return [str(Path(p).resolve()) if p.endswith(".py") else p for p in args.plugin]


def given_backbones(args: argparse.Namespace) -> dict[str, str]:
    """``--backbones`` (a YAML mapping ROW: PATH) then ``--backbone ROW=PATH`` (split at the last ``=``: row
    names such as "Mixup a=1.0" hold one); one-line errors for a malformed entry or a file that is not there."""
    given: dict[str, str] = {}
    if args.backbones is not None:
        data = read_yaml(args.backbones) if args.backbones.is_file() else None
        if not isinstance(data, dict):
            raise HarnessError(f"--backbones {args.backbones}: expected a YAML file mapping upstream rows to checkpoints")
        given.update({str(row): str(path) for row, path in data.items()})
    for item in args.backbone:
        row, sep, path = item.rpartition("=")
        if not sep or not row or not path:
            raise HarnessError(f"--backbone {item!r}: expected ROW=PATH, e.g. CutMix=/weights/cutmix_r50.pth")
        given[row] = path
    for row, path in given.items():
        if not Path(path).is_file():
            raise HarnessError(f"--backbone {row}: no such file: {path}")
    return given


def data_locations(args: argparse.Namespace) -> dict[str, str]:
    """``--data NAME=PATH``, checked: a known data set name, an existing folder."""
    given = {}
    for item in args.data:
        name, sep, path = item.partition("=")
        if not sep or name not in DATA_NAMES:
            raise HarnessError(f"--data {item!r}: expected NAME=PATH with NAME one of {', '.join(DATA_NAMES)}")
        if not Path(path).is_dir():
            raise HarnessError(f"--data {name}: no such folder: {path}")
        given[name] = str(Path(path).resolve())
    return given


def check_backbone_rows(given: dict[str, str], tables: list[Table]) -> None:
    """Every ``--backbone`` ROW names the upstream row of a selected row (as TABLE/ROW or ROW)."""
    references = {row.backbone for table in tables for row in table.rows if row.backbone}
    known = references | {reference.partition("/")[2] for reference in references}
    unknown = sorted(set(given) - known)
    if unknown:
        raise HarnessError(f"--backbone {', '.join(unknown)}: no selected row starts from such a row (they start "
                           f"from: {', '.join(sorted(known)) or 'none: select a transfer table, e.g. --tables 10'})")


def check_backbones_used(given: dict[str, str], jobs: list[Job], scale: str) -> None:
    """Every ``--backbone`` file is what some planned job starts from (at the smoke scale, Table 9's rows train
    from scratch: a file given for them would be silently unused)."""
    used = {job.config["backbone_file"]["path"] for job in jobs if job.config.get("backbone_file")}
    unused = sorted(row for row, path in given.items() if str(Path(path).resolve()) not in used)
    if unused:
        raise HarnessError(f"--backbone {', '.join(unused)}: no selected job starts from it at the {scale} scale "
                           "(there its rows train from scratch, or do not run)")


def check_given_weights(jobs: list[Job]) -> None:
    """Every ``--backbone`` file against the network each unfinished job will load it into (names and shapes;
    the file memory-mapped): a misfit stops the command before anything is queued, naming the tensors."""
    given = {}
    for job in jobs:
        weights = TASKS[job.task].given_weights(job.config)
        if weights is not None and job.status() != "finished":
            given.setdefault((weights.path, weights.model, weights.num_classes, repr(weights.model_kwargs),
                              weights.with_head), (job, weights))
    if not given:
        return
    from harness.weights import MisfitWeights, check_fits  # torch: only where a file is given

    problems = []
    for job, weights in given.values():
        try:
            check_fits(weights.path, weights.model, weights.num_classes, weights.model_kwargs, weights.with_head,
                       what=f"{job.task}, {'with' if weights.with_head else 'without'} its classifier; "
                            f"{', '.join(f'{t}/{r}' for t, r, _ in job.cells[:2])}")
        except MisfitWeights as err:
            problems.append(str(err))
    if problems:
        raise HarnessError("--backbone: " + "\n".join(problems))


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The command's settings every job takes (flags, checked)."""
    return RunSettings(backbones=given_backbones(args), data=data_locations(args), data_root=args.data_root,
                       device=args.device, num_workers=args.workers, plugins=tuple(plugin_paths(args)),
                       epochs=args.epochs, gpus_per_job=args.gpus_per_job, compile=args.compile,
                       input_pipeline=None if args.input_pipeline == "auto" else args.input_pipeline,
                       precision=args.precision)


def selected_tables(args: argparse.Namespace, catalog: dict[str, Table], protocols: dict[str, Any],
                    candidates: list[Candidate]) -> list[Table]:
    """``--tables`` (default: every table that has the scale: at mini, the CIFAR tables)."""
    tables = select_tables(catalog, args.tables)
    if not args.tables:
        return [table for table in tables if args.scale in protocols[table.protocol]]
    if candidates and len(profile_tables(tables)) < len(tables):
        print(f"candidate: no row in {', '.join(t.id for t in tables if t.candidate is None)} (outside the profile: "
              "see docs/adding_a_method.md)", flush=True)
    return tables


def make_plan(args: argparse.Namespace, protocols: dict[str, Any], catalog: dict[str, Table], download=None) -> Plan:
    """The command's plan: candidates added, tables and rows selected (``download(tables)`` fetches their data
    first where asked), jobs expanded, a profile's runs only, the jobs this machine cannot run left out, the
    upstream runs the selection starts from added, and the stale finished runs found."""
    candidates = with_file_params([parse_candidate(text) for text in args.candidate], args.candidate_params, protocols)
    if candidates:
        catalog = add_candidates(catalog, candidates, protocols, args.scale)
        print(describe(candidates), flush=True)
    tables = selected_tables(args, catalog, protocols, candidates)
    if download is not None:
        download(tables)
    study = Study(args.scale, protocols, catalog, args.results, run_settings(args))
    check_backbone_rows(study.settings.backbones, tables)
    jobs, cells = expand(study, tables, seeds=args.seeds, rows=select_rows(tables, args.methods, args.rows))
    if candidates and not args.tables:  # the profile's runs only; other rows are shown where they are cached
        jobs, cells, tables = restrict_to_profile(jobs, cells, tables)
    check_backbones_used(study.settings.backbones, jobs, args.scale)
    check_given_weights(jobs)
    jobs, cells, missing = without_missing_runtimes(jobs, cells)
    jobs = with_upstream(study, jobs, tables, seeds=args.seeds)  # a table on its own: the runs its rows start from
    return Plan(study, tables, jobs, cells, candidates, missing, stale_jobs(jobs), workers_line(args, jobs),
                near_misses(jobs, stored_runs(args.results, args.scale)))

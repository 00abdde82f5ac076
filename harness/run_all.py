"""``python run_all.py``: the paper's tables -> jobs -> runs (cached, resumable) -> the report."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from harness import augment
from harness.candidate import (SPELLING, add_candidates, candidate_cost, describe, parse_candidate, profile_tables,
                               restrict_to_profile, with_file_params)
from harness.cli import parse_params, run_cli
from harness.devices import visible_gpus
from harness.errors import HarnessError
from harness.experiments import SCALES, Table, load_protocols, load_tables, paper_values, select_tables
from harness.fingerprint import forget_fingerprints
from harness.orchestrate import check_data, execute, expand, format_plan, results_lock, set_aside_damaged
from harness.paths import EXPERIMENTS, ROOT, data_root
from harness.report import build_report
from harness.train.files import RECORD


def build_parser() -> argparse.ArgumentParser:
    """``run_all.py``'s command line."""
    parser = argparse.ArgumentParser(prog="run_all.py", description="Reproduce the CutMix paper's tables and report them.")
    parser.add_argument("--scale", choices=SCALES, default="smoke", help="smoke (default: generated data, CPU minutes) | mini (real CIFAR on a CPU, about an hour a "
                        "data set) | reduced (real data, one GPU) | paper (the published protocol)")
    parser.add_argument("--tables", nargs="*", help="table ids or numbers, e.g. 3 5 7 A1 F5 (default: all)")
    parser.add_argument("--methods", nargs="*", help="only rows with these methods or row names")
    parser.add_argument("--seeds", type=int, nargs="*", help="override the scale's seeds")
    parser.add_argument("--epochs", type=int, help="override the scale's epochs (changes the runs' identity)")
    parser.add_argument("--data-root", help="folder of the real data sets (default: $MIXBENCH_DATA or ~/.cache/mixbench)")
    parser.add_argument("--download", action="store_true", help="fetch the selected tables' CIFAR data sets into "
                        "--data-root first, with torchvision (needs internet; the other data sets are never downloaded)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--jobs", type=int, help="jobs run in parallel, each in its own process (default: one per GPU "
                        "of --gpus, else 2)")
    parser.add_argument("--gpus", default="auto", help="GPUs to pin jobs to, one job per GPU: auto ($CUDA_VISIBLE_DEVICES, "
                        "else every GPU nvidia-smi lists), none, or ids such as 0,1,3")
    parser.add_argument("--gpus-per-job", type=int, help="train every classification job data-parallel on this many "
                        "GPUs (processes on a CPU), overriding the protocol's gpus; changes the runs' identity")
    parser.add_argument("--compile", action="store_true", help="torch.compile each training run's forward (GPU; not part of a run's identity)")
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes per job (loader pipeline)")
    parser.add_argument("--input-pipeline", choices=("auto", "loader"), default="auto", help="auto (default): the "
                        "device-resident pipeline for CIFAR and generated data on one process, else torchvision's "
                        "transforms in a DataLoader; loader: the DataLoader everywhere. Part of the runs' identity")
    cluster = parser.add_argument_group("executor", "where jobs run: local processes (default) or Slurm through submitit")
    cluster.add_argument("--executor", choices=("local", "slurm"), default="local")
    cluster.add_argument("--slurm-local", action="store_true", help="with --executor slurm: submitit's LocalExecutor "
                         "instead of a cluster (local CPU processes; the same submission, requeue and collection)")
    cluster.add_argument("--slurm-profile", type=Path, help="YAML of Slurm settings (copy experiments/slurm/example.yaml)")
    cluster.add_argument("--slurm-partition")
    cluster.add_argument("--slurm-account")
    cluster.add_argument("--slurm-time", type=int, help="a job's time limit in minutes (longer runs requeue and resume)")
    cluster.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                         help="any other sbatch option, e.g. --slurm-option exclude=node01 (repeatable)")
    parser.add_argument("--plugin", action="append", default=[], help="a .py file or module registering methods")
    parser.add_argument("--candidate", action="append", default=[], metavar=SPELLING,
                        help="profile a method as the paper profiled CutMix: a row in every table that compares "
                        "regularisers (its downstream rows start from its own runs), a profile at the top of the "
                        "report; without --tables only those tables' candidate, Baseline, Mixup, Cutout and CutMix "
                        "rows run. Repeatable. E.g. patchswap, patchswap:alpha=1.0,prob=0.5, big=patchswap:prob=1")
    parser.add_argument("--candidate-params", type=Path, metavar="YAML", help="per-data-set parameters of the "
                        "candidates: {label: {key: value, <protocol family>: {key: value}}} (docs/adding_a_method.md)")
    parser.add_argument("--plan", action="store_true", help="print the jobs with status and estimated cost, run nothing")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from results/ without running")
    parser.add_argument("--experiments", type=Path, default=EXPERIMENTS, help="folder of protocols.yaml, tables/ and the paper's figures")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.slurm_local and args.executor != "slurm":
        raise HarnessError("--slurm-local goes with --executor slurm")
    if args.candidate_params and not args.candidate:
        raise HarnessError("--candidate-params goes with --candidate")
    for flag, value, least in (("--jobs", args.jobs, 1), ("--workers", args.workers, 0), ("--epochs", args.epochs, 1),
                               ("--gpus-per-job", args.gpus_per_job, 1)):
        if value is not None and value < least:
            raise HarnessError(f"{flag} must be at least {least}, got {value}")
    return args


def make_executor(args: argparse.Namespace):
    """The executor the flags ask for. Local: the GPUs to pin jobs to (--device cuda:N or cpu: none; nvidia-smi is
    asked only when a job will run, so a cached rerun stays quick), one job per GPU, else --jobs (default 2)."""
    if args.executor == "slurm":
        from harness.executors.slurm import SlurmExecutor, load_slurm_settings

        settings = load_slurm_settings(args.slurm_profile, {
            "partition": args.slurm_partition, "account": args.slurm_account, "time_min": args.slurm_time})
        settings.sbatch.update(parse_params(args.slurm_option))
        cluster = "local" if args.slurm_local else "slurm"
        max_jobs = args.jobs or (2 if args.slurm_local else None)
        threads = max(1, (os.cpu_count() or 1) // max_jobs) if args.slurm_local else None
        print(f"executor: {'submitit LocalExecutor' if args.slurm_local else 'Slurm'} (submitit), "
              f"{'at most ' + str(max_jobs) if max_jobs else 'any number of'} jobs at a time", flush=True)
        return SlurmExecutor(args.results / args.scale / "submitit", settings, cluster, max_jobs, threads)
    from harness.executors.local import LocalExecutor

    gpus = visible_gpus(args.gpus) if args.device in ("auto", "cuda") else []
    executor = LocalExecutor(args.jobs or len(gpus) or 2, gpus)
    if gpus:
        print(f"GPUs {', '.join(gpus)}: each job pinned to its own, {executor.workers} at a time", flush=True)
    return executor


def download(tables: list[Table], protocols: dict, scale: str, root: str | None) -> None:
    """``--download``: fetch the CIFAR sets the selected tables train on at ``scale`` before they are planned (a
    run is named by its data's fingerprint)."""
    from harness.data.cifar import download_cifar

    wanted = {protocols[t.protocol][scale]["dataset"] for t in tables if scale in protocols[t.protocol]}
    for name in sorted(wanted & {"cifar10", "cifar100"}):
        print(f"downloading {name} into {data_root(root)} (torchvision)", flush=True)
        download_cifar(name, data_root(root))
    forget_fingerprints()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    plugins = [str(Path(p).resolve()) if p.endswith(".py") else p for p in args.plugin]
    augment.load_plugins(plugins)
    protocols = load_protocols(args.experiments / "protocols.yaml")
    catalog = load_tables(args.experiments / "tables", protocols)
    candidates = with_file_params([parse_candidate(text) for text in args.candidate], args.candidate_params, protocols)
    if candidates:
        catalog = add_candidates(catalog, candidates, protocols, args.scale)
        print(describe(candidates), flush=True)
    tables = select_tables(catalog, args.tables)
    if not args.tables:  # every table that has this scale (mini: the CIFAR tables)
        tables = [table for table in tables if args.scale in protocols[table.protocol]]
    elif candidates and len(profile_tables(tables)) < len(tables):
        print(f"candidate: no row in {', '.join(t.id for t in tables if t.candidate is None)} (outside the profile: "
              "see docs/adding_a_method.md)", flush=True)
    if args.download:
        download(tables, protocols, args.scale, args.data_root)
    overrides = {"data_root": args.data_root, "device": args.device, "num_workers": args.workers,
                 "plugins": plugins, "epochs": args.epochs, "gpus_per_job": args.gpus_per_job,
                 "compile": args.compile, "input_pipeline": None if args.input_pipeline == "auto" else args.input_pipeline}
    jobs, cells = expand(tables, protocols, args.scale, args.results, seeds=args.seeds, methods=args.methods,
                         overrides=overrides, catalog=catalog)
    if candidates and not args.tables:  # the profile's runs only; other rows are shown where they are cached
        jobs, cells, tables = restrict_to_profile(jobs, cells, tables)
    shown = list({cell.job.key: cell.job for cell in cells if cell.job}.values())
    if args.plan:
        print(format_plan(jobs, cells))
        if candidates:
            print(candidate_cost(jobs, tables))
        return 0
    will_run = not args.report_only and any(job.status() != "finished" for job in jobs)
    if will_run:
        check_data(jobs)  # a wrong --data-root stops here, before any job starts or any file is written
    executor = make_executor(args) if will_run else None
    if not will_run and args.gpus != "auto":
        visible_gpus(args.gpus)  # a malformed list is an error even when nothing runs
    if will_run:
        executor.check(jobs)
    paper = paper_values(args.experiments)

    def report() -> dict[str, Path]:
        return build_report(tables, shown, cells, paper, args.scale, args.reports)

    with results_lock(args.results):
        outcome = {"failed": []}
        damaged = [job for job in jobs if job.status() == "damaged"]
        for job in damaged:
            print(f"damaged: {job.run_dir / RECORD}" + (" (--report-only: its row says so; run without it to run the "
                                                         "job again)" if args.report_only else ""), flush=True)
        if not args.report_only:
            for job, aside in set_aside_damaged(damaged):
                print(f"  kept aside as {aside}; {job.key} runs again", flush=True)
            pending = sum(job.status() != "finished" for job in jobs)
            if pending:
                paths = report()
                print(f"{len(jobs)} jobs, {pending} to run; the report fills in as they finish: {paths['html']}", flush=True)
            if executor is not None:
                outcome = execute(jobs, executor, progress=not args.no_progress, on_change=report)
            else:
                outcome = {"cached": jobs, "finished": [], "failed": []}
            print(f"jobs: {len(outcome['cached'])} cached, {len(outcome['finished'])} run, {len(outcome['failed'])} failed")
        paths = report()
    print(f"report: {paths['html']} and {paths['markdown']} ({time.perf_counter() - started:.1f} s)")
    if damaged:
        print(f"mixbench: {len(damaged)} damaged record(s) found: exit status 1 (see the lines 'damaged:' above)",
              file=sys.stderr)
    return 1 if outcome["failed"] or damaged else 0


def cli() -> NoReturn:
    """The ``mixbench-run-all`` command."""
    run_cli(main)

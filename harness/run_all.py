"""``python run_all.py``: the paper's tables -> jobs -> runs (cached, resumable) -> the report."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import NoReturn

from harness import augment
from harness.cli import run_cli
from harness.devices import visible_gpus
from harness.errors import HarnessError
from harness.experiments import SCALES, load_protocols, load_tables, paper_values, select_tables
from harness.orchestrate import check_data, execute, expand, format_plan, results_lock
from harness.paths import EXPERIMENTS, ROOT
from harness.report import build_report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_all.py", description="Reproduce the CutMix paper's tables and report them.")
    parser.add_argument("--scale", choices=SCALES, default="smoke", help="smoke (default: generated data, CPU minutes) | mini (real CIFAR on a CPU, about an hour a "
                        "data set) | reduced (real data, one GPU) | paper (the published protocol)")
    parser.add_argument("--tables", nargs="*", help="table ids or numbers, e.g. 3 5 7 A1 F5 (default: all)")
    parser.add_argument("--methods", nargs="*", help="only rows with these methods or row names")
    parser.add_argument("--seeds", type=int, nargs="*", help="override the scale's seeds")
    parser.add_argument("--epochs", type=int, help="override the scale's epochs (changes the runs' identity)")
    parser.add_argument("--data-root", help="folder of the real data sets (default: $MIXBENCH_DATA or ~/.cache/mixbench)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--jobs", type=int, help="jobs run in parallel, each in its own process (default: one per GPU "
                        "of --gpus, else 2)")
    parser.add_argument("--gpus", default="auto", help="GPUs to pin jobs to, one job per GPU: auto ($CUDA_VISIBLE_DEVICES, "
                        "else every GPU nvidia-smi lists), none, or ids such as 0,1,3")
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes per job")
    parser.add_argument("--plugin", action="append", default=[], help="a .py file or module registering methods")
    parser.add_argument("--plan", action="store_true", help="print the jobs with status and estimated cost, run nothing")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from results/ without running")
    parser.add_argument("--experiments", type=Path, default=EXPERIMENTS, help="folder of protocols.yaml, tables/ and the paper's figures")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    for flag, value, least in (("--jobs", args.jobs, 1), ("--workers", args.workers, 0), ("--epochs", args.epochs, 1)):
        if value is not None and value < least:
            raise HarnessError(f"{flag} must be at least {least}, got {value}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    plugins = [str(Path(p).resolve()) if p.endswith(".py") else p for p in args.plugin]
    augment.load_plugins(plugins)
    protocols = load_protocols(args.experiments / "protocols.yaml")
    catalog = load_tables(args.experiments / "tables", protocols)
    tables = select_tables(catalog, args.tables)
    if not args.tables:  # every table that has this scale (mini: the CIFAR tables)
        tables = [table for table in tables if args.scale in protocols[table.protocol]]
    overrides = {"data_root": args.data_root, "device": args.device, "num_workers": args.workers,
                 "plugins": plugins, "epochs": args.epochs}
    jobs, cells = expand(tables, protocols, args.scale, args.results, seeds=args.seeds, methods=args.methods,
                         overrides=overrides, catalog=catalog)
    if args.plan:
        print(format_plan(jobs, cells))
        return 0
    # GPUs to pin jobs to (--device cuda:N or cpu: none). Looking for them (nvidia-smi) is left out where no job
    # will run, so a cached rerun stays quick; a --gpus list is still checked.
    will_run = not args.report_only and any(job.status() != "finished" for job in jobs)
    gpus = visible_gpus(args.gpus) if args.device in ("auto", "cuda") and (will_run or args.gpus != "auto") else []
    workers = args.jobs or len(gpus) or 2
    if not args.report_only:
        check_data(jobs)  # a wrong --data-root stops here, before any job starts or any file is written
    paper = paper_values(args.experiments)

    def report() -> dict[str, Path]:
        return build_report(tables, jobs, cells, paper, args.scale, args.reports)

    with results_lock(args.results):
        outcome = {"failed": []}
        if not args.report_only:
            pending = sum(job.status() != "finished" for job in jobs)
            if pending:
                paths = report()
                print(f"{len(jobs)} jobs, {pending} to run; the report fills in as they finish: {paths['html']}", flush=True)
            if gpus:
                print(f"GPUs {', '.join(gpus)}: one job per GPU, {min(workers, len(gpus))} at a time", flush=True)
            outcome = execute(jobs, workers=workers, progress=not args.no_progress, on_change=report, gpus=gpus)
            print(f"jobs: {len(outcome['cached'])} cached, {len(outcome['finished'])} run, {len(outcome['failed'])} failed")
        paths = report()
    print(f"report: {paths['html']} and {paths['markdown']} ({time.perf_counter() - started:.1f} s)")
    return 1 if outcome["failed"] else 0


def cli() -> NoReturn:
    """The ``mixbench-run-all`` command."""
    run_cli(main)

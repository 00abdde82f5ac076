"""``python run_all.py``: the paper's tables -> jobs -> runs (cached, resumable) -> the report."""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, NoReturn

from harness.candidate import SPELLING
from harness.cli import (INPUT_PIPELINE_CHOICES, INPUT_PIPELINE_HELP, PRECISION_HELP, HelpFormatter, parse_params,
                         run_cli)
from harness.data_check import root_origin, survey_plan_data
from harness.devices import AUTO_WORKERS, PRECISIONS, parse_workers, visible_gpus
from harness.errors import HarnessError
from harness.experiments import SCALES, Table, paper_values
from harness.fingerprint import forget_fingerprints
from harness.listing import DOWNLOADABLE, LISTS, listing
from harness.expand import row_reason
from harness.jobs import Cell, Job
from harness.paths import DATA_NAMES, EXPERIMENTS, data_root, output_folder
from harness.plan import Plan, left_out, load_catalog, make_plan, require_data
from harness.report import build_report, write_scales_index
from harness.report.stored import with_stored_runs
from harness.schedule import execute
from harness.store import read_record, results_lock, set_aside, stale_reason, stored_runs
from harness.tasks import TASKS
from harness.train.files import RECORD

EXIT_MISSING_RUNTIME = 3  # every job this machine can run ran; the others need what it lacks (captioning: Java)
EXAMPLES = f"""\
examples:
  %(prog)s                                      # every table at the smoke scale, then the report
  %(prog)s --list tables                        # the tables and their rows (also: methods, scales, datasets)
  %(prog)s --tables 5 7 --rows Baseline CutMix --seeds 0
  %(prog)s --tables 5 --methods cutout mixup    # the Table 5 rows whose method is cutout or mixup
  %(prog)s --scale paper --tables 5 --plan      # the published protocol's jobs, with their GPU-hours
  %(prog)s --scale mini --tables 7 --download   # real CIFAR-10 on a CPU, about an hour
  %(prog)s --scale reduced --tables 3 --data-root /data --device cuda
  %(prog)s --plugin docs/examples/patchswap.py --candidate patchswap --tables 7   # profile a new method
  %(prog)s --report-only                        # rebuild the report from --results

exit status: 0 every selected job ran or was cached (a row that does not run at the scale says why in the
report); 1 a job failed or a record is damaged; 2 bad input (one line on stderr, nothing written); {EXIT_MISSING_RUNTIME} every
job this machine can run ran, and the others need what it lacks (captioning's metrics: a Java runtime)
"""


def program_name() -> str:
    """How the command was started, for its usage line and examples: the console script's name, else
    ``python run_all.py``."""
    name = Path(sys.argv[0]).name
    return name if name.startswith("mixbench") else "python run_all.py"


def build_parser() -> argparse.ArgumentParser:
    """``run_all.py``'s command line: what to run, how, where jobs run, what to do, and the folders."""
    parser = argparse.ArgumentParser(prog=program_name(), description="Reproduce the CutMix paper's tables and "
                                     "report them.", epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_selection_flags(parser.add_argument_group("what runs"))
    add_training_flags(parser.add_argument_group("how jobs run"))
    add_executor_flags(parser.add_argument_group("where jobs run", "local processes, or Slurm through submitit"))
    add_action_flags(parser.add_argument_group("what to do (default: run what is not cached, then report)"))
    folders = parser.add_argument_group("folders")
    folders.add_argument("--experiments", type=Path, default=EXPERIMENTS, help="folder of protocols.yaml, tables/ and "
                         "the paper's figures")
    folders.add_argument("--results", type=Path, default=output_folder() / "results", help="where runs are kept "
                         "(results/<scale>/<job>): cached, resumed, reported")
    folders.add_argument("--reports", type=Path, default=output_folder() / "reports", help="where the report is "
                         "written (reports/<scale>/index.html and tables.md)")
    return parser


def add_selection_flags(group: argparse._ArgumentGroup) -> None:
    """--scale, --tables, --methods, --rows, --seeds, --epochs, --backbone(s), --plugin, --candidate(-params)."""
    group.add_argument("--scale", choices=SCALES, default="smoke", help="; ".join(f"{name}: {purpose}" for name, purpose
                                                                                 in SCALES.items()))
    group.add_argument("--tables", nargs="*", metavar="TABLE", help="table ids, numbers or prefixes, e.g. 3 5 7 A1 F3 "
                       "(default: every table of the scale)")
    group.add_argument("--methods", nargs="*", metavar="METHOD", help="only the rows whose method is one of these "
                       "(--list methods; case-insensitive). With --rows: the rows both select (default: every row)")
    group.add_argument("--rows", nargs="*", metavar="ROW", help="only the rows of these names, e.g. Baseline CutMix "
                       "'Mixup a=1.0' (--list tables; case-insensitive) (default: every row)")
    group.add_argument("--seeds", type=int, nargs="*", metavar="SEED", help="run these seeds (default: the scale's)")
    group.add_argument("--epochs", type=int, help="train this many epochs (changes the runs' identity) (default: the "
                       "scale's)")
    group.add_argument("--backbone", action="append", default=[], metavar="ROW=PATH", help="start the downstream rows "
                       "whose upstream row is ROW (a row name such as CutMix, or TABLE/ROW) from the checkpoint file "
                       "PATH instead of the harness's run (the official CutMix-PyTorch release, a torchvision or timm "
                       "state dict, a harness checkpoint); that run is not planned. Repeatable")
    group.add_argument("--backbones", type=Path, metavar="YAML", help="the same for many: a mapping ROW: PATH")
    group.add_argument("--plugin", action="append", default=[], help="a .py file or module registering methods "
                       "(repeatable)")
    group.add_argument("--candidate", action="append", default=[], metavar=SPELLING,
                       help="profile a method as the paper profiled CutMix: a row in every table that compares "
                       "regularisers (its downstream rows start from its own runs), a profile at the top of the "
                       "report; without --tables only those tables' candidate, Baseline, Mixup, Cutout and CutMix "
                       "rows run. Repeatable. E.g. patchswap, patchswap:alpha=1.0,prob=0.5, big=patchswap:prob=1")
    group.add_argument("--candidate-params", type=Path, metavar="YAML", help="per-data-set parameters of the "
                       "candidates: {label: {key: value, <protocol family>: {key: value}}} (docs/adding_a_method.md)")


def add_training_flags(group: argparse._ArgumentGroup) -> None:
    """The flags of a job's execution, shared in name and meaning with ``python -m harness.train``."""
    group.add_argument("--data-root", help="folder of the real data sets (default: $MIXBENCH_DATA or ~/.cache/mixbench)")
    group.add_argument("--data", action="append", default=[], metavar="NAME=PATH", help="a data set that lives "
                       f"elsewhere: the folder its loader reads (NAME one of {', '.join(DATA_NAMES)}), e.g. "
                       "--data cub=/datasets/CUB_200_2011 --data voc=/datasets (the folder holding VOCdevkit/). "
                       "Repeatable; the others stay under --data-root, in their own folders where they are there "
                       "(CUB_200_2011/, imagenet/{train,val}) or flat")
    group.add_argument("--download", action="store_true", help="fetch the selected tables' CIFAR data sets into "
                       "--data-root first, with torchvision (needs internet; the other data sets are never downloaded)")
    group.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    group.add_argument("--jobs", type=int, help="jobs run in parallel, each in its own process (default: one per GPU "
                       "of --gpus, else 2)")
    group.add_argument("--gpus", default="auto", help="GPUs to pin jobs to, one job per GPU: auto ($CUDA_VISIBLE_DEVICES, "
                       "else every GPU nvidia-smi lists), none, or ids such as 0,1,3")
    group.add_argument("--gpus-per-job", type=int, help="train every classification job data-parallel on this many "
                       "GPUs (processes on a CPU), overriding the protocol's gpus; changes the runs' identity (default: "
                       "the protocol's, else 1)")
    group.add_argument("--compile", action="store_true", help="torch.compile each training run's forward (GPU; not "
                       "part of a run's identity)")
    group.add_argument("--workers", type=parse_workers, default=AUTO_WORKERS, metavar="auto|N", help="data-loading "
                       "processes per job (loader pipeline); auto: each job's share of the CPUs (its affinity, or "
                       "Slurm's cpus-per-task, over the jobs running at once) less one (default: auto)")
    group.add_argument("--input-pipeline", choices=INPUT_PIPELINE_CHOICES, default="auto", help=INPUT_PIPELINE_HELP)
    group.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    group.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")


def add_executor_flags(group: argparse._ArgumentGroup) -> None:
    """--executor and its --slurm-* flags."""
    group.add_argument("--executor", choices=("local", "slurm"), default="local", help="local: processes on this "
                       "machine; slurm: one Slurm job per run, submitted with submitit (requeued when preempted or "
                       "out of time)")
    group.add_argument("--slurm-local", action="store_true", help="with --executor slurm: submitit's LocalExecutor "
                       "instead of a cluster (local CPU processes; the same submission, requeue and collection)")
    group.add_argument("--slurm-profile", type=Path, metavar="YAML", help="Slurm settings (copy "
                       f"{EXPERIMENTS / 'slurm' / 'example.yaml'}); the flags below override it")
    group.add_argument("--slurm-partition", help="sbatch --partition (default: the profile's, else the cluster's)")
    group.add_argument("--slurm-account", help="sbatch --account (default: the profile's, else none)")
    group.add_argument("--slurm-time", type=int, metavar="MINUTES", help="a job's time limit; a longer run is "
                       "requeued and resumes (default: the profile's, else 1440)")
    group.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. --slurm-option exclude=node01 (repeatable)")


def add_action_flags(group: argparse._ArgumentGroup) -> None:
    """--list, --plan, --report-only, --rerun-stale, --compare."""
    group.add_argument("--list", nargs="?", const="all", choices=("all", *LISTS), help="print what there is "
                       "(tables with their rows, methods with their parameters, scales, data sets; no value: all), "
                       "run nothing")
    group.add_argument("--plan", action="store_true", help="print the jobs with status and estimated cost, run nothing")
    group.add_argument("--report-only", action="store_true", help="rebuild every table's report of the scale from "
                       "the records in --results, running nothing")
    group.add_argument("--check-data", action="store_true", help="for the selected tables and scale, one line per "
                       "data set: its folder, found / missing / incomplete, the counts found against the protocol's; "
                       "exit status 0 only when every one is usable; decodes no image, runs nothing")
    group.add_argument("--rerun-stale", action="store_true", help="run again the selected tables' finished runs whose "
                       "records were made by other harness code than this checkout's (the report marks them)")
    group.add_argument("--export", type=Path, metavar="FILE", help="write the selected finished runs (--scale, --tables, "
                       "--rows, --methods, --seeds, --candidate choose) as one bundle: records, job descriptions, logs "
                       "and a manifest of their identities, environments and SHA-256s; never data. A .tar.gz/.tgz name "
                       "writes an archive, any other a folder of the same layout (docs/results.md)")
    group.add_argument("--with-weights", action="store_true", help="with --export: each run's best checkpoint too")
    group.add_argument("--import", dest="imports", action="append", default=[], type=Path, metavar="BUNDLE",
                       help="add a bundle's runs (an archive --export wrote, a folder of that layout, or a folder of "
                       "bundles) to --results first, each checked (digests, keys recomputed, record format, archive "
                       "safety) and named by its origin: a planned job an imported run has made is finished. With "
                       "--report-only: one leaderboard over them all. Repeatable")
    group.add_argument("--import-max-file-mb", type=int, default=64, metavar="MB", help="the largest file an "
                       "imported bundle may hold (default: 64)")
    group.add_argument("--import-max-total-mb", type=int, default=1024, metavar="MB", help="the largest bundle, "
                       "unpacked (default: 1024)")
    group.add_argument("--compare", type=Path, metavar="OTHER_RESULTS", help="with --report-only: put another results "
                       "folder's figures beside this one's, cell by cell, with their difference and whether it is "
                       "within the seeds' noise")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.slurm_local and args.executor != "slurm":
        raise HarnessError("--slurm-local goes with --executor slurm")
    if args.candidate_params and not args.candidate:
        raise HarnessError("--candidate-params goes with --candidate")
    if args.compare is not None and not (args.compare / args.scale).is_dir():
        raise HarnessError(f"--compare {args.compare}: no {args.scale}-scale runs there ({args.compare / args.scale} "
                           "is not a folder): name another results folder (the one given to its --results)")
    for flag, value, least in (("--jobs", args.jobs, 1), ("--epochs", args.epochs, 1),
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
    for name in sorted(wanted & set(DOWNLOADABLE)):
        print(f"downloading {name} into {data_root(root)} (torchvision)", flush=True)
        download_cifar(name, data_root(root))
    forget_fingerprints()


def report_builder(args: argparse.Namespace, plan: Plan) -> Callable[[], dict[str, Path]]:
    """What rebuilds the scale's report (``reports/<scale>/``) over every record of the scale: the selected
    tables as planned, every other table of the scale from its stored runs; then ``reports/index.html``."""
    selected, study = {table.id for table in plan.tables}, plan.study
    others = [replace(t, rows=tuple(r for r in t.rows if not r.candidate))  # its records bring a candidate's rows
              for t in study.catalog.values() if t.id not in selected and study.has_scale(t)]
    reasons = [Cell(t.id, row.name, None, reason=why) for t in others for row in t.rows
               if (why := row_reason(row, study.protocol(t), study.scale))]
    order = list(study.catalog)
    paper = paper_values(args.experiments)

    def report() -> dict[str, Path]:
        runs = stored_runs(args.results, args.scale)
        every, merged = with_stored_runs(plan.tables + others, plan.cells + reasons, runs, args.scale)
        shown = sorted((t for t in every if t.id in selected or any(c.table == t.id and c.job for c in merged)),
                       key=lambda t: order.index(t.id))
        paths = build_report(shown, plan.jobs, merged, paper, args.scale, args.reports / args.scale, runs, args.compare)
        write_scales_index(args.reports)
        return paths

    return report


def survey(args: argparse.Namespace, plan: Plan, jobs: list[Job], subsets_only: bool = False):
    """The data sets ``jobs`` read, as ``--check-data`` finds them (:func:`harness.data_check.survey_plan_data`)."""
    study = plan.study
    return survey_plan_data(jobs, study.protocols, args.scale, study.catalog, args.data_root,
                            dict(study.settings.data), subsets_only)


def require_usable_subsets(args: argparse.Namespace, plan: Plan, jobs: list[Job]) -> None:
    """Stop before any job where a protocol's class-balanced subset cannot be drawn from the data found (the job
    would fail at its start, on a cluster after its wait in the queue): ``--check-data``'s line for each."""
    unusable = [status for status in survey(args, plan, jobs, subsets_only=True) if status.state == "unusable"]
    if unusable:
        raise HarnessError("data the plan cannot use, nothing run:\n" + "\n".join(s.line() for s in unusable))


def prepare(args: argparse.Namespace, plan: Plan, rerun: list[Job]):
    """The executor where something will run, after checking every unfinished job's data (a wrong --data-root
    stops here, before any job starts or any file is written); None where nothing will."""
    jobs = plan.jobs
    will_run = not args.report_only and (bool(rerun) or any(job.status() != "finished" for job in jobs))
    if not will_run:
        if args.gpus != "auto":
            visible_gpus(args.gpus)  # a malformed list is an error even when nothing runs
        return None
    require_data(jobs)
    require_usable_subsets(args, plan, [job for job in jobs if job.status() != "finished" or job in rerun])
    executor = make_executor(args)
    executor.check(jobs)
    return executor


def run_plan(args: argparse.Namespace, plan: Plan, rerun: list[Job], executor, report) -> tuple[dict, list[Job]]:
    """Under the results folder's lock: damaged records set aside (or named, with --report-only), stale ones
    set aside where asked, the jobs run while the report fills in; (the outcome, the damaged jobs)."""
    jobs = plan.jobs
    damaged = [job for job in jobs if job.status() == "damaged"]
    for job in damaged:
        print(f"damaged: {job.run_dir / RECORD}" + (" (--report-only: its row says so; run without it to run the "
                                                     "job again)" if args.report_only else ""), flush=True)
    if args.report_only:
        return {"failed": []}, damaged
    for job, aside in set_aside(damaged, "damaged"):
        print(f"  kept aside as {aside}; {job.key} runs again", flush=True)
    for job, aside in set_aside(rerun, "stale"):
        print(f"stale: {job.key} ({stale_reason(read_record(aside))}): kept aside as {aside.name}, runs again",
              flush=True)
    pending = sum(job.status() != "finished" for job in jobs)
    if pending:
        print(f"{len(jobs)} jobs, {pending} to run; the report fills in as they finish: {report()['html']}", flush=True)
    outcome = (execute(jobs, executor, progress=not args.no_progress, on_change=report) if executor is not None
               else {"cached": jobs, "finished": [], "failed": []})
    print(f"jobs: {len(outcome['cached'])} cached, {len(outcome['finished'])} run, {len(outcome['failed'])} failed")
    return outcome, damaged


def exit_status(args: argparse.Namespace, plan: Plan, outcome: dict, damaged: list[Job]) -> int:
    """1 for a failed job or a damaged record, 3 where jobs were left out for what this machine lacks, else 0;
    each said on stderr."""
    if damaged:
        print(f"mixbench: {len(damaged)} damaged record(s) found: exit status 1 (see the lines 'damaged:' above)",
              file=sys.stderr)
    missing = plan.missing and not args.report_only
    status = 1 if outcome["failed"] or damaged else EXIT_MISSING_RUNTIME if missing else 0
    if missing:
        print(f"mixbench: not run: {left_out(plan.missing)}; every other job ran: exit status {status}", file=sys.stderr)
    return status


def check_data_report(args: argparse.Namespace, plan: Plan) -> int:
    """``--check-data``: a line per data set of the plan; 0 when every one is usable, else 1."""
    statuses = survey(args, plan, plan.jobs)
    print(f"data root: {data_root(args.data_root)} (from {root_origin(args.data_root)}); {args.scale} scale")
    for status in statuses:
        print(status.line())
    unusable = [s.name for s in statuses if not s.usable]
    if unusable:
        print(f"mixbench: not usable: {', '.join(unusable)} (see docs/data.md for each layout)", file=sys.stderr)
    return 1 if unusable else 0


def import_bundles_of(args: argparse.Namespace) -> None:
    """``--import``: every bundle checked, then its runs added to ``--results`` under the results folder's lock."""
    from harness.bundles.importing import import_bundles
    from harness.bundles.layout import MIB, Limits

    limits = Limits(file_bytes=args.import_max_file_mb * MIB, total_bytes=args.import_max_total_mb * MIB)
    with results_lock(args.results):
        for line in import_bundles(args.imports, args.results, limits):
            print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse, plan, check, run, report."""
    args = parse_args(argv)
    started = time.perf_counter()
    protocols, catalog = load_catalog(args)
    if args.list:
        print(listing(args.list, catalog, protocols))
        return 0
    if args.imports:
        import_bundles_of(args)
    plan = make_plan(args, protocols, catalog,
                     download=(lambda tables: download(tables, protocols, args.scale, args.data_root)) if args.download else None)
    if args.plan:
        print(plan.describe(args.rerun_stale))
        return 0
    for line in plan.near:
        print(f"not the same run as an imported one: {line}", flush=True)
    if args.export:
        from harness.bundles.export import export_bundle

        count = export_bundle(plan.jobs, args.export, args.with_weights)
        print(f"exported {count} finished run(s) to {args.export}")
        return 0
    if args.check_data:
        return check_data_report(args, plan)
    rerun = [job for job in plan.stale if not TASKS[job.task].missing_runtime(job.config)] \
        if args.rerun_stale and not args.report_only else []  # a stale run this machine can run again
    executor = prepare(args, plan, rerun)
    report = report_builder(args, plan)
    with results_lock(args.results):
        outcome, damaged = run_plan(args, plan, rerun, executor, report)
        paths = report()
    print(f"report: {paths['html']} and {paths['markdown']} ({time.perf_counter() - started:.1f} s)")
    return exit_status(args, plan, outcome, damaged)


def cli() -> NoReturn:
    """The ``mixbench-run-all`` command."""
    run_cli(main)

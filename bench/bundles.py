"""Cost of results bundles: importing 100 runs, and one report over 10 bundles, each against a peer in the same run.

    python bench/bundles.py [--runs 100] [--bundles 10] [--repeats 3]

One real smoke run (Table 7's Baseline, seed 0) is made, then cloned into ``--runs`` runs: ``--bundles`` users,
each with a candidate row "X" (CutMix at its own ``prob``, so other keys) over ``runs / bundles`` seeds, every
clone's key recomputed from its configuration as an import checks it. Each user's runs are exported as a bundle.
Timed, median of ``--repeats``:
- import: :func:`harness.bundles.importing.import_bundles` (what ``--import`` calls) of one bundle holding every
  run into an empty results folder (every check: digests, keys, record format, archive safety), against its
  peer: ``tar xzf`` of the same archive;
- report: ``run_all.py --report-only --import <folder of the bundles>`` (the leaderboard over all of them)
  against its peer: ``--report-only`` over the same runs already in the results folder (nothing to import).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.bundles.export import export_bundle  # noqa: E402
from harness.bundles.importing import import_bundles  # noqa: E402
from harness.report.stored import stored_job  # noqa: E402
from harness.store import stored_runs  # noqa: E402
from harness.tasks import TASKS  # noqa: E402

TABLE, SCALE = "T7_cifar10_pyr200", "smoke"


def run_all(*args: str) -> float:
    """Seconds one ``run_all.py`` command takes (it must succeed)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--no-progress", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def clone(source: Path, results: Path, user: int, seed: int) -> None:
    """A copy of the run in ``source`` as user ``user``'s candidate run of ``seed``, under its recomputed key."""
    job = json.loads((source / "job.json").read_text())
    record = json.loads((source / "record.json").read_text())
    config = dict(job["config"], seed=seed, method="cutmix", method_params={"prob": round(0.05 + 0.09 * user, 2)})
    key = TASKS[job["task"]].key(config)
    target = results / SCALE / key
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.pt", "tb", ".owner", "origin.json"))
    job.update(config=config, cells=[[TABLE, "X", seed]])
    record["config"] = config
    (target / "job.json").write_text(json.dumps(job))
    (target / "record.json").write_text(json.dumps(record))


def make_bundles(work: Path, runs: int, bundles: int) -> tuple[Path, Path]:
    """Each user's bundle under ``work/bundles`` and one bundle of every run; returns (folder, all-runs bundle)."""
    base = work / "base"
    run_all("--tables", "7", "--rows", "Baseline", "--seeds", "0", "--results", str(base), "--reports",
            str(work / "base_reports"), "--jobs", "1")
    source = next(p for p in (base / SCALE).iterdir() if (p / "record.json").is_file())
    folder = work / "bundles"
    folder.mkdir()
    every = []
    for user in range(bundles):
        results = work / f"user{user}"
        for seed in range(runs // bundles):
            clone(source, results, user, seed)
        jobs = [stored_job(run, SCALE) for run in stored_runs(results, SCALE)]
        export_bundle(jobs, folder / f"user{user}.tar.gz")
        every += jobs
    export_bundle(every, work / "all.tar.gz")
    return folder, work / "all.tar.gz"


def timed(command, repeats: int) -> float:
    return statistics.median(command(i) for i in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--bundles", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bundles-") as name:
        work = Path(name)
        folder, every = make_bundles(work, args.runs, args.bundles)

        def untar(i: int) -> float:
            (work / f"untar{i}").mkdir()
            started = time.perf_counter()
            subprocess.run(["tar", "xzf", str(every), "-C", str(work / f"untar{i}")], check=True)
            return time.perf_counter() - started

        def imported(i: int) -> float:
            started = time.perf_counter()
            import_bundles([every], work / f"import{i}")
            return time.perf_counter() - started

        def leaderboard(i: int) -> float:
            return run_all("--tables", "7", "--report-only", "--results", str(work / f"board{i}"), "--reports",
                           str(work / f"board_reports{i}"), "--import", str(folder))

        def report_only(i: int) -> float:  # the same runs, already here
            return run_all("--tables", "7", "--report-only", "--results", str(work / f"board{i}"), "--reports",
                           str(work / f"again_reports{i}"))

        size = every.stat().st_size
        times = {name: timed(command, args.repeats) for name, command in
                 (("tar xzf", untar), ("import (every check)", imported),
                  ("--report-only --import (leaderboard)", leaderboard), ("--report-only, runs here", report_only))}
    print(f"{args.runs} runs in {args.bundles} bundles (all of them in one: {size / 1e3:.0f} kB); median of {args.repeats}")
    for name, seconds in times.items():
        print(f"  {name:40s} {seconds:7.2f} s")
    importing = times["import (every check)"]
    print(f"import of {args.runs} runs: {importing:.2f} s = {importing / times['tar xzf']:.0f}x tar xzf of the same bundle")
    extra = times["--report-only --import (leaderboard)"] / times["--report-only, runs here"]
    print(f"report over {args.bundles} bundles: {extra:.2f}x the same report with the runs already here")


if __name__ == "__main__":
    main()

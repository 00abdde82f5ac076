"""The main job's time budget: ``python run_all.py`` (every table at the smoke scale) from nothing, then again
with everything cached, against the budgets README.md states (measurements: docs/benchmarks.md) (15 minutes from nothing, 5 s cached, on the
project's 2-core machine).

    python bench/main_job.py [--jobs 2] [--keep DIR] [-- extra run_all.py arguments]

"From nothing" means fresh results, reports and data folders (the embedded data are generated inside the
timed run). Prints the two wall times, the time per job kind and the slowest jobs (from the run records), and
writes the figures to ``<DIR>/main_job.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"from nothing": 15 * 60, "cached": 5}


def timed_run(folder: Path, jobs: int, extra: list[str]) -> tuple[float, int]:
    """Wall seconds and exit status of one ``run_all.py``."""
    env = dict(os.environ, MIXBENCH_DATA=str(folder / "data"))
    command = [sys.executable, str(ROOT / "run_all.py"), "--results", str(folder / "results"), "--reports",
               str(folder / "reports"), "--jobs", str(jobs), "--no-progress", *extra]
    started = time.perf_counter()
    status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    return time.perf_counter() - started, status


def job_times(results: Path) -> list[dict]:
    """Task, rows and wall time (from the record) of every finished job."""
    times = []
    for record_path in results.glob("*/*/record.json"):
        record = json.loads(record_path.read_text())
        job = json.loads((record_path.parent / "job.json").read_text())
        times.append({"task": job["task"], "rows": [f"{t}/{r}" for t, r, _ in job["cells"]], "wall_time_s": record["wall_time_s"]})
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="folder for results, reports, data and main_job.json (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="more run_all.py arguments (after --)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="mixbench-main-job-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = {name: timed_run(folder, args.jobs, args.extra) for name in BUDGET_S}
    figures = {name: seconds for name, (seconds, _) in runs.items()}
    failed = {name: status for name, (_, status) in runs.items() if status != 0}
    by_task = defaultdict(list)
    jobs = job_times(folder / "results")
    for job in jobs:
        by_task[job["task"]].append(job["wall_time_s"])
    print(f"\nmain job on {os.cpu_count()} cores, --jobs {args.jobs}, {len(jobs)} jobs")
    for name, seconds in figures.items():
        print(f"  {name:13s} {seconds:8.1f} s   budget {BUDGET_S[name]} s   ratio {seconds / BUDGET_S[name]:.2f}")
    for task, times in sorted(by_task.items()):
        print(f"  {task:14s} {len(times):3d} jobs, {sum(times):7.1f} s in all (median {statistics.median(times):.1f} s, max {max(times):.1f} s)")
    for job in sorted(jobs, key=lambda j: -j["wall_time_s"])[:5]:
        print(f"  slowest: {job['wall_time_s']:6.1f} s  {job['task']}  {job['rows'][0]}")
    out = folder / "main_job.json"
    out.write_text(json.dumps({"wall_s": figures, "budget_s": BUDGET_S, "cpu_count": os.cpu_count(), "jobs": jobs,
                               "exit_status": {name: status for name, (_, status) in runs.items()}}, indent=2))
    print(f"figures: {out}")
    if failed:  # a run that stopped early (no Java, a failed job) is no measurement of the budget
        sys.exit(f"main job FAILED: run_all.py exited {failed}: these times measure no complete run")


if __name__ == "__main__":
    main()

"""The Slurm path on a real one-node Slurm cluster the tests start themselves (tests/slurm_cluster.py): a table's
jobs go out as one array and finish; a job preempted with USR2 resumes to the local executor's curve; a
two-process job runs as two tasks; a cancelled job is recorded with Slurm's word and resumes when the command is
run again; an orchestrator quit while its jobs are queued collects them; a partition that does not exist is one
line. Skipped where Slurm is not installed (.ci/run installs it)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurm_cluster
from harness.executors.slurm import SUBMISSION
from test_orchestrate import ROOT, tiny_experiments
from test_trainer import strip

pytestmark = [pytest.mark.long, pytest.mark.skipif(slurm_cluster.missing() is not None,
                                                   reason=str(slurm_cluster.missing()))]
ROWS = "  - {name: Baseline, method: none}\n  - {name: CutMix, method: cutmix}\n"
PROFILE = (f"partition: {slurm_cluster.PARTITION}\ngpus_per_process: 0\ncpus_per_process: 1\nmem_gb: 1\n"
           "time_min: 30\nsignal_delay_s: 30\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = slurm_cluster.start_cluster(tmp_path_factory.mktemp("slurm") / "cluster")
    yield started
    started.stop()


def command(tmp_path: Path, data_root: Path, rows: str = ROWS, epochs: int = 1, *extra: str) -> list[str]:
    """run_all.py on a tiny table through Slurm, its results under ``tmp_path``."""
    experiments = tiny_experiments(tmp_path, rows, epochs=epochs)
    (tmp_path / "profile.yaml").write_text(PROFILE)
    return [sys.executable, "run_all.py", "--experiments", str(experiments), "--data-root", str(data_root),
            "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress",
            "--executor", "slurm", "--slurm-profile", str(tmp_path / "profile.yaml"), *extra]


def run(cluster, arguments: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(arguments, cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=timeout)


def submissions(tmp_path: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in (tmp_path / "results").rglob(SUBMISSION)}


def records(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.rglob("record.json"))]


def first_epoch_after_restart(run_folder: Path) -> int | None:
    """The first epoch the job printed after it started again (None: it started once): above 1 when it resumed."""
    starts = (run_folder / "job.log").read_text().split("JobEnvironment(")
    found = re.search(r"^epoch (\d+)/", starts[-1], re.MULTILINE) if len(starts) > 2 else None
    return int(found.group(1)) if found else None


def wait_for(condition, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_tables_jobs_go_out_as_one_array_and_all_finish(cluster, tmp_path, data_root):
    finished = run(cluster, command(tmp_path, data_root))
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    ids = [entry["job_id"] for entry in submissions(tmp_path).values()]
    assert len(ids) == 2 and len({job_id.split("_")[0] for job_id in ids}) == 1 and all("_" in i for i in ids)
    states = cluster.run("sacct", "--noheader", "--allocations", "--parsable2", "--format=JobID,State",
                         f"--jobs={ids[0].split('_')[0]}").stdout.split()
    assert sorted(states) == sorted(f"{job_id}|COMPLETED" for job_id in ids)
    assert len(records(tmp_path / "results")) == 2


def test_a_job_preempted_with_usr2_resumes_to_the_local_executors_curve(cluster, tmp_path, data_root):
    local = subprocess.run(command(tmp_path / "local", data_root, ROWS, 12)[:-4] + ["--rows", "CutMix"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-2000:]
    orchestrator = subprocess.Popen(command(tmp_path, data_root, ROWS, 12, "--rows", "CutMix"), cwd=ROOT,
                                    env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: any((tmp_path / "results").rglob("checkpoint.pt")))
    (job_id,) = [entry["job_id"] for entry in submissions(tmp_path).values()]
    cluster.run("scancel", "--signal=USR2", job_id)  # Slurm's preemption warning: submitit checkpoints, requeues
    out, _ = orchestrator.communicate(timeout=600)
    assert orchestrator.returncode == 0, out[-3000:]
    (preempted,), (reference,) = records(tmp_path / "results"), records(tmp_path / "local")
    assert (first_epoch_after_restart(next((tmp_path / "results").rglob("job.log")).parent) or 0) > 1  # resumed
    assert preempted["config_hash"] == reference["config_hash"] and len(preempted["curve"]) == 12
    assert strip(preempted["curve"]) == strip(reference["curve"])
    assert len(next(iter(submissions(tmp_path).values()))["history"]) == 1  # requeued by Slurm, not resubmitted


def test_a_two_process_job_runs_as_two_slurm_tasks(cluster, tmp_path, data_root):
    finished = run(cluster, command(tmp_path, data_root, "  - {name: Baseline, method: none}\n", 1,
                                    "--gpus-per-job", "2"))
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    (record,) = records(tmp_path / "results")
    assert record["config"]["world_size"] == 2
    log = next((tmp_path / "results").rglob("job.log")).read_text()
    assert "global_rank=0" in log and "global_rank=1" in log


def test_a_cancelled_job_is_recorded_with_slurms_word_and_the_same_command_resumes_it(cluster, tmp_path, data_root):
    arguments = command(tmp_path, data_root, "  - {name: Baseline, method: none}\n", 30)
    orchestrator = subprocess.Popen(arguments, cwd=ROOT, env=cluster.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: any((tmp_path / "results").rglob("checkpoint.pt")))
    (job_id,) = [entry["job_id"] for entry in submissions(tmp_path).values()]
    cluster.run("scancel", job_id)
    out, _ = orchestrator.communicate(timeout=300)
    assert orchestrator.returncode == 1, out[-3000:]
    failure = json.loads(next((tmp_path / "results").rglob("failure.json")).read_text())
    assert "CANCELLED" in failure["error"], failure
    again = run(cluster, arguments)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    (record,) = records(tmp_path / "results")
    assert (first_epoch_after_restart(next((tmp_path / "results").rglob("job.log")).parent) or 0) > 1  # resumed
    assert len(record["curve"]) == 30
    assert len(next(iter(submissions(tmp_path).values()))["history"]) == 2  # submitted again, once


def test_an_orchestrator_quit_while_its_jobs_are_queued_collects_them_and_submits_nothing_twice(cluster, tmp_path,
                                                                                                 data_root):
    rows = "  - {name: Baseline, method: none}\n" + "".join(
        f"  - {{name: R{i}, method: cutmix, params: {{prob: 0.{i + 1}}}}}\n" for i in range(3))
    arguments = command(tmp_path, data_root, rows, 3)  # four one-core jobs on a two-core node: two wait in the queue
    first = subprocess.Popen(arguments, cwd=ROOT, env=cluster.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    wait_for(lambda: len(submissions(tmp_path)) == 4)
    first.kill()
    first.wait()
    queued = cluster.run("squeue", "--noheader", "--format=%i %T").stdout
    assert queued.strip(), "the jobs ended before the orchestrator was quit"
    again = run(cluster, arguments)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert again.stdout.count("collecting it, not submitting it again") + again.stdout.count("cached") >= 1
    assert all(len(entry["history"]) == 1 for entry in submissions(tmp_path).values())
    assert len(records(tmp_path / "results")) == 4


def test_a_partition_that_does_not_exist_is_one_line_and_nothing_is_submitted(cluster, tmp_path, data_root):
    result = run(cluster, command(tmp_path, data_root) + ["--slurm-partition", "nowhere"])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "'nowhere' does not exist" in result.stderr and "debug" in result.stderr
    assert not submissions(tmp_path)

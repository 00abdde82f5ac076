"""The Slurm path end to end through submitit's LocalExecutor (the same pickling, submission, requeue and
collection as on a cluster, as local processes): records equal the local executor's, a preempted job is
requeued and resumes, dependencies wait, nothing is submitted twice, and the settings' errors are clear."""
from __future__ import annotations

import json
import re
import signal
import os
import subprocess
import sys
import threading
import time

import pytest

from harness.errors import HarnessError
from harness.executors.local import LocalExecutor
from harness.executors.slurm import SUBMISSION, SlurmExecutor, SlurmSettings, load_slurm_settings, submission_parameters
from harness.locks import RUN_LOCK, lock_holder
from harness.schedule import execute

from test_orchestrate import ROOT, tiny_jobs
from test_trainer import strip

ROWS = "  - {name: Baseline, method: none}\n  - {name: CutMix, method: cutmix}\n"


def three_epochs(jobs):
    for job in jobs:
        job.config.update(epochs=3, milestones=[2])
        job.epochs = 3
    return jobs


def records(jobs):
    return {job.cells[0][1]: json.loads((job.run_dir / "record.json").read_text()) for job in jobs}


def slurm_local(tmp_path) -> SlurmExecutor:
    return SlurmExecutor(tmp_path / "submitit", SlurmSettings(), cluster="local", max_jobs=2, threads=1)


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_submitit_runs_equal_local_ones_and_a_preempted_job_resumes(tmp_path, data_root):
    (tmp_path / "local").mkdir(), (tmp_path / "cluster").mkdir()
    _, local_jobs, _ = tiny_jobs(tmp_path / "local", data_root, ROWS)
    _, cluster_jobs, _ = tiny_jobs(tmp_path / "cluster", data_root, ROWS)
    three_epochs(local_jobs), three_epochs(cluster_jobs)
    baseline, cutmix = cluster_jobs
    cutmix.depends_on = [baseline.key]  # as a fine-tune waits for its backbone run
    assert execute(local_jobs, LocalExecutor(2), progress=False)["failed"] == []

    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(execute(cluster_jobs, slurm_local(tmp_path), progress=False)))
    thread.start()
    deadline = time.time() + 240
    while not (baseline.run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    holder = lock_holder(baseline.run_dir / RUN_LOCK)
    assert holder and not (cutmix.run_dir / SUBMISSION).exists()  # the dependent waits for the backbone run
    os.kill(int(re.search(r"pid (\d+)", holder).group(1)), signal.SIGUSR2)  # Slurm's preemption signal
    thread.join(timeout=600)
    assert [j.key for j in outcome["finished"]] == [baseline.key, cutmix.key] and outcome["failed"] == []

    log = (baseline.run_dir / "job.log").read_text()
    assert "preempted" in log and "Requeued" in log  # submitit checkpointed and requeued it
    assert log.count("=== ") >= 3  # the orchestrator's start line, then two starts of the job: before and after
    assert len(json.loads((baseline.run_dir / SUBMISSION).read_text())["history"]) == 1  # requeued, not resubmitted
    cutmix_submitted = json.loads((cutmix.run_dir / SUBMISSION).read_text())["history"][0]["submitted"]
    assert cutmix_submitted >= time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((baseline.run_dir / "record.json").stat().st_mtime))
    local, cluster = records(local_jobs), records(cluster_jobs)
    for row in ("Baseline", "CutMix"):  # the same figures, curve for curve, as the local executor's
        assert strip(cluster[row]["curve"]) == strip(local[row]["curve"])
        assert cluster[row]["config_hash"] == local[row]["config_hash"]


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_an_orchestrator_started_again_collects_instead_of_submitting_twice(tmp_path, data_root):
    """run_all quit (killed) while its jobs run on the cluster; run again, it collects them."""
    _, jobs, _ = tiny_jobs(tmp_path, data_root, ROWS)
    three_epochs(jobs)
    first = subprocess.Popen([sys.executable, "-c", (
        "import sys, json, pickle; sys.path[:0] = sys.argv[1:]\n"
        "from test_slurm import first_orchestrator; first_orchestrator()"), str(ROOT / "tests"), str(ROOT)],
        cwd=ROOT, env={**os.environ, "MIXBENCH_TEST_DIR": str(tmp_path), "MIXBENCH_TEST_DATA": str(data_root)})
    deadline = time.time() + 240
    while not all((job.run_dir / SUBMISSION).exists() for job in jobs) and time.time() < deadline:
        time.sleep(0.1)
    first.kill()  # the orchestrator dies; its jobs go on
    first.wait()
    assert not all(job.status() == "finished" for job in jobs)
    outcome = execute(jobs, slurm_local(tmp_path), progress=False)
    assert sorted(j.key for j in outcome["finished"]) == sorted(j.key for j in jobs)
    for job in jobs:
        assert len(json.loads((job.run_dir / SUBMISSION).read_text())["history"]) == 1
    again = execute(jobs, slurm_local(tmp_path), progress=False)  # finished records are never redone
    assert len(again["cached"]) == 2 and again["finished"] == []


def first_orchestrator() -> None:
    """The orchestrator that the test above kills (run in its own process)."""
    from pathlib import Path

    tmp_path, data_root = Path(os.environ["MIXBENCH_TEST_DIR"]), Path(os.environ["MIXBENCH_TEST_DATA"])
    _, jobs, _ = tiny_jobs(tmp_path, data_root, ROWS)
    execute(three_epochs(jobs), slurm_local(tmp_path), progress=False)


def test_slurm_settings_come_from_a_profile_under_flags(tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("partition: gpu\naccount: lab\ntime_min: 120\nsbatch: {exclude: node01}\nsetup: [module load cuda]\n")
    settings = load_slurm_settings(profile, {"partition": "preempt", "account": None})
    assert (settings.partition, settings.account, settings.time_min, settings.sbatch) == ("preempt", "lab", 120, {"exclude": "node01"})
    parameters = submission_parameters(settings, processes=4)
    assert parameters["tasks_per_node"] == 4 and parameters["gpus_per_node"] == 4 and parameters["slurm_partition"] == "preempt"
    assert parameters["slurm_additional_parameters"] == {"exclude": "node01"} and parameters["slurm_setup"] == ["module load cuda"]
    profile.write_text("partiton: gpu\n")
    with pytest.raises(HarnessError, match="unknown setting.*partiton.*known: partition"):
        load_slurm_settings(profile, {})
    with pytest.raises(HarnessError, match="not found"):
        load_slurm_settings(tmp_path / "missing.yaml", {})


def test_without_slurm_the_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(HarnessError, match="--slurm-local"):
        SlurmExecutor(tmp_path / "submitit", SlurmSettings())


def test_the_shipped_profile_loads():
    settings = load_slurm_settings(ROOT / "experiments" / "slurm" / "example.yaml", {})
    assert settings.gpus_per_process == 1 and settings.time_min > 0


def test_a_forked_worker_of_a_cluster_job_still_dies_on_sigterm(tmp_path):
    """submitit makes a job's process ignore SIGTERM (and checkpoint on USR2); a data-loading worker forked from
    it must not inherit that, or PyTorch's terminate() of the worker is ignored and the job hangs."""
    script = (
        "import multiprocessing, os, signal, time\n"
        "from harness.executors.slurm import _default_signals\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('bypassed', flush=True))  # as submitit does\n"
        "os.register_at_fork(after_in_child=_default_signals)  # as ClusterJob does\n"
        "child = multiprocessing.get_context('fork').Process(target=time.sleep, args=(60,))\n"
        "child.start(); time.sleep(0.5); child.terminate(); child.join(10)\n"
        "print('exitcode', child.exitcode)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert f"exitcode {-signal.SIGTERM}" in result.stdout and "bypassed" not in result.stdout, result.stdout + result.stderr

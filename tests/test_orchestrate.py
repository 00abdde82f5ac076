"""The orchestrator: specs, plan, cache, resume after a kill, failures, report, lock."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import augment
from harness.errors import HarnessError, SpecError
from harness.experiments import load_protocols, load_table, load_tables, paper_values
from harness.executors.local import LocalExecutor
from harness.expand import with_upstream
from harness.schedule import Reporter, execute
from harness.store import results_lock

from conftest import expand_tables, make_study
from harness.report import build_report

ROOT = Path(__file__).resolve().parents[1]
TINY = {"tiny": {"smoke": {"dataset": "synthetic", "image_size": 32, "epochs": 2, "batch_size": 100, "lr": 0.05,
                           "milestones": [0.5], "seeds": [0], "model_map": {"m": "resnet_tiny"}, "require_stand_in": True,
                           "cost": {"unit": "CPU-min", "per_epoch": 0.1}}}}


def write_table(tmp_path: Path, rows: str, name: str = "t.yaml", metrics: str = "[top1_err, top5_err]") -> Path:
    path = tmp_path / name
    path.write_text(f"id: TX_test\ntitle: test table\ntask: classification\nprotocol: tiny\nmodel: m\n"
                    f"metrics: {metrics}\nbaseline: Baseline\nrows:\n{rows}")
    return path


def test_all_paper_specs_load():
    tables = load_tables()
    assert {"T3_imagenet_r50", "T4_imagenet_deeper", "T5_cifar100_pyr200", "T6_cifar100_light", "T7_cifar10_pyr200"} <= set(tables)


def test_unknown_method_names_file_and_field(tmp_path):
    path = write_table(tmp_path, "  - {name: Baseline, method: none}\n  - {name: X, method: cutmixx}\n")
    with pytest.raises(SpecError, match=r"t\.yaml: rows\[1\] \(X\)\.method: unknown method 'cutmixx'"):
        load_table(path, TINY)


def test_unknown_metric_names_file_and_field(tmp_path):
    path = write_table(tmp_path, "  - {name: Baseline, method: none}\n", metrics="[top1_err, mAP]")
    with pytest.raises(SpecError, match=r"t\.yaml: metrics: unknown metric 'mAP'"):
        load_table(path, TINY)


def test_paper_plan_lists_every_row_of_tables_3_to_7(tmp_path):
    result = subprocess.run([sys.executable, "run_all.py", "--scale", "paper", "--plan", "--results", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    paper = paper_values()
    job_lines = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("-"))  # not "not run"
    for table_id in ("T3_imagenet_r50", "T4_imagenet_deeper", "T5_cifar100_pyr200", "T6_cifar100_light", "T7_cifar10_pyr200"):
        for row in paper[paper.table == table_id].row.unique():
            assert f"{table_id}/{row}" in job_lines, f"{table_id}/{row} has no job in the plan"
    assert "GPU-h" in result.stdout
    # CIFAR rows run 3 seeds at paper scale
    assert result.stdout.count("T5_cifar100_pyr200/CutMix;") + result.stdout.count("T5_cifar100_pyr200/CutMix\n") >= 3


def tiny_jobs(tmp_path, data_root, rows, plugins=()):
    table = load_table(write_table(tmp_path, rows), TINY)
    return table, *expand_tables([table], TINY, "smoke", tmp_path / "results", data_root=str(data_root), device="cpu",
                                 plugins=plugins)


def test_cache_failure_isolation_and_report(tmp_path, data_root):
    plugin = tmp_path / "broken.py"
    plugin.write_text("from harness.augment import Augmentation, register\n"
                      "@register('test_broken')\nclass Broken(Augmentation):\n"
                      "    def apply(self, images, targets):\n        raise RuntimeError('deliberately broken')\n")
    augment.load_plugins([str(plugin)])
    rows = "  - {name: Baseline, method: none}\n  - {name: Broken, method: test_broken}\n  - {name: Later, planned: not yet}\n"
    table, jobs, cells = tiny_jobs(tmp_path, data_root, rows, plugins=[str(plugin)])
    ended = []  # the report is rebuilt whenever a job ends, progress bar or not
    outcome = execute(jobs, LocalExecutor(2), progress=False, change_interval=0,
                      on_change=lambda: ended.append(sum(j.status() != "pending" for j in jobs)))
    assert 1 <= len(ended) <= 2 and ended[-1] == 2
    assert [j.cells[0][1] for j in outcome["finished"]] == ["Baseline"]
    assert [j.cells[0][1] for j in outcome["failed"]] == ["Broken"]
    failure = json.loads((outcome["failed"][0].run_dir / "failure.json").read_text())
    assert "deliberately broken" in failure["error"]
    again = execute(jobs, LocalExecutor(2), progress=False)  # cache: the finished job is not run again
    assert [j.cells[0][1] for j in again["cached"]] == ["Baseline"] and again["finished"] == []
    paths = build_report([table], jobs, cells, paper_values(), "smoke", tmp_path / "reports")
    markdown = paths["markdown"].read_text()
    assert "failed: RuntimeError: deliberately broken" in markdown
    assert "not implemented: not yet" in markdown
    assert "NOT comparable" in markdown
    html = paths["html"].read_text()
    figures = re.findall(r'<img alt="\w+" src="(figures/[^"]+\.png)"', html)  # figures beside the page, not inlined
    assert figures and all((tmp_path / "reports" / f).is_file() for f in figures)


def test_the_live_report_is_rebuilt_beside_the_scheduler_one_at_a_time_and_its_error_reaches_the_caller():
    release, calls = threading.Event(), []

    def slow_report() -> None:
        calls.append(threading.current_thread().name)
        assert release.wait(30)

    reporter = Reporter(slow_report, interval=0)
    reporter.check(ended=1)  # returns while the rebuild runs: the scheduler goes on starting jobs
    assert reporter.thread.is_alive()
    reporter.check(ended=2)  # one rebuild at a time
    release.set()
    reporter.join()
    assert calls == ["live report"]
    deadline = time.monotonic() + 30
    while len(calls) < 2 and time.monotonic() < deadline:  # jobs ended since: rebuilt again, once its pause is over
        reporter.check(ended=2)
        time.sleep(0.01)
    reporter.join()
    assert len(calls) == 2

    def broken_report() -> None:
        raise RuntimeError("the report broke")

    failing = Reporter(broken_report, interval=0)
    failing.check(ended=1)
    with pytest.raises(RuntimeError, match="the report broke"):
        failing.join()
    with pytest.raises(RuntimeError, match="the report broke"):
        failing.check(ended=2)


def test_job_killed_mid_run_resumes_and_finishes(tmp_path, data_root):
    table, jobs, cells = tiny_jobs(tmp_path, data_root, "  - {name: Baseline, method: cutmix}\n")
    job = jobs[0]
    job.config["epochs"] = 3
    job.epochs = 3
    job.run_dir.mkdir(parents=True)
    (job.run_dir / "job.json").write_text(json.dumps({"task": job.task, "config": job.config}))
    worker = subprocess.Popen([sys.executable, "-m", "harness.worker", str(job.run_dir)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (job.run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    os.kill(worker.pid, signal.SIGKILL)  # mid-run: after epoch 1's checkpoint, during epoch 2
    worker.wait()
    assert job.status() == "partial"
    outcome = execute(jobs, LocalExecutor(1), progress=False)
    assert outcome["finished"] == [job]
    record = json.loads((job.run_dir / "record.json").read_text())
    assert [row["epoch"] for row in record["curve"]] == [1, 2, 3]


def test_lock_refuses_a_second_run(tmp_path):
    with results_lock(tmp_path):
        result = subprocess.run([sys.executable, "run_all.py", "--report-only", "--results", str(tmp_path),
                                 "--reports", str(tmp_path / "r"), "--tables", "7"], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 2 and "is in use by run_all.py (pid" in result.stderr
    with results_lock(tmp_path):  # released
        pass


def test_jobs_wait_for_their_dependencies_and_fail_when_one_cannot_finish(tmp_path):
    from harness.jobs import Job
    from harness.schedule import next_ready

    def job(key, depends_on=()):
        return Job(key, "classification", "smoke", {}, tmp_path / key, 1, 0.0, "?", depends_on=list(depends_on))

    backbone, finetune, orphan = job("backbone"), job("finetune", ["backbone"]), job("orphan", ["gone"])
    status = {"backbone": "pending", "gone": "missing"}
    ready, blocked = next_ready([finetune, backbone, orphan], set(), lambda key: status[key])
    assert ready is backbone  # the fine-tune waits although it comes first
    assert [(j.key, "missing" in why) for j, why in blocked] == [("orphan", True)]
    ready, blocked = next_ready([finetune], {"backbone"}, lambda key: status[key])  # backbone running
    assert ready is None and blocked == []
    status["backbone"] = "finished"
    assert next_ready([finetune], set(), lambda key: status[key])[0] is finetune
    status["backbone"] = "failed"
    _, blocked = next_ready([finetune], set(), lambda key: status[key])
    assert "backbone is failed" in blocked[0][1]


def tiny_experiments(tmp_path: Path, rows: str, epochs: int) -> Path:
    """An experiments folder holding the tiny protocol (``epochs`` long) and one table."""
    import shutil

    import yaml

    experiments = tmp_path / "experiments"
    (experiments / "tables").mkdir(parents=True)
    (experiments / "protocols.yaml").write_text(yaml.safe_dump({"tiny": {"smoke": dict(TINY["tiny"]["smoke"], epochs=epochs)}}))
    write_table(experiments / "tables", rows)
    shutil.copy(ROOT / "experiments" / "paper_tables.csv", experiments)
    return experiments


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_workers_die_with_a_killed_orchestrator(tmp_path, data_root):
    """kill -9 of run_all.py (out of memory, a dropped SSH session) must not leave workers writing on."""
    from harness.locks import lock_holder

    experiments = tiny_experiments(tmp_path, "  - {name: Baseline, method: none}\n", epochs=200)
    results = tmp_path / "results"
    orchestrator = subprocess.Popen(
        [sys.executable, "run_all.py", "--experiments", str(experiments), "--results", str(results), "--reports",
         str(tmp_path / "reports"), "--data-root", str(data_root), "--no-progress", "--jobs", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, holder = time.time() + 120, None
    while holder is None and time.time() < deadline:
        holder = next(filter(None, (lock_holder(p) for p in results.glob("smoke/*/.owner"))), None)
        time.sleep(0.2)
    assert holder, "the worker never took its run folder"
    worker = int(re.search(r"pid (\d+)", holder).group(1))
    assert alive(worker)
    os.kill(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait()
    deadline = time.time() + 15
    while alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(worker), "the worker outlived its orchestrator"
    owner = next(results.glob("smoke/*/.owner"))
    while lock_holder(owner) and time.time() < deadline:  # the kernel frees the lock as the process ends
        time.sleep(0.1)
    assert lock_holder(owner) is None


def test_a_run_folder_is_owned_by_one_process(tmp_path, data_root):
    """A folder whose worker is still alive (an orphan, a job started by hand) gets no second worker: the
    orchestrator waits for it, then resumes what it left; a second worker started by hand is refused."""
    import threading

    from harness.locks import run_lock

    table, jobs, cells = tiny_jobs(tmp_path, data_root, "  - {name: Baseline, method: none}\n")
    job, outcome = jobs[0], {}
    job.run_dir.mkdir(parents=True)
    (job.run_dir / "job.json").write_text(json.dumps({"task": job.task, "config": job.config}))
    with run_lock(job.run_dir):
        thread = threading.Thread(target=lambda: outcome.update(execute(jobs, LocalExecutor(1), progress=False)))
        thread.start()
        time.sleep(2.0)
        assert thread.is_alive() and not (job.run_dir / "job.log").exists()  # waiting, not running it twice
        by_hand = subprocess.run([sys.executable, "-m", "harness.worker", str(job.run_dir)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert by_hand.returncode == 2 and "is in use by a worker (pid" in by_hand.stderr
    thread.join(timeout=300)
    assert [j.key for j in outcome["finished"]] == [job.key] and job.status() == "finished"


def test_mini_scale_runs_only_its_rows_with_three_seeds(tmp_path):
    protocols = load_protocols()
    table = load_tables(protocols=protocols)["T7_cifar10_pyr200"]
    jobs, cells = expand_tables([table], protocols, "mini", tmp_path)
    assert sorted({j.cells[0][1] for j in jobs}) == ["Baseline", "CutMix", "Cutout", "Mixup a=1.0"] and len(jobs) == 12
    assert {j.config["model"] for j in jobs} == {"resnet20_cifar"} and {j.config["train_subset"] for j in jobs} == {2000}
    skipped = next(c for c in cells if c.row == "Manifold Mixup a=1.0")
    assert skipped.job is None and skipped.reason.startswith("not run at mini scale")


def test_gpus_come_from_the_flag_the_environment_or_nvidia_smi(monkeypatch, capsys):
    from harness import devices
    from harness.errors import HarnessError

    assert devices.visible_gpus("none") == [] and devices.visible_gpus("0, 2") == ["0", "2"]
    with pytest.raises(HarnessError, match="--gpus"):
        devices.visible_gpus("0,,1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert devices.visible_gpus() == ["1", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert devices.visible_gpus() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    monkeypatch.setattr(devices, "nvidia_device_files", lambda: [])  # a CPU machine: no GPUs, nothing to say
    assert devices.visible_gpus() == [] and capsys.readouterr().err == ""
    monkeypatch.setattr(devices, "nvidia_device_files", lambda: ["/dev/nvidia0"])  # GPUs, no nvidia-smi: said
    assert devices.visible_gpus() == []
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "nvidia-smi is not on the PATH" in said[0] and "not pinned" in said[0]
    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def failing(*args, **kwargs):
        raise devices.subprocess.CalledProcessError(9, "nvidia-smi")

    monkeypatch.setattr(devices.subprocess, "run", failing)  # a broken driver: the same
    assert devices.visible_gpus() == []
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "nvidia-smi failed (CalledProcessError" in said[0]


def test_one_job_per_gpu_each_pinned_to_its_own(tmp_path, monkeypatch):
    """A fake device list of two GPUs and five jobs: never more than two at once, never two on one GPU, and a
    GPU is given again when its job ends."""
    from harness import schedule
    from harness.executors import local
    from harness.jobs import Job

    running: dict[str, str] = {}
    given: list[tuple[str, str, set[str]]] = []

    class FakeWorker:
        def __init__(self, job: Job) -> None:
            self.job, self.polls = job, 0

        @property
        def exitcode(self):
            self.polls += 1
            if self.polls < 2:
                return None
            self.job.run_dir.mkdir(parents=True, exist_ok=True)
            (self.job.run_dir / "record.json").write_text('{"status": "finished", "config": {}}')
            running.pop(self.job.key, None)
            return 0

    jobs = [Job(f"job{i}", "classification", "smoke", {}, tmp_path / f"job{i}", 1, 0.0, "?", cells=[("T", f"row{i}", 0)])
            for i in range(5)]
    by_folder = {job.run_dir: job for job in jobs}

    def fake_start(run_dir, threads: int, gpu: str | None = None):
        job = by_folder[run_dir]
        assert gpu is not None and gpu not in running.values(), (gpu, running)
        running[job.key] = gpu
        given.append((job.key, gpu, set(running)))
        return FakeWorker(job)

    monkeypatch.setattr(local.worker, "start", fake_start)
    monkeypatch.setattr(schedule.time, "sleep", lambda seconds: None)
    outcome = schedule.execute(jobs, LocalExecutor(8, ["3", "5"]), progress=False)
    assert len(outcome["finished"]) == 5 and outcome["failed"] == []
    assert {gpu for _, gpu, _ in given} == {"3", "5"} and max(len(at_once) for _, _, at_once in given) == 2
    assert [gpu for _, gpu, _ in given[:2]] == ["3", "5"]


def test_a_pinned_worker_sees_only_its_gpu(tmp_path, data_root):
    """A real worker from the fork server gets the GPU in CUDA_VISIBLE_DEVICES before anything touches CUDA (on
    a machine without one the job then runs on the CPU)."""
    _, jobs, _ = tiny_jobs(tmp_path, data_root, "  - {name: Baseline, method: none}\n")
    outcome = execute(jobs, LocalExecutor(1, ["7"]), progress=False)
    assert [j.key for j in outcome["finished"]] == [jobs[0].key]
    assert "CUDA_VISIBLE_DEVICES=7" in (jobs[0].run_dir / "job.log").read_text()


def test_a_multi_gpu_job_gets_as_many_gpus_none_shared(tmp_path):
    """The local executor's GPU book-keeping for data-parallel jobs (a fake device list of three GPUs)."""
    from harness.errors import HarnessError
    from harness.jobs import Job

    def job(key: str, processes: int) -> Job:
        return Job(key, "classification", "smoke", {"world_size": processes}, tmp_path / key, 1, 0.0, "?")

    executor = LocalExecutor(8, ["0", "1", "2"])
    two, other_two, one = job("a", 2), job("b", 2), job("c", 1)
    assert executor.reserve(two, 0) and executor.given["a"] == ["0", "1"]
    assert not executor.reserve(other_two, 1)  # one GPU left: it waits
    assert executor.reserve(one, 1) and executor.given["c"] == ["2"]
    executor.release(two)
    assert executor.reserve(other_two, 1) and executor.given["b"] == ["0", "1"]
    with pytest.raises(HarnessError, match="trains on 4 GPUs but only 3"):
        executor.check([job("d", 4)])
    assert LocalExecutor(2).reserve(job("e", 2), 0)  # no GPUs: a CPU job of two processes


def test_a_forced_device_pipeline_that_cannot_run_is_refused_when_planned(tmp_path):
    """input_pipeline: device on an AutoAugment row (or data-parallel, or ImageNet) is one line at plan time,
    not a failed job."""
    import yaml

    (tmp_path / "protocols.yaml").write_text(yaml.safe_dump({"tiny": {"smoke": dict(TINY["tiny"]["smoke"], input_pipeline="device")}}))
    protocols = load_protocols(tmp_path / "protocols.yaml")
    plain = load_table(write_table(tmp_path, "  - {name: Baseline, method: none}\n"), protocols)
    assert expand_tables([plain], protocols, "smoke", tmp_path / "results")[0][0].config["input_pipeline"] == "device"
    policy = load_table(write_table(tmp_path, "  - {name: Baseline, method: none, data_policy: autoaugment}\n"), protocols)
    with pytest.raises(HarnessError, match="data_policy autoaugment\\): use input_pipeline loader"):
        expand_tables([policy], protocols, "smoke", tmp_path / "results")


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_a_table_on_its_own_plans_the_upstream_runs_its_rows_need_and_only_those(tmp_path, scale):
    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    t10 = [t for t in catalog.values() if t.id.startswith("T10_")]
    jobs, _ = expand_tables(t10, protocols, scale, tmp_path, catalog=catalog)
    planned = with_upstream(make_study(t10, protocols, scale, tmp_path, catalog), jobs, t10)
    upstream = [job for job in planned if job not in jobs]
    assert sorted(row for job in upstream for _, row, _ in job.cells) == sorted(["Baseline", "Mixup", "Cutout", "CutMix"] * len(protocols["imagenet"][scale]["seeds"]))
    assert all(job.cells[0][0] == "T3_imagenet_r50" and set(job.needed_by) == {t.id for t in t10} for job in upstream)
    assert {key for job in jobs for key in job.depends_on} == {job.key for job in upstream}
    assert planned[:len(upstream)] == upstream  # upstream first: the executor starts them first


def test_a_table_with_no_upstream_plans_nothing_more(tmp_path):
    protocols = load_protocols()
    catalog = load_tables(protocols=protocols)
    jobs, _ = expand_tables([catalog["T7_cifar10_pyr200"]], protocols, "smoke", tmp_path, catalog=catalog)
    assert with_upstream(make_study([], protocols, "smoke", tmp_path, catalog), jobs, [catalog["T7_cifar10_pyr200"]]) == jobs

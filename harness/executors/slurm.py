"""The Slurm executor: every job is a Slurm job submitted through submitit (jobs that become ready together go
as one job array), with its output in the run folder's ``job.log``. A preempted or timed-out job is requeued by
submitit's checkpoint protocol and resumes from its last epoch checkpoint, to the figures an uninterrupted run
gives. The run folder's ``submitit.json`` names the cluster job that runs it, so an orchestrator that was quit and
started again collects that job instead of submitting it twice. ``cluster="local"`` runs the same path through
submitit's LocalExecutor (local processes; pickling, submission, requeue and collection as on Slurm)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import submitit
import yaml
from tqdm import tqdm

from harness.errors import HarnessError
from harness.executors.base import Job, Running
from harness.io import atomic_write_json, read_json
from harness.worker import alive, log_to_run_folder, run_job, use_threads

SUBMISSION = "submitit.json"  # in a run folder: the cluster job that runs it and every submission so far
CLUSTERS = ("slurm", "local")


@dataclass
class SlurmSettings:
    """What every job asks Slurm for (a profile in ``experiments/slurm/``, or flags). Resources are per process
    (a data-parallel job of N processes asks for N tasks on one node, N times ``gpus_per_process`` GPUs)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None  # e.g. "a100|h100"
    time_min: int = 24 * 60  # one job's time limit; a longer run is requeued and resumes (see max_requeues)
    gpus_per_process: int = 1  # 0: CPU-only jobs
    cpus_per_process: int = 8  # also the data-loading and intra-op threads of each process
    mem_gb: float | None = None  # per process; None: the partition's default
    max_requeues: int = 20  # timeouts a job may be requeued after (preemptions do not count)
    signal_delay_s: int = 180  # USR2 this long before the time limit: the job checkpoints and is requeued
    array_parallelism: int = 64  # at most this many tasks of one job array run at once
    setup: list[str] = field(default_factory=list)  # shell lines run before each job (module load, source .venv/bin/activate)
    sbatch: dict[str, Any] = field(default_factory=dict)  # any other sbatch option, e.g. {"exclude": "node[01-02]"}


def load_slurm_settings(profile: Path | None, overrides: dict[str, Any]) -> SlurmSettings:
    """Settings from a YAML profile (if given) under ``overrides`` (flags; None values are ignored), with a clear
    error naming any unknown key."""
    values: dict[str, Any] = {}
    if profile is not None:
        if not Path(profile).is_file():
            raise HarnessError(f"Slurm profile {profile} not found (copy experiments/slurm/example.yaml and edit it)")
        values = yaml.safe_load(Path(profile).read_text()) or {}
        if not isinstance(values, dict):
            raise HarnessError(f"{profile}: a Slurm profile is a mapping of settings, got {type(values).__name__}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = [f.name for f in fields(SlurmSettings)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise HarnessError(f"{profile or 'Slurm settings'}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return SlurmSettings(**values)


def submission_parameters(settings: SlurmSettings, processes: int, cluster: str = "slurm") -> dict[str, Any]:
    """submitit's parameters for a job of ``processes`` processes (one task each, all on one node)."""
    s = settings
    parameters: dict[str, Any] = {
        "name": "mixbench", "timeout_min": s.time_min, "nodes": 1, "tasks_per_node": processes,
        "cpus_per_task": s.cpus_per_process, "gpus_per_node": s.gpus_per_process * processes,
    }
    if s.mem_gb:
        parameters["mem_gb"] = s.mem_gb * processes
    if cluster == "local":  # the local stand-in runs on this machine's CPU, and knows no sbatch options
        return {**parameters, "gpus_per_node": 0}
    parameters.update(slurm_signal_delay_s=s.signal_delay_s, slurm_array_parallelism=s.array_parallelism,
                      slurm_setup=list(s.setup), slurm_additional_parameters=dict(s.sbatch))
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(s, key):
            parameters[f"slurm_{key}"] = getattr(s, key)
    return parameters


def _default_signals() -> None:
    """In a process forked from a job (data-loading workers, MMEngine's evaluation workers): SIGTERM kills again,
    and USR2 is left to the job's main process. submitit's handlers, inherited through fork, would make a worker
    ignore the SIGTERM with which PyTorch ends it, and the job would wait for it forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class ClusterJob(submitit.helpers.Checkpointable):
    """What runs on the node: the job of ``run_dir`` (every task a rank of a data-parallel job), output appended
    to the run folder's ``job.log``. On preemption or timeout submitit pickles this object again and requeues it;
    it then resumes from the run folder's checkpoint."""

    def __init__(self, run_dir: str, threads: int | None = None) -> None:
        self.run_dir = run_dir
        self.threads = threads

    def __call__(self) -> None:
        os.register_at_fork(after_in_child=_default_signals)
        environment = submitit.JobEnvironment()
        if environment.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        log_to_run_folder(Path(self.run_dir))
        threads = self.threads or int(os.environ.get("SLURM_CPUS_PER_TASK", 0))
        if threads:
            use_threads(threads)
        print(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {environment}", flush=True)
        run_job(Path(self.run_dir))


class SubmittedRun:
    """A job on the cluster (or submitit's local stand-in) that this orchestrator submitted or found queued."""

    def __init__(self, job: submitit.Job) -> None:
        self.job = job

    def ended(self) -> str | None:
        return f"cluster job {self.job.job_id} ended ({self.job.state})" if self.job.done() else None


class LocalProcessRun:
    """A job of submitit's LocalExecutor submitted by an earlier orchestrator: alive while its controller is."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def ended(self) -> str | None:
        return None if alive(int(self.job_id)) else f"local job {self.job_id} ended"


class SlurmExecutor:
    """Submits jobs through submitit into ``folder`` (its pickles and raw logs; each job's own output goes to its
    run folder), at most ``max_jobs`` queued or running at once (None: no limit but the cluster's)."""

    name = "slurm"

    def __init__(self, folder: Path, settings: SlurmSettings, cluster: str = "slurm", max_jobs: int | None = None,
                 threads: int | None = None) -> None:
        if cluster not in CLUSTERS:
            raise HarnessError(f"cluster must be one of {', '.join(CLUSTERS)}, got {cluster!r}")
        self.folder = Path(folder)
        self.settings = settings
        self.cluster = cluster
        self.max_jobs = max_jobs
        self.threads = threads
        try:
            self.executor = submitit.AutoExecutor(self.folder / "%j", cluster=cluster,
                                                  **{f"{cluster}_max_num_timeout": settings.max_requeues})
        except RuntimeError as err:  # no srun on this machine
            raise HarnessError(f"cannot submit to Slurm from here ({err}); run on a login node of the cluster, "
                               "or try the path locally with --slurm-local") from None

    def check(self, jobs: list[Job]) -> None:
        """Before anything is submitted: the partition asked for exists (``sinfo``), so that a misspelt one is
        one line, not a refusal per job array. What else the cluster cannot run it refuses at submission."""
        if self.cluster != "slurm" or not self.settings.partition:
            return
        try:
            listed = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True,
                                    timeout=60, check=True).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return  # sinfo unavailable: the submission says what is wrong
        partitions = [name.rstrip("*") for name in listed]
        if self.settings.partition not in partitions:
            raise HarnessError(f"Slurm partition {self.settings.partition!r} does not exist on this cluster (sinfo "
                               f"lists: {', '.join(partitions) or 'none'}); nothing was submitted")

    def reserve(self, job: Job, running: int) -> bool:
        return self.max_jobs is None or running < self.max_jobs

    def start(self, jobs: list[Job]) -> list[SubmittedRun]:
        """Submit ``jobs``: those of equal size as one job array."""
        runs: dict[str, SubmittedRun] = {}
        for processes in sorted({job.processes for job in jobs}):
            group = [job for job in jobs if job.processes == processes]
            self.executor.update_parameters(**submission_parameters(self.settings, processes, self.cluster))
            with self.executor.batch():
                submitted = [self.executor.submit(ClusterJob(str(job.run_dir), self.threads)) for job in group]
            for job, handle in zip(group, submitted):
                self._record(job, handle.job_id)
                runs[job.key] = SubmittedRun(handle)
        return [runs[job.key] for job in jobs]

    def _record(self, job: Job, job_id: str) -> None:
        previous = read_json(job.run_dir / SUBMISSION) or {}
        history = previous.get("history", []) + [{"job_id": job_id, "submitted": time.strftime("%Y-%m-%d %H:%M:%S")}]
        atomic_write_json(job.run_dir / SUBMISSION, {"cluster": self.cluster, "job_id": job_id,
                                                    "submitit_folder": str(self.folder / job_id), "history": history})

    def adopt(self, job: Job) -> SubmittedRun | LocalProcessRun | None:
        info = read_json(job.run_dir / SUBMISSION)
        if not info or info.get("cluster") != self.cluster:
            return None
        job_id = info["job_id"]
        run = (LocalProcessRun(job_id) if self.cluster == "local"
               else SubmittedRun(submitit.SlurmJob(self.folder / "%j", job_id)))
        if run.ended() is not None:
            return None
        tqdm.write(f"{job.key}: already {self.cluster} job {job_id} (queued or running); collecting it, not submitting it again")
        return run

    def release(self, job: Job) -> None:
        """Nothing is held here: the cluster schedules."""

    def interrupt(self, running: list[Running]) -> None:
        ids = [run.job.job_id if isinstance(run, SubmittedRun) else run.job_id for run in running]
        if ids:
            cancel = "scancel " + " ".join(ids) if self.cluster == "slurm" else "kill " + " ".join(ids)
            tqdm.write(f"{len(ids)} job(s) keep running on the {self.cluster} cluster: run the same command again to "
                       f"collect them (nothing is submitted twice), or stop them with: {cancel}")

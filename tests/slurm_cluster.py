"""A throwaway one-node Slurm cluster for the tests: munge, MariaDB, slurmdbd (so that ``sacct`` answers and
submitit sees each job's state), slurmctld and slurmd, all configured in one temporary folder, started by their
process ids and stopped the same way; nothing is left behind. It needs Debian's packages (``slurmctld slurmd
slurm-client munge slurmdbd mariadb-server``, installed by ``.ci/run``), root (Slurm runs as root here: no
systemd, no cgroups) and a few seconds; :func:`missing` says what is absent.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS = ("munged", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct",
            "sinfo", "scontrol")
PARTITION = "debug"


def missing() -> str | None:
    """Why no cluster can start here (None: it can)."""
    absent = [name for name in PROGRAMS if shutil.which(name) is None]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} not found): .ci/run installs it"
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    total_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                        if line.startswith("MemTotal")).split()[1])
    return total_kb // 1024 - 1024  # a margin for the daemons


@dataclass
class Cluster:
    """A running one-node cluster: ``env`` holds what a client needs (``SLURM_CONF``)."""

    folder: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster (``check``: a RuntimeError with its output if it fails)."""
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: exit {result.returncode}: {result.stdout}{result.stderr}")
        return result

    def start(self, name: str, command: list[str], ready, timeout_s: float = 60) -> None:
        log = open(self.folder / f"{name}.out", "ab")
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {self.log_tail(name)}")
            time.sleep(0.3)

    def log_tail(self, name: str) -> str:
        texts = [p.read_text(errors="replace")[-2000:] for p in (self.folder / f"{name}.out", self.folder / f"{name}.log")
                 if p.is_file()]
        return "\n".join(texts)

    def stop(self) -> None:
        """Every daemon stopped by its process id (the reverse order of their start), the folder removed."""
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_configuration(cluster: Cluster, ports: dict[str, int]) -> None:
    folder = cluster.folder
    auth = f"AuthType=auth/munge\nAuthInfo=socket={folder}/munge.socket,cred_expire=10\n"
    (folder / "slurm.conf").write_text(
        f"ClusterName=mixbench\nSlurmctldHost={cluster.node}\nSlurmUser=root\nSlurmdUser=root\n"
        f"SlurmctldPort={ports['slurmctld']}\nSlurmdPort={ports['slurmd']}\n{auth}CredType=cred/munge\n"
        f"StateSaveLocation={folder}/state\nSlurmdSpoolDir={folder}/spool\n"
        f"SlurmctldPidFile={folder}/slurmctld.pid\nSlurmdPidFile={folder}/slurmd.pid\n"
        f"SlurmctldLogFile={folder}/slurmctld.log\nSlurmdLogFile={folder}/slurmd.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMailProg=/bin/true\nReturnToService=2\n"
        "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "JobAcctGatherType=jobacct_gather/none\nMinJobAge=600\n"
        f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
        f"AccountingStoragePort={ports['slurmdbd']}\nAccountingStoragePass={folder}/munge.socket\n"
        f"NodeName={cluster.node} CPUs={os.cpu_count()} RealMemory={_memory_mb()} State=UNKNOWN\n"
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n")
    dbd = folder / "slurmdbd.conf"
    dbd.write_text(f"{auth}DbdHost=localhost\nDbdPort={ports['slurmdbd']}\nSlurmUser=root\n"
                   f"PidFile={folder}/slurmdbd.pid\nLogFile={folder}/slurmdbd.log\n"
                   "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
                   f"StoragePort={ports['mariadb']}\nStorageUser=root\nStorageLoc=slurm_acct\n")
    dbd.chmod(0o600)
    for name in ("state", "spool", "mariadb"):
        (folder / name).mkdir()


def _start_munge(cluster: Cluster) -> None:
    folder = cluster.folder
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    cluster.start("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                             f"--socket={folder}/munge.socket", f"--pid-file={folder}/munged.pid",
                             f"--log-file={folder}/munged.log", f"--seed-file={folder}/munge.seed"],
                  lambda: (folder / "munge.socket").exists())


def _start_accounting(cluster: Cluster, ports: dict[str, int]) -> None:
    folder = cluster.folder
    subprocess.run(["mariadb-install-db", f"--datadir={folder}/mariadb", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)
    socket_path = folder / "mariadb.socket"
    cluster.start("mariadbd", ["mariadbd", "--no-defaults", f"--datadir={folder}/mariadb", "--user=root",
                               f"--socket={socket_path}", f"--port={ports['mariadb']}", "--bind-address=127.0.0.1",
                               f"--pid-file={folder}/mariadb.pid", "--skip-log-bin"],
                  lambda: socket_path.exists())
    cluster.start("slurmdbd", ["slurmdbd", "-D"], lambda: _listening(ports["slurmdbd"]))


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_cluster(folder: Path) -> Cluster:
    """Start the whole cluster under ``folder``; every daemon is stopped again if any fails to start."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ports = {name: _free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mariadb")}
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    cluster = Cluster(folder, env)
    try:
        _write_configuration(cluster, ports)
        _start_munge(cluster)
        _start_accounting(cluster, ports)
        cluster.run("sacctmgr", "-i", "add", "cluster", "mixbench")
        cluster.start("slurmctld", ["slurmctld", "-D", "-i"], lambda: _listening(ports["slurmctld"]))
        cluster.start("slurmd", ["slurmd", "-D", "-N", cluster.node],
                      lambda: "idle" in cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout)
    except BaseException:
        cluster.stop()
        raise
    return cluster

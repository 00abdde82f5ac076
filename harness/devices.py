"""The GPUs the local executor pins jobs to, found without importing torch (the orchestrator never touches CUDA;
each worker sees only its own GPU through ``CUDA_VISIBLE_DEVICES``)."""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import HarnessError


def visible_gpus(spec: str = "auto") -> list[str]:
    """GPU ids for ``--gpus``: ``none`` -> no pinning; ``0,2`` -> those; ``auto`` -> ``$CUDA_VISIBLE_DEVICES``
    where it is set (empty: none), else every GPU ``nvidia-smi`` lists (none where it is missing or fails: said in
    one line, unless the machine has no NVIDIA device at all)."""
    if spec == "none":
        return []
    if spec != "auto":
        ids = [part.strip() for part in spec.split(",")]
        if not all(ids):
            raise HarnessError(f"--gpus takes auto, none or a comma-separated list of GPU ids such as 0,1; got {spec!r}")
        return ids
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [part.strip() for part in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if part.strip() and part.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:  # a CPU machine, unless NVIDIA's device files are there
        return _unpinned("nvidia-smi is not on the PATH") if nvidia_device_files() else []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return _unpinned(f"nvidia-smi failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
    return [line.strip() for line in listed.splitlines() if line.strip()]


AUTO_WORKERS = -1  # --workers auto: each job's share of the CPUs less the one its training process uses


def cpu_share() -> int:
    """The CPUs this process may use: the share its executor gave it (``OMP_NUM_THREADS``: the local executor's
    CPUs / jobs at once, Slurm's cpus-per-task), else its CPU affinity."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else len(os.sched_getaffinity(0))


def loader_workers(requested: int) -> int:
    """Data-loading processes for a job: ``requested``, or for :data:`AUTO_WORKERS` its CPU share less one."""
    return requested if requested != AUTO_WORKERS else max(0, cpu_share() - 1)


def parse_workers(text: str) -> int:
    """``--workers``: ``auto`` (:data:`AUTO_WORKERS`) or a count of at least 0 (a negative one: a one-line error)."""
    if text == "auto":
        return AUTO_WORKERS
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None
    if count < 0:
        raise HarnessError(f"--workers must be at least 0 (or auto), got {count}")
    return count


PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs that compute bf16 in hardware


def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX-512 BF16, as recent Xeon and EPYC processors do).
    Elsewhere bf16 is emulated, slower than fp32 (measured: docs/benchmarks.md)."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def resolve_precision(requested: str, device: str) -> str:
    """The precision a run trains and evaluates in (part of its identity): ``fp32`` or ``bf16`` as asked; for
    ``auto``, bf16 autocast on a GPU (``--device cuda``, or ``auto`` where NVIDIA GPUs are visible) and on a CPU that
    computes bf16 natively, else fp32. Torch-free: the orchestrator decides it when it plans."""
    if requested not in PRECISIONS:
        raise HarnessError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested != "auto":
        return requested
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1")
    gpu = device.startswith("cuda") or (device == "auto" and bool(nvidia_device_files()) and not hidden)
    return "bf16" if gpu or cpu_computes_bf16() else "fp32"


def nvidia_device_files() -> list[str]:
    """``/dev/nvidia0``, ``/dev/nvidia1``...: there are NVIDIA GPUs on this machine (whatever nvidia-smi says)."""
    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def _unpinned(why: str) -> list[str]:
    """No GPU list: said in one line, since on a machine with GPUs every job would then take the first one."""
    print(f"mixbench: note: --gpus auto: {why}, so jobs are not pinned to GPUs (with GPUs, each job would use the "
          "first one): set --gpus 0,1,... or CUDA_VISIBLE_DEVICES, or --device cpu", file=sys.stderr, flush=True)
    return []

"""Where a result came from: git commit, package versions, hardware."""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from harness.code_identity import executed_sources

PACKAGES = ("torch", "torchvision", "timm", "numpy", "pandas", "mixbench")
METRIC_PACKAGES = {  # what computes each task's figures, beside the training stack
    "localization": ("opencv-python",),  # CAM boxes from OpenCV's contours, as wsolevaluation
    "detection": ("mmdet", "mmcv", "mmengine"),  # the detectors and MMDetection's VOC07 mAP
    "captioning": ("pycocoevalcap",),  # BLEU, METEOR, ROUGE-L, CIDEr-D
    "robustness": (),  # FGSM and the OOD metrics are the harness's own code (restating Lee et al.'s, tested)
}


@lru_cache(maxsize=1)
def git_commit() -> dict[str, object]:
    """The project's commit and whether the work tree had uncommitted changes (None outside git)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


_harness_code: dict[str, str] | None = None  # the code this process's job runs, per file (take_harness_code)


def take_harness_code(sources: dict[str, str] | None = None) -> None:
    """Fix the harness code a record says made it: ``sources`` as the orchestrator read them when it started its
    workers (``job.json``'s ``harness_code``: the code they forked from), or else, for a training run started by
    hand (``python -m harness.train``), the files the trainer executes now."""
    global _harness_code
    _harness_code = sources if sources is not None else executed_sources(("harness.train.trainer",))


def code_provenance() -> dict[str, object]:
    """What a record was made by: the commit (``git``) and the digest of each harness file that computes figures
    (``harness_code``)."""
    if _harness_code is None:
        take_harness_code()
    return {"git": git_commit(), "harness_code": _harness_code}


def package_versions(task: str | None = None) -> dict[str, str | None]:
    """Versions of the training stack and of the packages that compute ``task``'s metrics (None: not installed)."""
    versions = {}
    for name in PACKAGES + METRIC_PACKAGES.get(task, ()):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def hardware(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info

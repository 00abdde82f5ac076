"""What defines a training run, and the hash that identifies its result."""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import DataNotFoundError, HarnessError
from harness.identity import run_key
from harness.train.files import RECORD

# Where and how a run executes, not what it computes: left out of the hash so a record is reused
# whichever machine or folder produced it.
# init_from is a path: the job that fine-tunes carries its backbone's identity in its own hash.
# Options added after the first records were written: hashed only when set.
OPTIONAL = frozenset({"head_lr", "init_from", "train_subset", "test_subset", "world_size", "sync_bn", "data_fingerprint",
                      "input_pipeline", "code", "precision"})
INPUT_PIPELINES = ("loader", "device")
DEVICE_PIPELINE_DATASETS = ("synthetic", "cifar10", "cifar100")  # small images the device pipeline can hold
NOT_HASHED = frozenset({"data_root", "device", "num_workers", "download", "plugins", "labels", "init_from", "compile"})


def default_pipeline(dataset: str, data_policy: str | None, world_size: int) -> str:
    """``device`` for small images with the paper's plain CIFAR augmentation on one process, else ``loader``."""
    return "device" if dataset in DEVICE_PIPELINE_DATASETS and data_policy is None and world_size == 1 else "loader"


@dataclass
class RunConfig:
    """One training run: data, model, augmentation and the optimisation schedule (epochs are 1-based)."""

    dataset: str = "synthetic"
    model: str = "resnet_tiny"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    method: str = "none"
    method_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [5, 8])  # lr *= gamma after these epochs
    gamma: float = 0.1
    seed: int = 0
    image_size: int | None = None
    data_policy: str | None = None  # e.g. "autoaugment", applied in the data pipeline
    init_from: str | None = None  # a harness checkpoint whose backbone is fine-tuned (classifier re-initialised)
    head_lr: float | None = None  # learning rate of the classifier when fine-tuning (default: lr)
    train_subset: int | None = None  # train on a fixed class-balanced subset of this many images (the mini scale)
    test_subset: int | None = None  # evaluate on a fixed class-balanced subset of this many test images (rehearsal)
    # what the data set's files were when the run was planned (harness.fingerprint): other data, another run
    data_fingerprint: str | None = None
    # "fp32", or "bf16": autocast on the training device (harness.devices.resolve_precision chooses for "auto")
    precision: str = "fp32"
    # the code of the method and of the model (harness.code_identity.run_code): edited code, another run
    code: str | None = None
    # "loader": torchvision transforms in a DataLoader; "device": small images held on the training device and
    # augmented there in batches (harness.data.device_pipeline; other random draws, so part of the identity)
    input_pipeline: str = "loader"
    # data-parallel processes (one per GPU; gloo processes on a CPU). Hashed: batch-level methods mix within each
    # rank's share of the batch, so the result depends on it. lr is for the global batch, never rescaled.
    world_size: int = 1
    sync_bn: bool = False  # batch-norm statistics over the global batch (SyncBatchNorm) when world_size > 1
    # not hashed (see NOT_HASHED)
    data_root: str | None = None
    device: str = "auto"
    num_workers: int = 0  # data-loading processes; -1: auto (harness.devices.loader_workers)
    compile: bool = False  # torch.compile the training forward (an execution option: not hashed)
    download: bool = False
    plugins: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)  # free-form tags (table, row, scale) for humans

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise HarnessError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if self.world_size < 1 or self.batch_size % self.world_size:
            raise HarnessError(f"batch_size {self.batch_size} must split evenly over world_size {self.world_size} processes")
        if self.num_workers < -1:
            raise HarnessError(f"num_workers must be -1 (auto) or at least 0, got {self.num_workers}")
        if self.precision not in ("fp32", "bf16"):
            raise HarnessError(f"precision must be fp32 or bf16 (resolve auto first), not {self.precision!r}")
        if self.input_pipeline not in INPUT_PIPELINES:
            raise HarnessError(f"input_pipeline must be one of {', '.join(INPUT_PIPELINES)}, not {self.input_pipeline!r}")
        if self.input_pipeline == "device" and (self.world_size > 1 or self.data_policy
                                                or self.dataset not in DEVICE_PIPELINE_DATASETS):
            raise HarnessError(f"the device input pipeline runs one process without a data policy on "
                               f"{', '.join(DEVICE_PIPELINE_DATASETS)} (this run: {self.dataset}, world_size "
                               f"{self.world_size}, data_policy {self.data_policy}): use input_pipeline loader")
        if any(m < 1 or m > self.epochs for m in self.milestones):
            raise HarnessError(f"milestones {self.milestones} must lie within 1..{self.epochs}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HarnessError(f"unknown run setting(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hashed_part(self) -> dict[str, Any]:
        """The settings that determine the result. Optional settings left at their default are omitted,
        so adding an option to the harness never invalidates existing records."""
        defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(self)}
        return {k: v for k, v in self.to_dict().items()
                if k not in NOT_HASHED and not (k in OPTIONAL and v == defaults[k])}

    def config_hash(self) -> str:
        """The run's key: :func:`harness.identity.run_key` of :meth:`hashed_part` (compact JSON, as always)."""
        return run_key(self.hashed_part(), compact=True)


def backbone_train_config(job: dict[str, Any]) -> RunConfig:
    """The training configuration of the network a downstream job starts from: as planned (``backbone_train``;
    the only one there is for a checkpoint given by file), else from the finished run's record."""
    if job.get("backbone_train"):
        return RunConfig.from_dict(job["backbone_train"])
    return finished_run_config(Path(job["backbone_checkpoint"]).parent)


def finished_run_config(run_dir: Path) -> RunConfig:
    """The configuration of the finished training run in ``run_dir`` (from its record), for the jobs that start
    from or evaluate it; a one-line error naming the folder where that run has not finished."""
    record = Path(run_dir) / RECORD
    if not record.is_file():
        raise DataNotFoundError(f"{run_dir}: the run this job evaluates has not finished (no {RECORD}); "
                                "run_all.py runs it first")
    return RunConfig.from_dict(json.loads(record.read_text())["config"])

"""The interface every task kind implements."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from harness.code_identity import run_code
from harness.identity import Derived, Identity, sha256_file
from harness.train.config import RunConfig
from harness.train.files import BEST_MODEL, CHECKPOINT

BACKBONE_CHECKPOINTS = {"last": CHECKPOINT, "best": BEST_MODEL}  # a protocol's backbone_checkpoint -> file


class Unrunnable(Exception):
    """A row cannot run at this scale (e.g. no stand-in model); the message is shown in the plan and report."""


class Task:
    """A kind of experiment: classification, localization, detection...

    ``configure`` is called while planning (cheap: no image is read); ``run`` in a worker process. Each task
    declares once how its configuration names its run (``identity``, :mod:`harness.identity`).
    """

    name = "task"
    identity: Identity
    metrics: dict[str, str] = {}  # metric id -> column label
    measured_note = "Measured: mean ± std over seeds; Δ = measured − paper."
    runtime_modules: tuple[str, ...] = ()  # what ``run`` imports (torch, timm, mmdet...): the workers' fork server
                                           # imports them once, so that no job spends seconds importing them

    def configure(self, study: "harness.study.Study", run: "harness.study.RowRun") -> tuple[dict[str, Any], str]:
        """The job's JSON-able configuration and its key; raise :class:`Unrunnable` if it cannot run."""
        config = self.configuration(study, run)
        return config, self.key(config)

    def identity_of(self, config: dict[str, Any]) -> dict[str, Any]:
        """What the key of a run of this configuration is the digest of."""
        return self.identity.part(config)

    def key(self, config: dict[str, Any]) -> str:
        """The key of a run of this configuration (recomputed for an imported run)."""
        return self.identity.key(config)

    def configuration(self, study: "harness.study.Study", run: "harness.study.RowRun") -> dict[str, Any]:
        """The job's JSON-able configuration (every field declared by :attr:`identity`)."""
        raise NotImplementedError

    def require_data(self, config: dict[str, Any]) -> None:
        """Raise :class:`~harness.errors.DataNotFoundError` if the job's data are missing (cheap: no image is
        read), so that a run with a wrong ``--data-root`` stops before its first job, with the fix."""

    def missing_runtime(self, config: dict[str, Any]) -> str | None:
        """What this machine lacks to run the job, as the report's reason (a program such as ``java``; cheap),
        or None: such a job is left out and every other job runs."""
        return None

    def dependencies(self, config: dict[str, Any]) -> list[str]:
        """Keys of the jobs that must finish before this one starts (e.g. the backbone it fine-tunes)."""
        return []

    def given_weights(self, config: dict[str, Any]) -> "GivenWeights | None":
        """The file given by ``--backbone`` that the job loads and the network it loads it into (None: the job
        starts from no given file), so that the plan checks the two fit before anything is queued."""
        return None

    def epochs(self, config: dict[str, Any]) -> int:
        """Epochs of a job, for cost estimates and progress."""
        raise NotImplementedError

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        """Execute the job in ``run_dir`` (resuming if it was interrupted) and return its record."""
        raise NotImplementedError

    def section_note(self, configs: list[dict[str, Any]]) -> str:
        """A line for the report's section about how its jobs (``configs``) were evaluated ("" for none)."""
        return ""

    def report_figures(self, table, cells, scale: str) -> dict[str, bytes]:
        """Extra PNG figures of this task for a table's report section (from its runs' folders)."""
        return {}


class Backbone(NamedTuple):
    """The run whose network a transfer row starts from, or a checkpoint file given in its place."""

    key: str  # its job key; for a given file, ``file-<sha256, 16 digits>``
    which: str  # "last" or "best" checkpoint, or "file"
    checkpoint: Path
    model: str  # the network that ran (the scale's stand-in where there is one), for provenance
    train: dict[str, Any]  # the upstream run's training configuration (its network, data and image size)
    file: dict[str, str] | None = None  # a given file: its path and SHA-256 (not trained here)
    own_network: bool = False  # a given file built as the paper's network where the scale trains a stand-in


FILE_BACKBONE = "file-"  # the key prefix of a backbone given as a file: no run to wait for


def file_sha256(path: Path) -> str:
    """The SHA-256 of a checkpoint file (read in blocks, once per version; the plan has checked it is there)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))


def given_backbone(reference: str, backbones: dict[str, str]) -> str | None:
    """The file given for upstream row ``reference`` ("table/row") by ``--backbone``: by "table/row" or by row."""
    return backbones.get(reference) or backbones.get(reference.partition("/")[2])


def run_dependencies(config: dict[str, Any]) -> list[str]:
    """The backbone run a downstream job waits for (none for a given file)."""
    key = config.get("backbone_key")
    return [key] if key and not key.startswith(FILE_BACKBONE) else []


class GivenWeights(NamedTuple):
    """A given file and the network a job loads it into (:mod:`harness.weights` checks they fit)."""

    path: Path
    model: str
    num_classes: int
    model_kwargs: dict[str, Any]
    with_head: bool  # the file's classifier is used as it is (an evaluation), not replaced (a fine-tuning)


def num_classes(dataset: str) -> int:
    from harness.data import NUM_CLASSES

    return NUM_CLASSES[dataset]


def backbone_weights(config: dict[str, Any], with_head: bool, network: str = "backbone_train") -> GivenWeights | None:
    """The given file a job loads (None where its backbone is a harness run), into the network of its
    configuration's ``network`` field: the backbone run's (an evaluation) or the job's own (a fine-tuning)."""
    if not config.get("backbone_file"):
        return None
    train = config[network]
    return GivenWeights(Path(config["backbone_file"]["path"]), train["model"], num_classes(train["dataset"]),
                        dict(train.get("model_kwargs") or {}), with_head)


def file_network(path: Path, planned: str, paper: str, train: dict[str, Any]) -> str:
    """The network a given file is built as: the scale's stand-in where the file fits it (a checkpoint the
    harness made at that scale), else the paper's own (a released file: a rehearsal runs the architecture the
    cluster will); :class:`~harness.weights.MisfitWeights` naming the tensors where it fits neither."""
    stat = Path(path).stat()
    return _file_network(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, planned, paper,
                         num_classes(train["dataset"]), tuple(sorted((train.get("model_kwargs") or {}).items())))


@lru_cache(maxsize=64)
def _file_network(path: str, mtime_ns: int, size: int, planned: str, paper: str, classes: int,
                  model_kwargs: tuple) -> str:
    from harness.weights import MisfitWeights, misfits, planned_network, read_weights

    given, found = read_weights(Path(path)), {}
    for model in dict.fromkeys((planned, paper)):
        found[model] = misfits(given, planned_network(model, classes, dict(model_kwargs)), with_head=False)
        if not found[model]:
            return model
    raise MisfitWeights(f"{path} fits neither network of its row: " + "; ".join(
        f"{model}: {', '.join(problems)}" for model, problems in found.items()))


def backbone_run(study: "harness.study.Study", run: "harness.study.RowRun") -> Backbone:
    """The run whose network a transfer row starts from: the row's ``backbone`` ("table/row") at the same scale
    and seed, its ``last`` or ``best`` checkpoint as the protocol's ``backbone_checkpoint`` says, or the file
    given for it (``--backbone``: built as the network it fits, :func:`file_network`); :class:`Unrunnable` if
    the row names none or the setting is unknown."""
    if not run.row.backbone:
        raise Unrunnable("no ImageNet-trained backbone for this row in the harness (set the row's backbone)")
    which = run.protocol.get("backbone_checkpoint", "last")
    if which not in BACKBONE_CHECKPOINTS:
        raise Unrunnable(f"backbone_checkpoint must be one of {', '.join(BACKBONE_CHECKPOINTS)}, not {which!r}")
    key, folder, config = study.resolve(run.row.backbone, run.seed)
    train = config.get("train", config)
    given = given_backbone(run.row.backbone, study.settings.backbones)
    if given:
        table, row = study.row_of(run.row.backbone)
        planned = train["model"]
        model = file_network(Path(given), planned, row.model or table.model, train)
        if model != planned:  # a released file: its own network, where the scale trains a stand-in
            train = dict(train, model=model, code=run_code(train["method"], model, study.settings.plugins))
        digest = file_sha256(Path(given))
        return Backbone(f"{FILE_BACKBONE}{digest[:16]}", "file", Path(given).resolve(), model, train,
                        {"path": str(Path(given).resolve()), "sha256": digest}, own_network=model != planned)
    return Backbone(key, which, folder / BACKBONE_CHECKPOINTS[which], train["model"], train)


def backbone_fields(backbone: Backbone) -> dict[str, Any]:
    """What a downstream job's configuration says of the network it starts from (:data:`BACKBONE_IDENTITY` and
    :data:`BACKBONE_EXECUTION` declare each field)."""
    return {"model": backbone.model, "backbone_key": backbone.key, "backbone_which": backbone.which,
            "backbone_checkpoint": str(backbone.checkpoint), "backbone_train": backbone.train,
            "backbone_file": backbone.file}


def _file_backbone_run(config: dict[str, Any]) -> dict[str, Any] | None:
    """For a network given as a file, what the job builds it as and reads it on (the planned upstream run's
    network, data and image size: its identity); None for a harness run, whose key already holds all that."""
    return RunConfig.from_dict(config["backbone_train"]).hashed_part() if config.get("backbone_file") else None


BACKBONE_IDENTITY = {"backbone": Derived(("backbone_key", "backbone_which"),
                                         lambda config: [config["backbone_key"], config["backbone_which"]]),
                     "backbone_run": Derived(("backbone_train", "backbone_file"), _file_backbone_run)}
BACKBONE_EXECUTION = {"model": "the backbone's network: in the backbone's key, or in backbone_run for a file",
                      "backbone_checkpoint": "a path: the backbone's key names what it holds",
                      "method": "the backbone's method, for the report: in the backbone's key"}


def saved_examples(table, cells, filename: str) -> list[tuple[str, Any]]:
    """(row name, arrays) of the ``filename`` (.npz) that each row's first run saved for the report's
    figures, in the table's row order; rows without one are left out."""
    examples = []
    for row in table.rows:
        cell = next((c for c in cells if c.table == table.id and c.row == row.name and c.job), None)
        if cell and (cell.job.run_dir / filename).is_file():
            examples.append((row.name, np.load(cell.job.run_dir / filename)))
    return examples

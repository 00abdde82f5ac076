"""``run_all.py --check-data``: for the selected tables at a scale, one line per data set: the folder it resolved
to and how, whether it is found, missing or incomplete, and the counts found against those the protocol expects.
No image is decoded: counts come from index files, zip and ``.npy`` headers and directory listings."""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.experiments import REHEARSAL
from harness.fingerprint import CIFAR_CLASSES, CIFAR_FOLDERS, GENERATORS, IMAGE_SUFFIXES, find_cifar, index_lines
from harness.jobs import Job
from harness.paths import dataset_folder
from harness.robustness.sets import ood_folder_candidates

FULL = {  # the published splits, what the paper's protocol reads
    "cifar10": {"train": 50_000, "test": 10_000}, "cifar100": {"train": 50_000, "test": 10_000},
    "imagenet": {"train": 1_281_167, "val": 50_000}, "imagenet_loc": {"train": 1_281_167, "val (boxes)": 50_000},
    "cub": {"train": 5_994, "test": 5_794},
    "voc": {"VOC2007 trainval": 5_011, "VOC2007 test": 4_952, "VOC2012 trainval": 11_540},
    "coco": {"train2014": 82_783, "val2014": 40_504},
}
OOD_IMAGES = 10_000  # each of ODIN's folders


@dataclass(frozen=True)
class DataStatus:
    """One data set of a plan, as found under the data root."""

    name: str
    folder: Path
    how: str  # how the folder was chosen (harness.paths.dataset_folder)
    state: str  # found | missing | incomplete (fewer images than the protocol reads) | unusable (a job would fail) | generated
    counts: dict[str, int]
    expected: dict[str, int]
    tables: tuple[str, ...]
    problem: str = ""  # why it is unusable

    @property
    def usable(self) -> bool:
        return self.state in ("found", "generated")

    def line(self) -> str:
        counts = ", ".join(f"{split} {self.counts.get(split, 0):,} (≥ {want:,})" for split, want in self.expected.items())
        return (f"{self.name:22s} {self.state:10s} {self.folder} [{self.how}]" + (f"  ({counts})" if counts else "")
                + f"  [{', '.join(self.tables)}]" + (f"  {self.problem}" if self.problem else ""))


def _images(folder: Path) -> int:
    """Image files under ``folder`` (by name: none is opened)."""
    return sum(Path(name).suffix.lower() in IMAGE_SUFFIXES for _, _, files in os.walk(folder) for name in files)


def _npz_rows(path: Path, member: str) -> int:
    """The first dimension of an array in an ``.npz``, from its ``.npy`` header alone."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{member}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape = reader(handle)[0]
    return int(shape[0])


def _cifar(name: str, root: Path) -> tuple[Path, dict[str, int]]:
    source = find_cifar(root, name)
    if source is None:
        return root, {}
    if source.kind == "npz":
        return source.path, {"train": _npz_rows(source.path, "x_train"), "test": _npz_rows(source.path, "x_test")}
    if source.kind == "folders":
        return source.path, {"train": _images(source.path / "train"), "test": _images(source.path / "test")}
    folder = source.path / CIFAR_FOLDERS[name]  # torchvision's pickled batches: 10,000 images each (CIFAR-10)
    if name == "cifar10":
        batches = sum((folder / f"data_batch_{i}").is_file() for i in range(1, 6))
        return folder, {"train": 10_000 * batches, "test": 10_000 * (folder / "test_batch").is_file()}
    return folder, {"train": 50_000 * (folder / "train").is_file(), "test": 10_000 * (folder / "test").is_file()}


def _cub(root: Path) -> tuple[Path, dict[str, int]]:
    flags = [line.split()[-1] for line in index_lines(root / "train_test_split.txt")]
    return root, {"train": flags.count("1"), "test": flags.count("0")} if (root / "images").is_dir() else {}


def _voc(root: Path) -> tuple[Path, dict[str, int]]:
    devkit = root / "VOCdevkit"
    main = {year: devkit / year / "ImageSets" / "Main" for year in ("VOC2007", "VOC2012")}
    return devkit, {"VOC2007 trainval": len(index_lines(main["VOC2007"] / "trainval.txt")),
                    "VOC2007 test": len(index_lines(main["VOC2007"] / "test.txt")),
                    "VOC2012 trainval": len(index_lines(main["VOC2012"] / "trainval.txt"))}


def _coco(root: Path) -> tuple[Path, dict[str, int]]:
    folder = next((f for f in (root / "coco", root) if (f / "annotations").is_dir()), root / "coco")
    counts = {}
    for path in sorted((folder / "annotations").glob("captions_*.json")):
        counts[path.stem.removeprefix("captions_")] = len(json.loads(path.read_text()).get("images", []))
    return folder, counts


def cifar_class_counts(name: str, root: Path) -> dict[str, int]:
    """Training images per class of CIFAR ``name`` under ``root`` (an ``.npz``'s labels, or class folders: no image
    opened); empty for torchvision's batches (the full set) or where none is found."""
    source = find_cifar(root, name)
    if source is None or source.kind not in ("npz", "folders"):
        return {}
    if source.kind == "npz":
        with np.load(source.path) as archive:
            key = "y_train_fine" if "y_train_fine" in archive else "y_train"  # CIFAR-100's arrays: fine labels
            labels, counts = np.unique(archive[key], return_counts=True)
        return {str(label): int(count) for label, count in zip(labels, counts)}
    train = source.path / "train"
    return {folder.name: _images(folder) for folder in sorted(train.iterdir()) if folder.is_dir()} if train.is_dir() else {}


def subset_problem(name: str, root: Path, settings: dict[str, Any]) -> str:
    """Why a protocol's class-balanced training subset (``train_subset``) cannot be drawn from CIFAR ``name``, or "".
    The rule is :func:`harness.data.balanced_subset`'s: a set no larger than the subset is used whole; otherwise each
    class found needs ``train_subset // classes found`` images."""
    if name not in CIFAR_CLASSES or not settings.get("train_subset"):
        return ""
    counts = cifar_class_counts(name, root)
    size = settings["train_subset"]
    if not counts or size >= sum(counts.values()):
        return ""
    need = max(1, size // len(counts))
    short = [f"{label} ({count})" for label, count in counts.items() if count < need]
    if not short:
        return ""
    return (f"the protocol's class-balanced subset of {size:,} training images needs {need} of each class; "
            f"below that: {', '.join(short)}")


COUNTERS: dict[str, Callable[[Path], tuple[Path, dict[str, int]]]] = {
    "cifar10": lambda root: _cifar("cifar10", root), "cifar100": lambda root: _cifar("cifar100", root),
    "imagenet": lambda root: (root, {"train": _images(root / "train"), "val": _images(root / "val")}),
    "imagenet_loc": lambda root: (root, {"train": _images(root / "train"),
                                         "val (boxes)": len(index_lines(root / "metadata" / "image_ids.txt"))}),
    "cub": _cub, "voc": _voc, "coco": _coco,
}


def expected_counts(name: str, found: dict[str, int], settings: dict[str, Any], rehearsal: bool = False) -> dict[str, int]:
    """What the protocol reads of data set ``name``: the full splits, a mini scale's training subset, COCO's
    splits of the year found; a rehearsal reads up to a small part of each split, so one image of each will do."""
    if name == "coco" and any(split.endswith("2017") for split in found):
        expected = {"train2017": 118_287, "val2017": 5_000}
    else:
        expected = dict(FULL.get(name, {}))
    if rehearsal:
        return {split: 1 for split in expected}
    if "train" in expected and settings.get("train_subset"):
        expected["train"] = min(expected["train"], settings["train_subset"])
    return expected


def job_data(job: Job) -> list[str]:
    """The data sets a job reads (its own; a downstream job's backbone is another job's)."""
    config = job.config.get("train", job.config)
    names = [config["dataset"]] if "dataset" in config else []
    fingerprints = job.config.get("ood_data", {}).values()  # "ood/<folder>:<digest>", "generated:<digest>"
    return names + ["ood_generated" if f.startswith("generated:") else f.split(":")[0] for f in fingerprints]


def check_one(name: str, root: str | None, given: dict[str, str], settings: dict[str, Any],
              tables: tuple[str, ...], rehearsal: bool = False) -> DataStatus:
    """The status of data set ``name``, in the folder its loader reads (``--data``, its own folder under the
    data root ``root``, or the data root)."""
    folder, how = dataset_folder(name.split("/")[0], root, given)
    return _status(name, folder, how, settings, tables, rehearsal)


def _status(name: str, root: Path, how: str, settings: dict[str, Any], tables: tuple[str, ...],
            rehearsal: bool) -> DataStatus:
    if name in GENERATORS:
        return DataStatus(name, root, how, "generated", {}, {}, tables)
    if name.startswith("ood/"):
        folder = next((c for c in ood_folder_candidates(root, name.removeprefix("ood/")) if c.is_dir()), None)
        counts, expected = ({"images": _images(folder)} if folder else {}), {"images": 1 if rehearsal else OOD_IMAGES}
        folder = folder or ood_folder_candidates(root, name.removeprefix("ood/"))[0]
    else:
        folder, counts = COUNTERS[name](root)
        expected = expected_counts(name, counts, settings, rehearsal)
    problem = ""
    if not counts or not any(counts.values()):
        state = "missing"
    elif problem := subset_problem(name, root, settings):
        state = "unusable"
    else:
        state = "incomplete" if any(counts.get(split, 0) < want for split, want in expected.items()) else "found"
    return DataStatus(name, folder, how, state, counts, expected, tables, problem)


def survey_plan_data(jobs: list[Job], protocols: dict[str, Any], scale: str, tables: dict[str, Any],
                     root: str | None, given: dict[str, str], subsets_only: bool = False) -> list[DataStatus]:
    """Every data set the plan's jobs read, once, with the tables that read it (``subsets_only``: only those a
    protocol draws a class-balanced subset from, which are quick to check before every run)."""
    using: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for name in job_data(job):
            entry = using.setdefault(name, {"tables": [], "settings": {}})
            for table_id, _, _ in job.cells:
                if table_id not in entry["tables"]:
                    entry["tables"].append(table_id)
                    entry["settings"] = entry["settings"] or protocols[tables[table_id].protocol][scale]
    return [check_one(name, root, given, entry["settings"], tuple(entry["tables"]), scale == REHEARSAL)
            for name, entry in using.items() if not subsets_only or entry["settings"].get("train_subset")]


def root_origin(root: str | None) -> str:
    """How the data root was chosen: ``--data-root``, ``$MIXBENCH_DATA`` or the default."""
    if root is not None:
        return "--data-root"
    return "$MIXBENCH_DATA" if os.environ.get("MIXBENCH_DATA") else "the default (~/.cache/mixbench)"

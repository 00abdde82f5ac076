"""What data a run reads, as a short digest that is part of the run's identity, so that a record is never
reused for other data (the shared subset, then the full set; a re-extracted folder with files missing).

Cheap enough for every plan: no image is decoded. A digest covers, per data set, the files its loader reads:
file names and sizes of image folders, the content of index and annotation files (``.txt``, ``.json``,
``.xml``, ``.csv``), and the arrays of an ``.npz`` through its zip index (each member's name, size and CRC-32,
which the archive already holds). Generated data sets are named by the code that generates them. Torch-free:
the orchestrator plans without importing it.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.paths import ROOT, data_root
from harness.robustness.sets import ood_folder_candidates

MISSING = "missing"
INDEX_SUFFIXES = {".txt", ".json", ".xml", ".csv", ".meta"}  # small files whose content names the data
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}  # image files: named by their size, never read
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}  # torchvision's
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}
EDGE_BYTES = 1 << 16  # of a large binary file (torchvision's CIFAR batches): its size and first and last 64 KiB
GENERATORS = {"synthetic": ("data/synthetic.py",), "synthetic_voc": ("data/synthetic.py", "data/voc_synthetic.py"),
              "synthetic_captions": ("data/synthetic.py", "captioning/data.py"), "ood_generated": ("robustness/ood_data.py",)}


@dataclass(frozen=True)
class CifarSource:
    """Where CIFAR ``name`` is under a data root, in one of three forms: torchvision's folder (``torchvision``;
    ``path`` is the data root torchvision takes), arrays in a ``.npz`` (``npz``), or images in class folders
    (``folders``: ``train/<class>/*.jpg``, ``test/<class>/*.jpg``)."""

    kind: str
    path: Path


def find_cifar(root: Path, name: str) -> CifarSource | None:
    """CIFAR ``name`` under ``root``, in the loader's order of preference (torchvision's folder, an ``.npz``,
    class folders), or None. Cheap: no image is opened."""
    root = Path(root)
    if (root / CIFAR_FOLDERS[name]).is_dir():
        return CifarSource("torchvision", root)
    npz = _find_cifar_npz(root, name)
    if npz is not None:
        return CifarSource("npz", npz)
    folders = _find_cifar_folders(root, name)
    return CifarSource("folders", folders) if folders is not None else None


def _find_cifar_npz(root: Path, name: str) -> Path | None:
    """The first ``<name>*.npz`` under ``root`` or ``root/<name>`` whose name does not go on with a digit
    (``cifar10*`` must not take ``cifar100_subset.npz``)."""
    candidates = sorted(root.glob(f"{name}*.npz")) + sorted(root.glob(f"{name}/{name}*.npz"))
    candidates = [path for path in candidates if not path.name[len(name):len(name) + 1].isdigit()]
    return candidates[0] if candidates else None


def _find_cifar_folders(root: Path, name: str) -> Path | None:
    """A folder holding CIFAR ``name`` as images in class folders, ``train/<class>/`` and ``test/<class>/``
    (one folder a class, in the label order when sorted), under ``root``, ``root/<name>`` or ``root/<name>_jpeg``."""
    for folder in (root, root / name, root / f"{name}_jpeg"):
        train, test = folder / "train", folder / "test"
        if train.is_dir() and test.is_dir():
            classes = [d for d in os.listdir(train) if (train / d).is_dir()]
            if len(classes) == CIFAR_CLASSES[name]:
                return folder
    return None


def _file_entry(path: Path, relative: str) -> bytes:
    """What identifies one file: its name and size, plus its content (index files), its zip index (``.npz``)
    or its first and last 64 KiB (other files over 128 KiB: not image files, which are listed by size)."""
    size = path.stat().st_size
    entry = f"{relative}\0{size}\0".encode()
    if path.suffix.lower() in INDEX_SUFFIXES:
        return entry + hashlib.sha256(path.read_bytes()).digest()
    if path.suffix.lower() == ".npz":
        with zipfile.ZipFile(path) as archive:
            return entry + "".join(f"{i.filename}:{i.file_size}:{i.CRC:08x};" for i in archive.infolist()).encode()
    if path.suffix.lower() not in IMAGE_SUFFIXES and size > 2 * EDGE_BYTES:
        with open(path, "rb") as handle:
            head = handle.read(EDGE_BYTES)
            handle.seek(-EDGE_BYTES, os.SEEK_END)
            return entry + hashlib.sha256(head + handle.read()).digest()
    return entry


def _walk(path: Path):
    """Every file under ``path`` (or ``path`` itself), in a fixed order, hidden files left out."""
    if path.is_file():
        yield path
        return
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def digest_paths(base: Path, paths: list[Path]) -> str:
    """``<files>:<16 hex digits>`` over the files under ``paths`` (names relative to ``base``); ``missing``
    where one of them does not exist."""
    if not all(p.exists() for p in paths):
        return MISSING
    digest, count = hashlib.sha256(), 0
    for top in paths:
        for path in _walk(top):
            digest.update(_file_entry(path, path.relative_to(base).as_posix()))
            count += 1
    return f"{count}:{digest.hexdigest()[:16]}"


def _generated(kind: str) -> str:
    """Generated data are what their generator's code makes: named by that code."""
    digest = hashlib.sha256(b"".join((ROOT / "harness" / name).read_bytes() for name in GENERATORS[kind]))
    return f"generated:{digest.hexdigest()[:16]}"


def _cifar(name: str, root: Path) -> list[Path]:
    """What the CIFAR loader reads (:func:`find_cifar`); a path that does not exist where there is none."""
    source = find_cifar(root, name)
    if source is None:
        return [root / f"{name}*.npz"]
    if source.kind == "torchvision":
        return [source.path / CIFAR_FOLDERS[name]]
    return [source.path] if source.kind == "npz" else [source.path / "train", source.path / "test"]


def _coco(root: Path) -> list[Path]:
    for folder in (root / "coco", root):
        annotations = sorted((folder / "annotations").glob("captions_*.json"))
        if annotations:
            years = {a.stem.rsplit("_", 1)[1] for a in annotations}
            karpathy = [folder / "dataset_coco.json"] if (folder / "dataset_coco.json").is_file() else []  # his split
            return annotations + karpathy + [folder / year for year in sorted(years)]
    return [root / "coco" / "annotations"]


def _sources(dataset: str, root: Path) -> list[Path]:
    """The files and folders the loader of ``dataset`` reads under ``root``."""
    if dataset in ("cifar10", "cifar100"):
        return _cifar(dataset, root)
    if dataset == "imagenet":
        return [root / "train", root / "val"] + ([root / "val_labels.txt"] if (root / "val_labels.txt").is_file() else [])
    if dataset == "imagenet_loc":
        return [root / "train", root / "metadata"] + [root / line.strip() for line in index_lines(root / "metadata" / "image_ids.txt")]
    if dataset == "cub":
        return [root / name for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt",
                                         "bounding_boxes.txt", "images")]
    if dataset == "voc":
        return [root / "VOCdevkit"]
    if dataset == "coco":
        return _coco(root)
    if dataset.startswith("ood/"):  # one of ODIN's folders
        candidates = ood_folder_candidates(root, dataset.removeprefix("ood/"))
        return [next((c for c in candidates if c.is_dir()), candidates[0])]
    raise ValueError(f"no fingerprint for data set {dataset!r}")


def index_lines(path: Path) -> list[str]:
    """The non-empty lines of an index file (none where it is not there)."""
    return [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


@lru_cache(maxsize=None)
def _fingerprint(dataset: str, root: Path) -> str:
    if dataset in GENERATORS:
        return _generated(dataset)
    return f"{dataset}:{digest_paths(root, _sources(dataset, root))}"


def data_fingerprint(dataset: str, root: str | Path | None) -> str:
    """``<data set>:<files>:<digest>`` of what the loader of ``dataset`` reads under ``root`` (``--data-root``),
    ``<data set>:missing`` where it is absent, ``generated:<digest>`` for a generated set. Computed once per
    process and data set."""
    return _fingerprint(dataset, data_root(root).resolve())


def forget_fingerprints() -> None:
    """Drop the per-process memo (for a process that changes the data it plans with: tests)."""
    _fingerprint.cache_clear()

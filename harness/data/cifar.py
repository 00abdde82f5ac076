"""CIFAR-10/100: torchvision's data sets, the same pixels stored as numpy arrays (``.npz``), or images in class
folders (``train/<class>/``, ``test/<class>/``, e.g. the JPEG edition of CIFAR-10)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets

from harness.errors import DataNotFoundError
from harness.fingerprint import CIFAR_CLASSES, CIFAR_FOLDERS, IMAGE_SUFFIXES, CifarSource, data_fingerprint, find_cifar
from harness.io import atomic_write_bytes

_TORCHVISION = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}


class ArrayImageDataset(Dataset):
    """Images ``[N, H, W, 3]`` uint8 with integer labels, served as PIL images like torchvision's CIFAR."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: list[str], transform=None) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
            raise ValueError(f"expected images [N,H,W,3] and N labels, got {images.shape} and {labels.shape}")
        self.data = images
        self.targets = [int(v) for v in labels]
        self.classes = classes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.data[index])
        return (self.transform(image) if self.transform else image), self.targets[index]


def locate_cifar(name: str, root: Path, download: bool = False) -> CifarSource:
    """Where CIFAR ``name`` is under ``root`` (:func:`harness.fingerprint.find_cifar`; torchvision's folder where
    it will be downloaded); :class:`DataNotFoundError` with what to put where otherwise. Cheap: no image is opened."""
    root = Path(root)
    source = CifarSource("torchvision", root) if download else find_cifar(root, name)
    if source is None:
        raise DataNotFoundError(
            f"{name} not found under {root}: put torchvision's '{CIFAR_FOLDERS[name]}/' folder there (or a {name}*.npz "
            f"with x_train/y_train/x_test/y_test, or class folders train/<class>/ and test/<class>/ of images, "
            f"{CIFAR_CLASSES[name]} classes), or pass --download on a machine with internet"
        )
    return source


def decoded_cache() -> Path:
    """Where image folders are kept decoded: ``$MIXBENCH_CACHE/decoded`` (default ``~/.cache/mixbench/decoded``),
    not the data root, which may be read-only."""
    return Path(os.environ.get("MIXBENCH_CACHE", Path.home() / ".cache" / "mixbench")) / "decoded"


def decode_class_folders(name: str, folder: Path) -> Path:
    """The ``.npz`` (x_train, y_train, x_test, y_test, label_names) of CIFAR ``name`` in class folders under
    ``folder``, decoded on first use and cached by the folder's fingerprint (file names and sizes), so that
    later runs read one array file."""
    fingerprint = data_fingerprint(name, folder).rsplit(":", 1)[-1]
    cached = decoded_cache() / f"{name}-{fingerprint}.npz"
    if cached.is_file():
        return cached
    arrays = {}
    classes = sorted(d.name for d in (folder / "train").iterdir() if d.is_dir())
    for split in ("train", "test"):
        images, labels = [], []
        for label, cls in enumerate(classes):
            for path in sorted(p for p in (folder / split / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                with Image.open(path) as image:
                    images.append(np.asarray(image.convert("RGB")))
                labels.append(label)
        if not images or any(im.shape != images[0].shape for im in images):
            raise DataNotFoundError(f"{folder / split}: expected images of one size in {len(classes)} class folders")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = np.stack(images), np.asarray(labels, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, label_names=np.asarray(classes))
    return atomic_write_bytes(cached, buffer.getvalue())


def download_cifar(name: str, root: Path) -> None:
    """Fetch CIFAR ``name`` into ``root`` with torchvision (both splits; nothing where its folder is there); a
    one-line error where it cannot be fetched (no internet)."""
    if (Path(root) / CIFAR_FOLDERS[name]).is_dir():
        return
    try:
        for train in (True, False):
            _TORCHVISION[name](str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
        raise DataNotFoundError(f"could not download {name} into {root} ({err}): put torchvision's "
                                f"'{CIFAR_FOLDERS[name]}/' folder there yourself") from err


def load_cifar(name: str, root: Path, train: bool, transform=None, download: bool = False) -> Dataset:
    """CIFAR-10 or -100 split from ``root``.

    Looks for torchvision's folder (``cifar-10-batches-py`` / ``cifar-100-python``), then for arrays in
    ``<name>*.npz`` (keys ``x_train, y_train, x_test, y_test``; CIFAR-100 ``y_*_fine``), then for images in
    class folders (decoded once, cached). Downloads only when ``download`` is set.
    """
    source = locate_cifar(name, root, download)
    if source.kind == "torchvision":
        return _TORCHVISION[name](str(root), train=train, transform=transform, download=download)
    npz_path = source.path if source.kind == "npz" else decode_class_folders(name, source.path)
    split = "train" if train else "test"
    with np.load(npz_path, allow_pickle=False) as arrays:
        label_key = f"y_{split}_fine" if f"y_{split}_fine" in arrays else f"y_{split}"
        labels = arrays[label_key]
        num_classes = CIFAR_CLASSES[name]
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataNotFoundError(f"{npz_path}: {label_key} holds labels {labels.min()}..{labels.max()}, "
                                    f"not {name}'s 0..{num_classes - 1}: is this the right file?")
        classes = [str(c) for c in arrays["label_names"]] if "label_names" in arrays else [str(i) for i in range(int(labels.max()) + 1)]
        if len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        return ArrayImageDataset(arrays[f"x_{split}"], labels, classes, transform)


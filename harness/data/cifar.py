"""CIFAR-10/100: torchvision's data sets, or the same pixels stored as numpy arrays (``.npz``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets

from harness.errors import DataNotFoundError
from harness.fingerprint import find_cifar_npz

_TORCHVISION = {"cifar10": (datasets.CIFAR10, "cifar-10-batches-py"), "cifar100": (datasets.CIFAR100, "cifar-100-python")}


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


def locate_cifar(name: str, root: Path, download: bool = False) -> Path | None:
    """The ``.npz`` holding CIFAR ``name`` under ``root``, or None where torchvision's own folder is there (or
    will be downloaded); :class:`DataNotFoundError` with what to put where otherwise."""
    root = Path(root)
    folder = _TORCHVISION[name][1]
    if (root / folder).is_dir() or download:
        return None
    npz_path = find_cifar_npz(root, name)
    if npz_path is None:
        raise DataNotFoundError(
            f"{name} not found under {root}: put torchvision's '{folder}/' folder there "
            f"(or a {name}*.npz with x_train/y_train/x_test/y_test), or pass --download on a machine with internet"
        )
    return npz_path


def download_cifar(name: str, root: Path) -> None:
    """Fetch CIFAR ``name`` into ``root`` with torchvision (both splits; nothing where its folder is there); a
    one-line error where it cannot be fetched (no internet)."""
    if (Path(root) / _TORCHVISION[name][1]).is_dir():
        return
    try:
        for train in (True, False):
            _TORCHVISION[name][0](str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
        raise DataNotFoundError(f"could not download {name} into {root} ({err}): put torchvision's "
                                f"'{_TORCHVISION[name][1]}/' folder there yourself") from err


def load_cifar(name: str, root: Path, train: bool, transform=None, download: bool = False) -> Dataset:
    """CIFAR-10 or -100 split from ``root``.

    Looks for torchvision's folder (``cifar-10-batches-py`` / ``cifar-100-python``), then for arrays in
    ``<name>*.npz`` (keys ``x_train, y_train, x_test, y_test``; CIFAR-100 ``y_*_fine``). Downloads only
    when ``download`` is set.
    """
    npz_path = locate_cifar(name, root, download)
    if npz_path is None:
        return _TORCHVISION[name][0](str(root), train=train, transform=transform, download=download)
    split = "train" if train else "test"
    with np.load(npz_path, allow_pickle=False) as arrays:
        label_key = f"y_{split}_fine" if f"y_{split}_fine" in arrays else f"y_{split}"
        labels = arrays[label_key]
        num_classes = 100 if name == "cifar100" else 10
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataNotFoundError(f"{npz_path}: {label_key} holds labels {labels.min()}..{labels.max()}, "
                                    f"not {name}'s 0..{num_classes - 1}: is this the right file?")
        classes = [str(c) for c in arrays["label_names"]] if "label_names" in arrays else [str(i) for i in range(int(labels.max()) + 1)]
        if len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        return ArrayImageDataset(arrays[f"x_{split}"], labels, classes, transform)


"""ImageNet (ILSVRC2012) from a folder: ``train/<wnid>/*.JPEG`` and ``val/`` as an ImageFolder tree,
or ``val/`` flat with a ``val_labels.txt`` (``<file> <class index>`` per line, indices in sorted-wnid order)."""
from __future__ import annotations

from pathlib import Path

from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader
from torch.utils.data import Dataset

from harness.errors import DataNotFoundError


class LabelListDataset(Dataset):
    """Images listed with their labels in a text file (``<relative path> <label>`` per line)."""

    def __init__(self, image_dir: Path, labels_file: Path, transform=None) -> None:
        self.samples = []
        for line in Path(labels_file).read_text().splitlines():
            if line.strip():
                name, label = line.rsplit(maxsplit=1)
                self.samples.append((str(Path(image_dir) / name), int(label)))
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        image = default_loader(path)
        return (self.transform(image) if self.transform else image), label


def imagenet_split_dir(root: Path, train: bool) -> Path:
    """``root/train`` or ``root/val``; :class:`DataNotFoundError` with the fix where it is absent."""
    split_dir = Path(root) / ("train" if train else "val")
    if not split_dir.is_dir():
        raise DataNotFoundError(
            f"ImageNet {'train' if train else 'val'} split not found: expected {split_dir}/<wnid>/*.JPEG "
            "(ILSVRC2012, extracted as an ImageFolder tree); set --data-root to the folder holding train/ and val/"
        )
    return split_dir


def load_imagenet(root: Path, train: bool, transform=None) -> Dataset:
    """The ImageNet split under ``root`` (see the module docstring for the accepted layouts)."""
    root = Path(root)
    split_dir = imagenet_split_dir(root, train)
    labels_file = root / "val_labels.txt"
    if not train and labels_file.is_file() and not any(p.is_dir() for p in split_dir.iterdir()):
        return LabelListDataset(split_dir, labels_file, transform)
    return ImageFolder(str(split_dir), transform=transform)

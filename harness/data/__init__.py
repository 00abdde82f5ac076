"""Data sets by name, with the paper's transforms: ``build_datasets(name, root)`` -> train/test splits.

``synthetic`` (the embedded default) is generated on first use; ``cifar10``, ``cifar100`` and
``imagenet`` are read from ``root`` and raise :class:`DataNotFoundError` with a one-line fix when absent.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset

from harness.data.cifar import load_cifar, locate_cifar
from harness.data.imagenet import imagenet_split_dir, load_imagenet
from harness.data.localization import check_cub, imagenet_metadata, load_cub, load_imagenet_boxes, wsol_transforms
from harness.data.synthetic import CLASSES, SyntheticSpec, generate
from harness.data.synthetic_dataset import SyntheticDataset
from harness.data.transforms import IMAGENET_MEAN, IMAGENET_STD, cifar_transforms, imagenet_transforms, with_policy
from harness.errors import HarnessError, UnknownNameError
from harness.localization.protocol import eval_sizes
from harness.models.cifar_net import CIFAR_MEAN, CIFAR_STD
from harness.paths import data_root

DATASETS = ("synthetic", "cifar10", "cifar100", "imagenet", "cub", "imagenet_loc")
NUM_CLASSES = {"synthetic": len(CLASSES), "cifar10": 10, "cifar100": 100, "imagenet": 1000, "cub": 200, "imagenet_loc": 1000}


@dataclass
class DataBundle:
    """A data set's train and test splits with what the model and augmentations need to know."""

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    image_size: int
    mean: tuple[float, ...] = IMAGENET_MEAN  # the normalisation of its transforms (the device pipeline repeats it)
    std: tuple[float, ...] = IMAGENET_STD

    def clean_train(self) -> Dataset | None:
        """The training images (the same subset) through the test transform: what the model memorised of them.
        None for the localization sets, whose test transform also carries boxes."""
        if self.name not in CLEAN_TRAIN:
            return None
        return with_transform(self.train, self.test.transform)


CLEAN_TRAIN = ("synthetic", "cifar10", "cifar100", "imagenet")  # sets whose train and test items are alike


class Selection(Subset):
    """A fixed part of a data set that still answers as the set does: its ``targets``, its ``transform`` and, for
    the localization sets, each image's ``gt_boxes`` (the index mapped), so that evaluations run on it unchanged."""

    @property
    def targets(self) -> list[int]:
        return [self.dataset.targets[i] for i in self.indices]

    @property
    def transform(self):
        return self.dataset.transform

    def gt_boxes(self, index: int) -> np.ndarray:
        return self.dataset.gt_boxes(self.indices[index])


def with_transform(dataset: Dataset, transform) -> Dataset:
    """A shallow copy of ``dataset`` (or of the set under a ``Subset``, same indices) with another transform."""
    if isinstance(dataset, Subset):
        return type(dataset)(with_transform(dataset.dataset, transform), dataset.indices)
    changed = copy.copy(dataset)
    changed.transform = transform
    return changed


def check_data(name: str, root: Path | None = None, download: bool = False) -> None:
    """Raise :class:`DataNotFoundError` (with what to put where) unless data set ``name`` is under ``root``.
    Cheap: it looks for the files the loaders read and opens no image, so every job's data can be checked
    before the first job starts."""
    if name not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    root = data_root(root)
    if name in ("cifar10", "cifar100"):
        locate_cifar(name, root, download)
    elif name in ("imagenet", "imagenet_loc"):
        imagenet_split_dir(root, True)
        if name == "imagenet":
            imagenet_split_dir(root, False)
        else:
            imagenet_metadata(root)
    elif name == "cub":
        check_cub(root)


def build_datasets(name: str, root: Path | None = None, *, download: bool = False, image_size: int | None = None,
                   policy: str | None = None, eval_transform: str = "paper", train_subset: int | None = None,
                   test_subset: int | None = None) -> DataBundle:
    """The train/test splits of data set ``name`` with the paper's transforms for its family, plus an
    optional train-time data policy (``autoaugment``). ``eval_transform`` names the localization sets' test
    transform (``paper`` or ``wsolevaluation``, see :mod:`harness.data.localization`). ``train_subset`` and
    ``test_subset`` keep a fixed class-balanced part of each split (:func:`balanced_subset`)."""
    bundle = _full_datasets(name, root, download=download, image_size=image_size, policy=policy,
                            eval_transform=eval_transform)
    if train_subset:
        bundle.train = balanced_subset(bundle.train, train_subset)
    if test_subset:
        bundle.test = balanced_subset(bundle.test, test_subset)
    return bundle


def _full_datasets(name: str, root: Path | None, *, download: bool, image_size: int | None, policy: str | None,
                   eval_transform: str) -> DataBundle:
    """:func:`build_datasets`'s splits, whole."""
    if name not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    root = data_root(root)
    mean, std = IMAGENET_MEAN, IMAGENET_STD  # every family's but CIFAR's
    if name == "synthetic":
        spec = SyntheticSpec(image_size=image_size or SyntheticSpec.image_size)
        folder = generate(root, spec)
        train_tf, test_tf = cifar_transforms(spec.image_size, IMAGENET_MEAN, IMAGENET_STD)
        train_tf = with_policy(train_tf, policy)
        train, test = SyntheticDataset(folder, "train", train_tf), SyntheticDataset(folder, "val", test_tf)
        size = spec.image_size
    elif name in ("cifar10", "cifar100"):
        size, mean, std = 32, CIFAR_MEAN, CIFAR_STD
        train_tf, test_tf = cifar_transforms(size)
        train_tf = with_policy(train_tf, policy)
        train = load_cifar(name, root, True, train_tf, download)
        test = load_cifar(name, root, False, test_tf, download)
    elif name == "imagenet":
        size = image_size or 224
        train_tf, test_tf = imagenet_transforms(size, resize=round(size * 256 / 224))
        train_tf = with_policy(train_tf, policy)
        train, test = load_imagenet(root, True, train_tf), load_imagenet(root, False, test_tf)
    else:  # localization sets: the paper's fine-tuning pipeline, test images with boxes
        size = 224
        train_tf, test_tf = wsol_transforms()[0], wsol_transforms(*eval_sizes(eval_transform))[1]
        if name == "cub":
            train, test = load_cub(root, True, train_tf), load_cub(root, False, test_tf, eval_transform)
        else:
            train = load_imagenet(root, True, train_tf)
            test = load_imagenet_boxes(root, test_tf, eval_transform=eval_transform)
    return DataBundle(name, train, test, NUM_CLASSES[name], size, mean, std)


def balanced_subset(dataset: Dataset, size: int, seed: int = 0) -> Dataset:
    """A fixed, class-balanced subset of ``size`` images (``size // classes`` of each class, drawn with ``seed``,
    the same for every run so that methods and seeds see the same images; one image of each of ``size`` classes
    drawn the same way where ``size`` is below the number of classes); the whole set if it is not larger. The
    dataset must expose ``targets``."""
    targets = np.asarray(dataset.targets)
    if size >= len(targets):
        return dataset
    classes = np.unique(targets)
    per_class = max(1, size // len(classes))
    rng = np.random.default_rng(seed)
    short = {int(c): int((targets == c).sum()) for c in classes if (targets == c).sum() < per_class}
    if short:
        raise HarnessError(f"a class-balanced subset of {size} images needs {per_class} of each class; "
                           f"these classes have fewer: {', '.join(f'{c} ({n})' for c, n in sorted(short.items()))}")
    chosen = np.concatenate([rng.permutation(np.flatnonzero(targets == c))[:per_class] for c in classes])
    if size < len(classes):  # one image of each of `size` classes
        chosen = rng.choice(chosen, size, replace=False)
    return Selection(dataset, np.sort(chosen).tolist())

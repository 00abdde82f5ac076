"""Data sets with ground-truth boxes for weakly supervised localization (boxes only for evaluation).

* CUB-200-2011 in its own layout: ``images.txt``, ``image_class_labels.txt`` (1-based),
  ``train_test_split.txt``, ``bounding_boxes.txt`` (x y w h), ``images/``.
* ImageNet validation boxes in the wsolevaluation metadata format: ``metadata/image_ids.txt``,
  ``class_labels.txt``, ``image_sizes.txt``, ``localization.txt`` (x1,y1,x2,y2 per box), paths relative
  to the data root.
Boxes come back as ``[n, 4]`` (x1, y1, x2, y2) in the coordinates of the transformed test image: the
paper's evaluation resizes to 256x256 and centre-crops 224.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from harness.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from harness.errors import DataNotFoundError

RESIZE, CROP = 256, 224


def wsol_transforms(resize: int = RESIZE, crop: int = CROP) -> tuple[v2.Compose, v2.Compose]:
    """The paper's fine-tuning pipeline: Resize 256x256, then RandomCrop 224 + flip (train) or CenterCrop 224 (test)."""
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    train = v2.Compose([v2.Resize((resize, resize)), v2.RandomCrop(crop), v2.RandomHorizontalFlip(), *tail])
    test = v2.Compose([v2.Resize((resize, resize)), v2.CenterCrop(crop), *tail])
    return train, test


def boxes_after_resize_crop(boxes: np.ndarray, width: int, height: int, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """Original-image boxes mapped through Resize((resize, resize)) + CenterCrop(crop), clipped."""
    scale = np.array([resize / width, resize / height, resize / width, resize / height])
    offset = (resize - crop) / 2
    return np.clip(np.asarray(boxes, dtype=np.float64) * scale - offset, 0, crop)


class BoxedImages(Dataset):
    """Images with labels and ground-truth boxes (original coordinates), served through ``transform``."""

    def __init__(self, paths: list[Path], labels: list[int], boxes: list[np.ndarray], sizes: list[tuple[int, int]],
                 transform=None, map_boxes: bool = True) -> None:
        self.paths, self.targets, self.original_boxes, self.sizes = paths, labels, boxes, sizes
        self.transform = transform
        self.map_boxes = map_boxes

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = Image.open(self.paths[index]).convert("RGB")
        return (self.transform(image) if self.transform else image), self.targets[index]

    def gt_boxes(self, index: int) -> np.ndarray:
        """Ground-truth boxes of image ``index`` in the transformed test image's coordinates."""
        boxes = self.original_boxes[index]
        return boxes_after_resize_crop(boxes, *self.sizes[index]) if self.map_boxes else np.asarray(boxes, dtype=np.float64)


def _read_table(path: Path, root: Path) -> list[list[str]]:
    if not path.is_file():
        raise DataNotFoundError(f"{path.name} not found under {root}: expected CUB-200-2011's layout "
                                "(images.txt, image_class_labels.txt, train_test_split.txt, bounding_boxes.txt, images/)")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def load_cub(root: Path, train: bool, transform=None) -> BoxedImages:
    """The CUB-200-2011 train or test split from ``root`` (the folder holding images.txt)."""
    root = Path(root)
    images = {i: name for i, name in _read_table(root / "images.txt", root)}
    labels = {i: int(c) - 1 for i, c in _read_table(root / "image_class_labels.txt", root)}
    split = {i: flag == "1" for i, flag in _read_table(root / "train_test_split.txt", root)}
    boxes = defaultdict(list)
    for i, x, y, w, h in _read_table(root / "bounding_boxes.txt", root):
        x, y, w, h = map(float, (x, y, w, h))
        boxes[i].append([x, y, x + w, y + h])
    ids = [i for i in images if split[i] == train]
    paths = [root / "images" / images[i] for i in ids]
    sizes = [Image.open(p).size for p in paths]
    return BoxedImages(paths, [labels[i] for i in ids], [np.array(boxes[i]) for i in ids], sizes, transform)


def load_imagenet_boxes(root: Path, transform=None, metadata: str = "metadata") -> BoxedImages:
    """ImageNet validation images with their boxes, from wsolevaluation metadata under ``root/metadata``."""
    root = Path(root)
    meta = root / metadata
    if not (meta / "localization.txt").is_file():
        raise DataNotFoundError(f"ImageNet boxes not found: expected {meta}/image_ids.txt, class_labels.txt, "
                                "image_sizes.txt and localization.txt (wsolevaluation's format)")
    ids = [line.strip() for line in (meta / "image_ids.txt").read_text().splitlines() if line.strip()]
    labels = dict(line.rsplit(",", 1) for line in (meta / "class_labels.txt").read_text().splitlines() if line.strip())
    sizes = {}
    for line in (meta / "image_sizes.txt").read_text().splitlines():
        if line.strip():
            name, w, h = line.rsplit(",", 2)
            sizes[name] = (int(w), int(h))
    boxes = defaultdict(list)
    for line in (meta / "localization.txt").read_text().splitlines():
        if line.strip():
            name, *coords = line.split(",")
            boxes[name].append([float(v) for v in coords])
    return BoxedImages([root / i for i in ids], [int(labels[i]) for i in ids], [np.array(boxes[i]) for i in ids],
                       [sizes[i] for i in ids], transform)

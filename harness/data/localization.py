"""Data sets with ground-truth boxes for weakly supervised localization (boxes only for evaluation).

* CUB-200-2011 in its own layout: ``images.txt``, ``image_class_labels.txt`` (1-based),
  ``train_test_split.txt``, ``bounding_boxes.txt`` (x y w h), ``images/``.
* ImageNet validation boxes in the wsolevaluation metadata format: ``metadata/image_ids.txt``,
  ``class_labels.txt``, ``image_sizes.txt``, ``localization.txt`` (x1,y1,x2,y2 per box), paths relative
  to the data root.
Boxes come back as ``[n, 4]`` integer (x0, y0, x1, y1) in the coordinates of the transformed test image,
mapped as wsolevaluation maps them (``int(x * new / old)``, corners inclusive). Two evaluation transforms
(``harness.localization.protocol.EVAL_TRANSFORMS``): ``paper`` (the CutMix paper's: resize 256x256, centre crop 224) and
``wsolevaluation`` (Choe et al.'s: resize 224x224).
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
from harness.localization.protocol import CROP, RESIZE, eval_sizes



def wsol_transforms(resize: int = RESIZE, crop: int = CROP) -> tuple[v2.Compose, v2.Compose]:
    """The paper's fine-tuning pipeline: Resize 256x256, then RandomCrop 224 + flip (train) or CenterCrop 224 (test)."""
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    train = v2.Compose([v2.Resize((resize, resize)), v2.RandomCrop(crop), v2.RandomHorizontalFlip(), *tail])
    test = v2.Compose([v2.Resize((resize, resize)), v2.CenterCrop(crop), *tail])
    return train, test


def boxes_after_resize_crop(boxes: np.ndarray, width: int, height: int, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """Original-image boxes mapped through Resize((resize, resize)) + CenterCrop(crop): each coordinate
    ``int(v * resize / size)`` as wsolevaluation's ``resize_bbox``. With a crop, shifted by it and clipped to
    it; without one (wsolevaluation's own transform) left as ``resize_bbox`` leaves it, unclipped, so an edge
    on the image border maps to ``resize`` as there."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.array([width, height, width, height], dtype=np.float64)
    resized = np.trunc(boxes * resize / sizes).astype(np.int64)
    if crop == resize:
        return resized
    return np.clip(resized - (resize - crop) // 2, 0, crop - 1)


class BoxedImages(Dataset):
    """Images with labels and ground-truth boxes (original coordinates), served through ``transform``."""

    def __init__(self, paths: list[Path], labels: list[int], boxes: list[np.ndarray], sizes: list[tuple[int, int]],
                 transform=None, eval_transform: str = "paper") -> None:
        self.paths, self.targets, self.original_boxes, self.sizes = paths, labels, boxes, sizes
        self.transform = transform
        self.resize, self.crop = eval_sizes(eval_transform)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = Image.open(self.paths[index]).convert("RGB")
        return (self.transform(image) if self.transform else image), self.targets[index]

    def gt_boxes(self, index: int) -> np.ndarray:
        """Ground-truth boxes of image ``index`` in the transformed test image's coordinates."""
        return boxes_after_resize_crop(self.original_boxes[index], *self.sizes[index], self.resize, self.crop)


CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt", "images")


def check_cub(root: Path) -> None:
    """:class:`DataNotFoundError` naming the first of CUB-200-2011's files missing under ``root``."""
    for name in CUB_FILES:
        if not (Path(root) / name).exists():
            raise DataNotFoundError(f"{name} not found under {root}: expected CUB-200-2011's layout "
                                    f"({', '.join(CUB_FILES)}/); set --data-root to the folder holding them")


def imagenet_metadata(root: Path, metadata: str = "metadata") -> Path:
    """The wsolevaluation metadata folder under ``root``; :class:`DataNotFoundError` where it is incomplete."""
    meta = Path(root) / metadata
    for name in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"):
        if not (meta / name).is_file():
            raise DataNotFoundError(f"ImageNet boxes not found: expected {meta}/image_ids.txt, class_labels.txt, "
                                    "image_sizes.txt and localization.txt (wsolevaluation's format)")
    return meta


def _read_table(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def load_cub(root: Path, train: bool, transform=None, eval_transform: str = "paper") -> BoxedImages:
    """The CUB-200-2011 train or test split from ``root`` (the folder holding images.txt)."""
    root = Path(root)
    check_cub(root)
    images = {i: name for i, name in _read_table(root / "images.txt")}
    labels = {i: int(c) - 1 for i, c in _read_table(root / "image_class_labels.txt")}
    split = {i: flag == "1" for i, flag in _read_table(root / "train_test_split.txt")}
    boxes = defaultdict(list)
    for i, x, y, w, h in _read_table(root / "bounding_boxes.txt"):
        x, y, w, h = map(float, (x, y, w, h))
        boxes[i].append([x, y, x + w, y + h])
    ids = [i for i in images if split[i] == train]
    paths = [root / "images" / images[i] for i in ids]
    sizes = [Image.open(p).size for p in paths]
    return BoxedImages(paths, [labels[i] for i in ids], [np.array(boxes[i]) for i in ids], sizes, transform, eval_transform)


def load_imagenet_boxes(root: Path, transform=None, metadata: str = "metadata", eval_transform: str = "paper") -> BoxedImages:
    """ImageNet validation images with their boxes, from wsolevaluation metadata under ``root/metadata``."""
    root = Path(root)
    meta = imagenet_metadata(root, metadata)
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
                       [sizes[i] for i in ids], transform, eval_transform)

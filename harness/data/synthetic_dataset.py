"""The generated data set read back from disk: an ImageFolder with per-image boxes and captions."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import ImageFolder

from harness.data.synthetic import CLASSES


class SyntheticDataset(ImageFolder):
    """``<root>/<split>`` as an ImageFolder, plus ``boxes`` ([N, 4] x1 y1 x2 y2) and ``captions`` per sample."""

    def __init__(self, root: Path, split: str, transform=None) -> None:
        super().__init__(str(Path(root) / split), transform=transform)
        if tuple(self.classes) != CLASSES:
            raise ValueError(f"{root}/{split}: class folders {self.classes} differ from {CLASSES}")
        annotations = {}
        with open(Path(root) / "annotations.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                annotations[row["path"]] = row
        boxes, self.captions = [], []
        for path, _ in self.samples:
            row = annotations[Path(path).relative_to(root).as_posix()]
            boxes.append([int(row[k]) for k in ("x1", "y1", "x2", "y2")])
            self.captions.append(row["caption"])
        self.boxes = torch.tensor(boxes, dtype=torch.int64)

    def gt_boxes(self, index: int) -> np.ndarray:
        """The object's box ``[1, 4]`` as the WSOL metrics take it: corner-inclusive (x0, y0, x1, y1), i.e. the
        annotation's one-past-the-end x2/y2 minus one (test images are not cropped)."""
        return (self.boxes[index : index + 1] - torch.tensor([0, 0, 1, 1])).numpy()

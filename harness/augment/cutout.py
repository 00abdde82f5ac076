"""Cutout (DeVries & Taylor, 2017): zero a square hole of side ``size`` in each image; labels unchanged.

The hole's centre is uniform over the pixels and the hole is clipped to the image; applied to the
normalized batch, so the hole is zero after normalization (as the original code). ``size``: 16 on
CIFAR, 112 on ImageNet.
"""
from __future__ import annotations

import torch

from harness.augment.base import Augmentation
from harness.augment.registry import register
from harness.augment.sampling import box_masks, sample_boxes


@register("cutout")
class Cutout(Augmentation):
    def __init__(self, num_classes: int, *, size: int = 16, **common) -> None:
        super().__init__(num_classes, **common)
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = images.shape
        side = torch.full((batch,), self.size)  # spans centre -/+ size // 2, as the original code
        boxes = sample_boxes(height, width, side, side, self.generator) * self.draw_applied(batch).unsqueeze(1)
        return images.masked_fill_(box_masks(boxes, height, width, images.device), 0.0), targets

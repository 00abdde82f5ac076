"""The baseline: no augmentation beyond the data set's transforms; targets are (smoothed) one-hot."""
from __future__ import annotations

import torch

from harness.augment.base import Augmentation
from harness.augment.registry import register


@register("none")
class NoAugmentation(Augmentation):
    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return images, targets

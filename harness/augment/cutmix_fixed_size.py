"""Fixed-size CutMix (Table 8): always a ``size x size`` box (16 on 32x32 CIFAR: lambda = 0.75),
placed uniformly so that it lies wholly inside the image."""
from __future__ import annotations

import torch

from harness.augment.cutmix import CutMix
from harness.augment.registry import register


@register("cutmix_fixed_size")
class FixedSizeCutMix(CutMix):
    def __init__(self, num_classes: int, *, size: int = 16, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if size < 2 or size % 2:
            raise ValueError(f"size must be an even number >= 2, got {size}")
        self.size = size

    def draw_sizes(self, n, height, width):
        if self.size > min(height, width):
            raise ValueError(f"a {self.size}-pixel box does not fit a {height}x{width} image")
        side = torch.full((n,), self.size)
        return side, side

    def draw_centres(self, n, height, width, images, perm):
        half = self.size // 2
        return (torch.randint(half, height - half + 1, (n,), generator=self.generator),
                torch.randint(half, width - half + 1, (n,), generator=self.generator))

"""Center Gaussian CutMix (Table 8): the box centre is drawn from a Gaussian at the image centre.

The paper gives no standard deviation; ``sigma`` is a fraction of the side (default 0.25), and centres
are clipped to the image.
"""
from __future__ import annotations

import torch

from harness.augment.cutmix import CutMix
from harness.augment.registry import register


@register("cutmix_center_gaussian")
class CenterGaussianCutMix(CutMix):
    def __init__(self, num_classes: int, *, sigma: float = 0.25, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = sigma

    def draw_centres(self, n, height, width, images, perm):
        noise = torch.randn(2, n, generator=self.generator, dtype=torch.float64)
        cy = (height / 2 + noise[0] * self.sigma * height).round().long().clamp(0, height - 1)
        cx = (width / 2 + noise[1] * self.sigma * width).round().long().clamp(0, width - 1)
        return cy, cx

"""ResizeMix (Qin et al., 2020; not in the CutMix paper): paste a resized copy of the whole partner image.

tau ~ U(scale_min, scale_max) (the paper's 0.1 and 0.8); the partner batch is resized to
(tau*H, tau*W) and pasted at a uniformly drawn position that fits; the partner's target weight is the
pasted area fraction. One draw per batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.augment.base import Augmentation, mix_targets
from harness.augment.registry import register


@register("resizemix")
class ResizeMix(Augmentation):
    def __init__(self, num_classes: int, *, scale_min: float = 0.1, scale_max: float = 0.8, **common) -> None:
        super().__init__(num_classes, **common)
        if not 0 < scale_min <= scale_max < 1:
            raise ValueError(f"need 0 < scale_min <= scale_max < 1, got {scale_min}, {scale_max}")
        self.scale_min, self.scale_max = scale_min, scale_max

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = images.shape
        if not self.draw_applied(1).item():
            return images, targets
        tau = self.scale_min + (self.scale_max - self.scale_min) * torch.rand(1, generator=self.generator, dtype=torch.float64).item()
        h, w = max(1, int(height * tau)), max(1, int(width * tau))
        y = int(torch.randint(0, height - h + 1, (1,), generator=self.generator))
        x = int(torch.randint(0, width - w + 1, (1,), generator=self.generator))
        perm = self.draw_permutation(batch, images.device)
        pasted = F.interpolate(images[perm], size=(h, w), mode="bilinear", align_corners=False)
        images[:, :, y:y + h, x:x + w] = pasted
        return images, mix_targets(targets, perm, 1.0 - h * w / (height * width))

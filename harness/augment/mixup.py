"""Mixup (Zhang et al., ICLR 2018): a convex combination of two images and of their targets.

lambda ~ Beta(alpha, alpha), one per batch (as the paper's comparison) or one per sample.
"""
from __future__ import annotations

import torch

from harness.augment.base import BetaMixing, mix_targets
from harness.augment.registry import register
from harness.augment.sampling import sample_beta


@register("mixup")
class Mixup(BetaMixing):
    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = images.shape[0]
        if self.mode == "batch":
            if not self.draw_applied(1).item():
                return images, targets
            lam = sample_beta(self.alpha, 1, self.generator).item()
            perm = self.draw_permutation(batch, images.device)
            partner = images[perm]
            images = images.mul_(lam) if self.inplace else images * lam
            return images.add_(partner, alpha=1.0 - lam), mix_targets(targets, perm, lam)
        lam = torch.where(self.draw_applied(batch), sample_beta(self.alpha, batch, self.generator), 1.0)
        perm = self.draw_permutation(batch, images.device)
        weight = lam.to(images.device, images.dtype, non_blocking=True).view(-1, 1, 1, 1)
        return torch.lerp(images[perm], images, weight), mix_targets(targets, perm, lam)

"""Manifold Mixup (Verma et al., ICML 2019): Mixup of the hidden states at a layer drawn per batch
(default among the input, the stem and the first stage, as the original paper's k in {0, 1, 2})."""
from __future__ import annotations

import torch

from harness.augment.registry import register
from harness.augment.sampling import sample_beta
from harness.augment.stages import StageMixing


@register("manifold_mixup")
class ManifoldMixup(StageMixing):
    def plan(self, perm, height, width):
        lam = sample_beta(self.alpha, 1, self.generator).item()
        return (perm, lam), lam

    def mix(self, tensor: torch.Tensor, plan) -> torch.Tensor:
        perm, lam = plan
        return torch.lerp(tensor[perm], tensor, lam)

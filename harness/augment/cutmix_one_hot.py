"""One-hot CutMix (Table 8): the target is the one-hot label of whichever image covers more pixels."""
from __future__ import annotations

import torch

from harness.augment.cutmix import CutMix
from harness.augment.registry import register


@register("cutmix_one_hot")
class OneHotCutMix(CutMix):
    def mix_labels(self, targets, perm, kept):
        kept = torch.as_tensor(kept, dtype=torch.float64).reshape(-1).to(targets.device)
        own = (kept >= 0.5).unsqueeze(1)
        return torch.where(own, targets, targets[perm])

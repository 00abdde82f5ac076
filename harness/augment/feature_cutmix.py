"""Feature CutMix (CutMix paper, Table 3 and Figure 3): CutMix on the feature maps of a layer drawn per
batch (default among layers 0-4). The box is drawn at the feature map's resolution and lambda is the
exact fraction of feature positions kept."""
from __future__ import annotations

import torch

from harness.augment.registry import register
from harness.augment.sampling import box_masks, sample_beta, sample_boxes
from harness.augment.stages import StageMixing


@register("feature_cutmix")
class FeatureCutMix(StageMixing):
    def __init__(self, num_classes: int, *, layers=(0, 1, 2, 3, 4), **kwargs) -> None:
        super().__init__(num_classes, layers=layers, **kwargs)

    def plan(self, perm, height, width):
        cut_ratio = torch.sqrt(1.0 - sample_beta(self.alpha, 1, self.generator))
        box = sample_boxes(height, width, (height * cut_ratio).long(), (width * cut_ratio).long(), self.generator)
        y1, y2, x1, x2 = box[0].tolist()
        return (perm, box, height, width), 1.0 - (y2 - y1) * (x2 - x1) / (height * width)

    def mix(self, tensor: torch.Tensor, plan) -> torch.Tensor:
        perm, box, height, width = plan
        if tensor.shape[-2:] != (height, width):
            raise RuntimeError(f"feature map is {tuple(tensor.shape[-2:])}, expected {(height, width)}")
        return torch.where(box_masks(box, height, width, tensor.device), tensor[perm], tensor)

"""Complete-label CutMix (Table 8): targets 0.5 / 0.5 whatever the box's area."""
from __future__ import annotations

from harness.augment.base import mix_targets
from harness.augment.cutmix import CutMix
from harness.augment.registry import register


@register("cutmix_complete_label")
class CompleteLabelCutMix(CutMix):
    def mix_labels(self, targets, perm, kept):
        return mix_targets(targets, perm, 0.5)

"""Scheduled CutMix (Table 8): the probability of applying CutMix rises linearly from 0 to ``prob``
over training (the trainer reports progress before every step)."""
from __future__ import annotations

from harness.augment.cutmix import CutMix
from harness.augment.registry import register


@register("cutmix_scheduled")
class ScheduledCutMix(CutMix):
    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        self.final_prob = self.prob
        self.prob = 0.0

    def set_progress(self, fraction: float) -> None:
        self.prob = self.final_prob * min(max(fraction, 0.0), 1.0)

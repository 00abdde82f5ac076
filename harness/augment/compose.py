"""Combinations of registered methods, declared in a spec as ``"cutout+mixup"`` (not hand-written classes).

The components run in order on the same batch, each on the targets the previous one produced; they
share one random generator (so the base class's state_dict covers them all). Component parameters go under the component's name:
    build("cutout+mixup", num_classes=100, cutout={"size": 16}, mixup={"alpha": 1.0}, label_smoothing=0.1)
"""
from __future__ import annotations

from typing import Any

import torch

from harness.augment.base import Augmentation

COMMON = ("prob", "label_smoothing", "seed", "generator", "inplace")


class Compose(Augmentation):
    def __init__(self, num_classes: int, components: list[tuple[type, dict[str, Any]]], **common) -> None:
        super().__init__(num_classes, **common)
        self.components = [cls(num_classes, generator=self.generator, inplace=True, **params) for cls, params in components]

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.draw_applied(1).item():
            return images, targets
        for component in self.components:
            images, targets = component.apply(images, targets)
        return images, targets

    def attach(self, model: torch.nn.Module) -> None:
        for component in self.components:
            component.attach(model)

    def set_progress(self, fraction: float) -> None:
        for component in self.components:
            component.set_progress(fraction)

    def __repr__(self) -> str:
        return " + ".join(repr(c) for c in self.components)

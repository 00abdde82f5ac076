"""Feature-level mixing at a model's named stages, for any timm-style model (no copy of its forward).

Layers are indexed as in the paper: 0 = the input, 1 = after the stem, 2, 3, 4 = after the residual
stages (from ``model.feature_info``, which timm's ResNets and this project's CIFAR models provide).
Each training batch draws one layer; for layer k > 0 a forward hook on that stage replaces its output by
the mixed one during the next forward pass only, so evaluation and other stages are untouched.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from harness.augment.base import BetaMixing, mix_targets
from harness.errors import HarnessError


def stage_modules(model: nn.Module) -> list[tuple[nn.Module, int]]:
    """(module, reduction) of layers 1, 2, ... (stem, then each residual stage)."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise HarnessError(f"{type(model).__name__} has no feature_info: feature-level mixing needs named stages")
    entries = info if isinstance(info, list) else info.get_dicts()
    modules = dict(model.named_modules())
    return [(modules[entry["module"]], entry["reduction"]) for entry in entries]


class StageMixing(BetaMixing):
    """Base of the feature-level methods: draws the layer, arms a one-shot hook, mixes the targets."""

    def __init__(self, num_classes: int, *, layers: tuple[int, ...] | list[int] = (0, 1, 2), **kwargs) -> None:
        super().__init__(num_classes, **kwargs)
        if self.mode != "batch":
            raise ValueError("feature-level mixing draws one layer and lambda per batch: mode must be 'batch'")
        if not layers or min(layers) < 0:
            raise ValueError(f"layers must be a non-empty list of indices >= 0, got {layers}")
        self.layers = list(layers)
        self.stages: list[tuple[nn.Module, int]] = []
        self.pending: tuple[int, Any] | None = None

    def attach(self, model: nn.Module) -> None:
        self.stages = stage_modules(model)
        if max(self.layers) > len(self.stages):
            raise HarnessError(f"layer {max(self.layers)} requested; {type(model).__name__} has layers 0..{len(self.stages)}")
        for index, (module, _) in enumerate(self.stages, start=1):
            module.register_forward_hook(self._hook(index))

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
            if self.pending is None or self.pending[0] != index:
                return None
            _, plan = self.pending
            self.pending = None
            return self.mix(output, plan)

        return hook

    def feature_size(self, layer: int, height: int, width: int) -> tuple[int, int]:
        """Spatial size of layer ``layer``'s output for an input of ``height x width``."""
        if layer == 0:
            return height, width
        reduction = self.stages[layer - 1][1]
        return math.ceil(height / reduction), math.ceil(width / reduction)

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.draw_applied(1).item():
            return images, targets
        if not self.stages and max(self.layers) > 0:
            raise HarnessError(f"{self.name}: call attach(model) before use (the trainer does)")
        layer = self.layers[int(torch.randint(len(self.layers), (1,), generator=self.generator))]
        perm = self.draw_permutation(images.shape[0], images.device)
        plan, kept = self.plan(perm, *self.feature_size(layer, images.shape[-2], images.shape[-1]))
        if layer == 0:
            images = self.mix(images, plan)
        else:
            self.pending = (layer, plan)
        return images, self.mix_labels(targets, perm, kept)

    def plan(self, perm: torch.Tensor, height: int, width: int) -> tuple[Any, float]:
        """The random mixing parameters for a ``height x width`` tensor and the kept fraction."""
        raise NotImplementedError

    def mix(self, tensor: torch.Tensor, plan: Any) -> torch.Tensor:
        """Mix a batch tensor (input or features) by the plan, out of place (autograd-safe)."""
        raise NotImplementedError

    def mix_labels(self, targets: torch.Tensor, perm: torch.Tensor, kept: float) -> torch.Tensor:
        return mix_targets(targets, perm, kept)

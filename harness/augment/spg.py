"""Self-produced Guidance (Zhang et al., ECCV 2018): a classification head (SPG-A) and three mask branches that
learn where the object is from the network's own confident regions. The batch is not changed.

* SPG-A (replaces the network's classifier): dropout, 3x3 conv to ``channels``, dropout, 3x3 conv, dropout, 1x1
  conv to class maps; their spatial mean is the prediction, the map of a class its localization map.
* B1 (from Mixed_5d's output; wsolevaluation reads it after its extra pool) and B2 (from Mixed_6d): a 3x3 conv to
  ``channels // 2`` each, then one shared block (3x3 conv, 1x1 conv to one map); C (from SPG-A's second conv,
  after its dropout): 3x3 conv to ``channels // 2``, 1x1 conv to one map.
* Three-level masks at the input's size: 1 where a map is at least the high threshold (or, where fewer than 30
  pixels are, at least 0.7 of its maximum), 0 below the low threshold, ignored between. B2 learns the mask of
  A's min-max normalised map of the label, B1 that of sigmoid(B2), C that of the mean of sigmoid(B1) and
  sigmoid(B2); each by binary cross-entropy over the pixels not ignored. The loss is CE(A) + the three.

Thresholds ``(high, low)``: B2 (0.7, 0.05), B1 (0.5, 0.05), C (0.7, 0.1) as the original code sets them
(wsolevaluation: B2's low threshold 0.01). The masks take the input's size (the original code fixes 224 px).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.augment.network_method import NetworkMethod, with_loss
from harness.augment.registry import register
from harness.localization.cam import min_max

IGNORED = -1.0  # a mask value: the pixel is left out of the loss
MIN_CONFIDENT = 30  # fewer pixels than this above the high threshold: the threshold becomes 0.7 of the maximum


def conv_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]


class SPGHeads(nn.Module):
    def __init__(self, in_channels: int, taps: tuple[int, int], channels: int, num_classes: int) -> None:
        super().__init__()
        side = max(1, channels // 2)
        self.a_hidden = nn.Sequential(nn.Dropout(0.5), *conv_relu(in_channels, channels), nn.Dropout(0.5),
                                      *conv_relu(channels, channels), nn.Dropout(0.5))  # C reads it too
        self.a_classes = nn.Conv2d(channels, num_classes, 1)
        self.b1, self.b2 = nn.Sequential(*conv_relu(taps[0], side)), nn.Sequential(*conv_relu(taps[1], side))
        self.b_shared = nn.Sequential(*conv_relu(side, side), nn.Conv2d(side, 1, 1))
        self.c = nn.Sequential(*conv_relu(channels, side), nn.Conv2d(side, 1, 1))


def three_level(maps: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """Masks ``[B, h, w]`` of maps in [0, 1]: 1 at or above ``high`` (0.7 of the map's maximum where fewer than
    :data:`MIN_CONFIDENT` pixels are), 0 below ``low``, :data:`IGNORED` between."""
    flat = maps.flatten(1)
    few = (flat >= high).sum(dim=1) < MIN_CONFIDENT
    highs = torch.where(few, 0.7 * flat.max(dim=1).values, torch.full_like(flat[:, 0], high)).view(-1, 1, 1)
    masks = torch.full_like(maps, IGNORED)
    masks[maps >= highs] = 1.0
    masks[maps < low] = 0.0
    return masks


def masked_bce(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of one-channel ``logits`` ``[B, h, w]`` against ``masks``, over the pixels not ignored."""
    kept = masks != IGNORED
    if not kept.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[kept], masks[kept])


@register("spg")
class SPG(NetworkMethod):
    def __init__(self, num_classes: int, *, channels: int = 1024, taps=("Mixed_5d", "Mixed_6d"),
                 thresholds=((0.7, 0.05), (0.5, 0.05), (0.7, 0.1)), **common) -> None:
        super().__init__(num_classes, **common)
        thresholds = tuple(tuple(float(t) for t in pair) for pair in thresholds)
        if len(thresholds) != 3 or any(not 0.0 <= low <= high <= 1.0 for high, low in thresholds) or channels < 2:
            raise ValueError(f"thresholds must be three (high, low) pairs in [0, 1] with low <= high and channels "
                             f">= 2, got {thresholds}, {channels}")
        self.channels, self.taps, self.thresholds = channels, tuple(taps), thresholds
        self.heads: SPGHeads | None = None
        self.tapped: dict[str, torch.Tensor] = {}
        self.input_size: tuple[int, int] = (0, 0)

    def attach(self, model: nn.Module) -> None:
        widths = {info["module"]: info["num_chs"] for info in getattr(model, "feature_info", [])}
        missing = [name for name in self.taps if name not in widths]
        if missing:
            raise ValueError(f"spg: {type(model).__name__} names no feature map {', '.join(missing)} in its "
                             "feature_info (SPG runs on inception_v3_spg; give taps=[two module names])")
        modules = dict(model.named_modules())
        for name in self.taps:
            modules[name].register_forward_hook(lambda module, inputs, output, name=name: self._tap(name, output))
        model.register_forward_pre_hook(lambda module, inputs: setattr(self, "input_size", tuple(inputs[0].shape[-2:])))
        self.heads = SPGHeads(model.num_features, tuple(widths[name] for name in self.taps), self.channels,
                              self.num_classes)
        setattr(model, model.pretrained_cfg.get("classifier", "fc"), self.heads)  # get_classifier() gives the heads
        model.forward_head = self.forward_head

    def _tap(self, name: str, output: torch.Tensor) -> None:
        if self.heads is not None and self.heads.training:
            self.tapped[name] = output

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return features.mean(dim=(2, 3))
        hidden = self.heads.a_hidden(features)
        class_maps = self.heads.a_classes(hidden)
        logits = class_maps.mean(dim=(2, 3))
        if not self.heads.training:
            return logits
        return with_loss(logits, self.mask_losses(class_maps, hidden))

    def up(self, maps: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` maps bilinearly resized to the input's size."""
        return F.interpolate(maps.float(), size=self.input_size, mode="bilinear", align_corners=False)

    def mask_losses(self, class_maps: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """B2's, B1's and C's losses against their masks (built without gradient)."""
        labels = self.labels()
        b1 = self.up(self.heads.b_shared(self.heads.b1(self.tapped.pop(self.taps[0])))).squeeze(1)
        b2 = self.up(self.heads.b_shared(self.heads.b2(self.tapped.pop(self.taps[1])))).squeeze(1)
        c = self.up(self.heads.c(hidden)).squeeze(1)
        (high_b2, low_b2), (high_b1, low_b1), (high_c, low_c) = self.thresholds
        with torch.no_grad():
            attention = min_max(self.up(class_maps[torch.arange(len(labels)), labels].unsqueeze(1)).squeeze(1))
            mask_b2 = three_level(attention, high_b2, low_b2)
            mask_b1 = three_level(torch.sigmoid(b2), high_b1, low_b1)
            mask_c = three_level((torch.sigmoid(b1) + torch.sigmoid(b2)) / 2, high_c, low_c)
        return masked_bce(b2, mask_b2) + masked_bce(b1, mask_b1) + masked_bce(c, mask_c)

    def localization_maps(self, model: nn.Module, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        class_maps = self.heads.a_classes(self.heads.a_hidden(features))
        return class_maps[torch.arange(len(classes), device=class_maps.device), classes]

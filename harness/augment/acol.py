"""Adversarial Complementary Learning (Zhang et al., CVPR 2018): two classifiers over the network's feature maps.
Head A (3x3 conv to ``channels``, 3x3 conv, 1x1 conv to the classes, global average pooling) classifies the
features; A's map of the label (the ground truth in training, the prediction otherwise), min-max normalised and
detached, erases the features where it is at least ``threshold``; head B, of the same form, classifies the
erased features. The loss is CE(A) + CE(B); the prediction is A's; the localization map is the element-wise
maximum of A's and B's normalised maps. The batch is not changed.

The heads replace the network's classifier (so that a fine-tuning loads the backbone's tensors and trains the
heads at the classifier's learning rate) and read its ``forward_features`` (VGG-GAP: after its 1024-channel
conv). ``threshold``: 0.6 as in the original scripts (the default here); wsolevaluation uses 0.7.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.augment.network_method import NetworkMethod, with_loss
from harness.augment.registry import register
from harness.localization.cam import min_max


def acol_head(in_channels: int, channels: int, num_classes: int) -> nn.Sequential:
    """ACoL's classifier: two 3x3 convs (ReLU), a 1x1 conv to class maps ``[B, K, h, w]``."""
    return nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, num_classes, 1))


class ACoLHeads(nn.Module):
    def __init__(self, in_channels: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.a, self.b = acol_head(in_channels, channels, num_classes), acol_head(in_channels, channels, num_classes)


def erase(features: torch.Tensor, attention: torch.Tensor, threshold: float) -> torch.Tensor:
    """``features`` ``[B, C, h, w]`` set to 0 where the normalised ``attention`` ``[B, h, w]`` is >= threshold."""
    return features * (attention < threshold).unsqueeze(1).to(features.dtype)


def pick(maps: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each image's map ``[B, h, w]`` of its class, from class maps ``[B, K, h, w]``."""
    return maps[torch.arange(len(classes), device=maps.device), classes]


@register("acol")
class ACoL(NetworkMethod):
    def __init__(self, num_classes: int, *, threshold: float = 0.6, channels: int = 1024, **common) -> None:
        super().__init__(num_classes, **common)
        if not 0.0 < threshold <= 1.0 or channels < 1:
            raise ValueError(f"threshold must be in (0, 1] and channels >= 1, got {threshold}, {channels}")
        self.threshold, self.channels = threshold, channels
        self.heads: ACoLHeads | None = None

    def attach(self, model: nn.Module) -> None:
        self.heads = ACoLHeads(model.num_features, self.channels, self.num_classes)
        setattr(model, model.pretrained_cfg.get("classifier", "fc"), self.heads)  # get_classifier() gives the heads
        model.forward_head = self.forward_head

    def maps(self, features: torch.Tensor, classes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(A's and B's class maps ``[B, K, h, w]``); B sees the features erased by A's map of ``classes`` (None:
        A's prediction)."""
        maps_a = self.heads.a(features)
        classes = maps_a.mean(dim=(2, 3)).argmax(dim=1) if classes is None else classes
        attention = min_max(pick(maps_a, classes).detach().float())
        return maps_a, self.heads.b(erase(features, attention, self.threshold))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return features.mean(dim=(2, 3))
        training = self.heads.training
        maps_a, maps_b = self.maps(features, self.labels() if training else None)
        logits_a = maps_a.mean(dim=(2, 3))
        if not training:
            return logits_a
        loss_b = torch.sum(-self.targets * F.log_softmax(maps_b.mean(dim=(2, 3)).float(), dim=-1), dim=-1).mean()
        return with_loss(logits_a, loss_b)  # the trainer's CE(A), plus CE(B)

    def localization_maps(self, model: nn.Module, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        maps_a, maps_b = self.maps(features, classes)
        return torch.maximum(min_max(pick(maps_a, classes).float()), min_max(pick(maps_b, classes).float()))

"""Class activation maps (Zhou et al., CVPR 2016): CAM_c = sum_k w_{c,k} F_k over the last feature maps."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def class_activation_maps(features: torch.Tensor, fc_weight: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """CAMs ``[B, h, w]`` of ``classes`` ``[B]`` from features ``[B, C, h, w]`` and classifier weights ``[K, C]``."""
    return torch.einsum("bchw,bc->bhw", features, fc_weight[classes].to(features.dtype))


def classifier_maps(model: torch.nn.Module, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """CAMs ``[B, h, w]`` of ``classes`` from a network's last feature maps and its linear classifier."""
    return class_activation_maps(features, model.get_classifier().weight, classes)


def min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map of ``[B, h, w]`` scaled to [0, 1] (a constant map to 0)."""
    low = maps.flatten(1).min(dim=1).values.view(-1, 1, 1)
    high = maps.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return (maps - low) / (high - low).clamp_min(1e-12)


def normalize_maps(cams: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample ``[B, h, w]`` maps to ``size`` (bicubic) and min-max normalise each to [0, 1]."""
    return min_max(F.interpolate(cams.unsqueeze(1).float(), size=size, mode="bicubic", align_corners=False).squeeze(1))

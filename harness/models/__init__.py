"""Models the paper uses that timm lacks, registered into timm's registry on import.

After ``import harness``: ``timm.create_model("pyramidnet200_a240" | "pyramidnet110_a64" |
"resnet110_cifar" | "pyramidnet_tiny" | "resnet_cifar_tiny" | "resnet_tiny", num_classes=K)``.
"""
from __future__ import annotations

import timm
from torch import nn

from harness.errors import UnknownNameError
from harness.models import gather_excite, pyramidnet, resnet_cifar, resnet_tiny, resnet_wsol, vgg_gap  # noqa: F401  (registration)


def create_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """``timm.create_model`` without pretrained weights (nothing is ever downloaded), with a clear error."""
    if not timm.is_model(name):
        raise UnknownNameError(f"unknown model {name!r}: not in timm's registry (see timm.list_models())")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""The CutMix paper's ResNet-50 for weakly supervised localization (Appendix B: "we modified the final residual
block (layer4) to have no stride (= 1)"): timm's ResNet-50 with layer4's stride set to 1 and no dilation, so
its CAMs are 14x14 at 224 px. timm's ``output_stride=16`` is not the same network: it also dilates layer4
(dilation 2), which widens the receptive field. Tensor names and shapes are the plain network's, so the
harness's ImageNet ``resnet50`` runs load into it unchanged.
"""
from __future__ import annotations

import timm
from timm.models import generate_default_cfgs, register_model
from timm.models.resnet import ResNet
from torch import nn

from harness.models.resnet_tiny import TINY_CFG


def undo_last_stride(model: ResNet) -> ResNet:
    """Set every stride of layer4's first block (its strided conv and its shortcut) to 1, in place; the
    dilation stays 1 and the weights are untouched."""
    for module in model.layer4[0].modules():
        if isinstance(module, (nn.Conv2d, nn.AvgPool2d)) and module.stride not in (1, (1, 1)):
            module.stride = (1, 1) if isinstance(module, nn.Conv2d) else 1
    for info in model.feature_info:
        if info["module"] == "layer4":
            info["reduction"] //= 2
    return model


default_cfgs = generate_default_cfgs({
    "resnet50_wsol": dict(TINY_CFG, num_classes=1000, input_size=(3, 224, 224), pool_size=(14, 14), crop_pct=0.875),
    "resnet_tiny_wsol": dict(TINY_CFG, pool_size=(4, 4)),
})


@register_model
def resnet50_wsol(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with a stride-1, undilated layer4 (the paper's WSOL network)."""
    return undo_last_stride(timm.create_model("resnet50", pretrained=pretrained, **kwargs))


@register_model
def resnet_tiny_wsol(pretrained: bool = False, **kwargs) -> ResNet:
    """The smoke stand-in ``resnet_tiny`` with the same change."""
    return undo_last_stride(timm.create_model("resnet_tiny", pretrained=pretrained, **kwargs))

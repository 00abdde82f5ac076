"""A tiny ImageNet-style ResNet (timm's own ResNet class) standing in for ResNet-50 at the smoke scale.

Same stem, stage names and head as timm's ``resnet50``, so everything written against ResNet-50
(feature hooks, CAM, detection backbones) runs unchanged on it, in seconds on a CPU.
"""
from __future__ import annotations

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, ResNet

default_cfgs = generate_default_cfgs({
    "resnet_tiny": dict(
        url="", num_classes=10, input_size=(3, 64, 64), pool_size=(2, 2), crop_pct=1.0,
        interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        first_conv="conv1", classifier="fc",
    ),
})


@register_model
def resnet_tiny(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet with one basic block per stage and channels 16/32/64/128 (0.2 M parameters)."""
    args = dict(block=BasicBlock, layers=(1, 1, 1, 1), channels=(16, 32, 64, 128), stem_width=16)
    return build_model_with_cfg(ResNet, "resnet_tiny", pretrained, **dict(args, **kwargs))

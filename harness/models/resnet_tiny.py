"""Tiny ImageNet-style ResNets (timm's own ResNet class) standing in for ResNet-50/101 and ResNeXt-101
at the smoke scale.

Same stem, stage names and head as timm's ``resnet50``, so everything written against ResNet-50
(feature hooks, CAM, detection backbones) runs unchanged on it, in seconds on a CPU.
"""
from __future__ import annotations

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

TINY_CFG = dict(
    url="", num_classes=10, input_size=(3, 64, 64), pool_size=(2, 2), crop_pct=1.0, interpolation="bilinear",
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), first_conv="conv1", classifier="fc",
)
TINY_CHANNELS = dict(channels=(16, 32, 64, 128), stem_width=16)
default_cfgs = generate_default_cfgs({name: dict(TINY_CFG) for name in ("resnet_tiny", "resnet_tiny_deep", "resnext_tiny")})


def _create(variant: str, pretrained: bool, args: dict, kwargs: dict) -> ResNet:
    return build_model_with_cfg(ResNet, variant, pretrained, **dict(TINY_CHANNELS, **args, **kwargs))


@register_model
def resnet_tiny(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet with one basic block per stage and channels 16/32/64/128 (0.2 M parameters)."""
    return _create("resnet_tiny", pretrained, dict(block=BasicBlock, layers=(1, 1, 1, 1)), kwargs)


@register_model
def resnet_tiny_deep(pretrained: bool = False, **kwargs) -> ResNet:
    """Twice as deep as ``resnet_tiny`` (two basic blocks per stage): the smoke stand-in for ResNet-101."""
    return _create("resnet_tiny_deep", pretrained, dict(block=BasicBlock, layers=(2, 2, 2, 2)), kwargs)


@register_model
def resnext_tiny(pretrained: bool = False, **kwargs) -> ResNet:
    """Grouped bottlenecks (cardinality 4) one per stage: the smoke stand-in for ResNeXt-101 32x4d."""
    return _create("resnext_tiny", pretrained, dict(block=Bottleneck, layers=(1, 1, 1, 1), cardinality=4, base_width=16), kwargs)

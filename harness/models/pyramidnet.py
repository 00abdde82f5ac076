"""PyramidNet (Han et al., CVPR 2017) for CIFAR, as in the official CutMix code, registered into timm.

Channel widths grow linearly by ``alpha / (3n)`` per block; shortcuts are identity (average-pooled when
strided) with zero-padded extra channels; blocks are pre-activation with a BN after the last conv.
    timm.create_model("pyramidnet200_a240", num_classes=100)   # 26.8 M parameters, the paper's model
    timm.create_model("pyramidnet110_a64", num_classes=100)    # 1.7 M (Table 6)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from harness.models.cifar_net import CifarNet, blocks_per_stage, cifar_cfg, conv_bn_stem
from harness.models.regularizers import residual_regularizer


class PyramidBlock(nn.Module):
    """Bottleneck (1x1, 3x3, 1x1; x4 output) or basic (3x3, 3x3) pyramidal residual unit."""

    def __init__(self, in_chs: int, planes: int, stride: int, bottleneck: bool, regularizer: nn.Module | None = None) -> None:
        super().__init__()
        out_chs = planes * 4 if bottleneck else planes
        if bottleneck:
            layers = [
                nn.BatchNorm2d(in_chs), nn.Conv2d(in_chs, planes, 1, bias=False),
                nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                nn.Conv2d(planes, out_chs, 1, bias=False), nn.BatchNorm2d(out_chs),
            ]
        else:
            layers = [
                nn.BatchNorm2d(in_chs), nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                nn.Conv2d(planes, out_chs, 3, padding=1, bias=False), nn.BatchNorm2d(out_chs),
            ]
        self.residual = nn.Sequential(*layers)
        self.regularize = regularizer or nn.Identity()
        self.shortcut = nn.AvgPool2d(2, stride=2, ceil_mode=True) if stride != 1 else nn.Identity()
        self.extra_chs = out_chs - in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        if self.extra_chs:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_chs))
        return self.regularize(self.residual(x)) + shortcut


def pyramidnet(
    depth: int, alpha: float, bottleneck: bool = True, num_classes: int = 100, in_chans: int = 3,
    drop_path_rate: float = 0.0, drop_block_rate: float = 0.0, drop_block_size: int = 4, shakedrop_rate: float = 0.0,
    stem_stride: int = 1, **kwargs,
) -> CifarNet:
    """Build a CIFAR PyramidNet of ``depth`` layers and widening factor ``alpha``, optionally regularized
    (``shakedrop_rate=0.5`` is the ShakeDrop paper's p_L = 0.5)."""
    regularize = dict(drop_path_rate=drop_path_rate, drop_block_rate=drop_block_rate,
                      drop_block_size=drop_block_size, shakedrop_rate=shakedrop_rate)
    n = blocks_per_stage(depth, bottleneck)
    expansion = 4 if bottleneck else 1
    add_rate = alpha / (3 * n)
    width = 16.0  # fractional width, rounded per block as the official code
    in_chs = 16
    stages, stage_channels = [], []
    for stage in range(3):
        blocks = []
        for i in range(n):
            width += add_rate
            planes = int(round(width))
            regularizer = residual_regularizer(stage * n + i, 3 * n, stage, **regularize)
            blocks.append(PyramidBlock(in_chs, planes, 2 if (stage > 0 and i == 0) else 1, bottleneck, regularizer))
            in_chs = planes * expansion
        stages.append(nn.Sequential(*blocks))
        stage_channels.append(in_chs)
    final_act = nn.Sequential(nn.BatchNorm2d(in_chs), nn.ReLU(inplace=True))
    stem = conv_bn_stem(in_chans, 16, act=False, stride=stem_stride)
    return CifarNet(stem, stages, stage_channels, final_act, num_classes, stem_stride=stem_stride, **kwargs)


def _create(variant: str, pretrained: bool, **kwargs) -> CifarNet:
    return build_model_with_cfg(pyramidnet, variant, pretrained, **kwargs)


default_cfgs = generate_default_cfgs({
    "pyramidnet200_a240": cifar_cfg(),
    "pyramidnet110_a64": cifar_cfg(),
    "pyramidnet_tiny": cifar_cfg(),
})


@register_model
def pyramidnet200_a240(pretrained: bool = False, **kwargs) -> CifarNet:
    """PyramidNet-200 (bottleneck, alpha=240): the paper's CIFAR model, 26.8 M parameters."""
    return _create("pyramidnet200_a240", pretrained, depth=200, alpha=240, **kwargs)


@register_model
def pyramidnet110_a64(pretrained: bool = False, **kwargs) -> CifarNet:
    """PyramidNet-110 (bottleneck, alpha=64): Table 6's lighter model, 1.7 M parameters."""
    return _create("pyramidnet110_a64", pretrained, depth=110, alpha=64, **kwargs)


@register_model
def pyramidnet_tiny(pretrained: bool = False, **kwargs) -> CifarNet:
    """PyramidNet-11 (one bottleneck block per stage, alpha=48, stride-2 stem) for the CPU smoke scale."""
    return _create("pyramidnet_tiny", pretrained, depth=11, alpha=48, stem_stride=2, **kwargs)

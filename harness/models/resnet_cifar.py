"""The CIFAR ResNet of the official CutMix code (bottleneck blocks, 16/32/64 planes), registered into timm.

    timm.create_model("resnet110_cifar", num_classes=100)   # 1.1 M parameters (Table 6)
"""
from __future__ import annotations

import torch
from torch import nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from harness.models.cifar_net import CifarNet, blocks_per_stage, cifar_cfg, conv_bn_stem
from harness.models.regularizers import residual_regularizer


class BottleneckBlock(nn.Module):
    """Post-activation bottleneck (1x1, 3x3, 1x1, x4) with a 1x1 conv + BN projection when shapes change."""

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int, regularizer: nn.Module | None = None) -> None:
        super().__init__()
        out_chs = planes * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(in_chs, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_chs, 1, bias=False), nn.BatchNorm2d(out_chs),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False), nn.BatchNorm2d(out_chs))
            if stride != 1 or in_chs != out_chs else nn.Identity()
        )
        self.regularize = regularizer or nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.regularize(self.residual(x)) + self.shortcut(x))


def resnet_cifar(depth: int, num_classes: int = 100, in_chans: int = 3, drop_path_rate: float = 0.0,
                 drop_block_rate: float = 0.0, drop_block_size: int = 4, stem_stride: int = 1, **kwargs) -> CifarNet:
    """Build a bottleneck CIFAR ResNet of ``depth`` = 9n + 2 layers, optionally regularized."""
    n = blocks_per_stage(depth, bottleneck=True)
    regularize = dict(drop_path_rate=drop_path_rate, drop_block_rate=drop_block_rate, drop_block_size=drop_block_size)
    in_chs = 16
    stages, stage_channels = [], []
    for stage, planes in enumerate((16, 32, 64)):
        blocks = []
        for i in range(n):
            regularizer = residual_regularizer(stage * n + i, 3 * n, stage, **regularize)
            blocks.append(BottleneckBlock(in_chs, planes, 2 if (stage > 0 and i == 0) else 1, regularizer))
            in_chs = planes * BottleneckBlock.expansion
        stages.append(nn.Sequential(*blocks))
        stage_channels.append(in_chs)
    stem = conv_bn_stem(in_chans, 16, act=True, stride=stem_stride)
    return CifarNet(stem, stages, stage_channels, nn.Identity(), num_classes, stem_stride=stem_stride, **kwargs)


default_cfgs = generate_default_cfgs({"resnet110_cifar": cifar_cfg(), "resnet20_cifar": cifar_cfg(),
                                      "resnet20_cifar_s2": cifar_cfg(), "resnet_cifar_tiny": cifar_cfg()})


@register_model
def resnet110_cifar(pretrained: bool = False, **kwargs) -> CifarNet:
    """ResNet-110 for CIFAR (bottleneck, as the official CutMix code): 1.1 M parameters."""
    return build_model_with_cfg(resnet_cifar, "resnet110_cifar", pretrained, depth=110, **kwargs)


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs) -> CifarNet:
    """ResNet-20 of the same family at full resolution (a stride-1 stem, as ResNet-110): four times the compute of
    ``resnet20_cifar_s2``, and feature maps of 32 x 32 in its first stage."""
    return build_model_with_cfg(resnet_cifar, "resnet20_cifar", pretrained, depth=20, **kwargs)


@register_model
def resnet20_cifar_s2(pretrained: bool = False, **kwargs) -> CifarNet:
    """ResNet-20 of the same family (two bottleneck blocks per stage) with a stride-2 stem (a quarter of the
    compute): the mini scale's network, small enough to train on real CIFAR on a CPU."""
    return build_model_with_cfg(resnet_cifar, "resnet20_cifar_s2", pretrained, depth=20, stem_stride=2, **kwargs)


@register_model
def resnet_cifar_tiny(pretrained: bool = False, **kwargs) -> CifarNet:
    """ResNet-11 for CIFAR (one bottleneck block per stage, stride-2 stem) for the CPU smoke scale."""
    return build_model_with_cfg(resnet_cifar, "resnet_cifar_tiny", pretrained, depth=11, stem_stride=2, **kwargs)

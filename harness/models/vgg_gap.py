"""VGG-GAP for weakly supervised localization (Zhou et al., CVPR 2016; the CutMix paper's Table 9).

VGG-16's convolutions without the last max-pool (14x14 maps at 224 px), one more 3x3 conv to 1024
channels, global average pooling and a linear classifier; registered into timm.
"""
from __future__ import annotations

import torch
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from harness.models.head import PooledClassifier

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)  # last pool removed
TINY = (16, "M", 32, "M", 64, 64)


class VGGGap(PooledClassifier):
    def __init__(self, layers=VGG16, gap_channels: int = 1024, num_classes: int = 1000, in_chans: int = 3,
                 global_pool: str = "avg", batch_norm: bool = False, **kwargs) -> None:
        super().__init__()
        modules, channels, reduction = [], in_chans, 1
        self.feature_info = []
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
                reduction *= 2
            else:
                modules += [nn.Conv2d(channels, item, 3, padding=1), *([nn.BatchNorm2d(item)] if batch_norm else []),
                            nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*modules)
        self.cam_conv = nn.Sequential(nn.Conv2d(channels, gap_channels, 3, padding=1), nn.ReLU(inplace=True))
        self.feature_info = [dict(num_chs=gap_channels, reduction=reduction, module="cam_conv")]
        self.init_head(gap_channels, num_classes, global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_conv(self.features(x))


_CFG = dict(url="", num_classes=1000, input_size=(3, 224, 224), pool_size=(14, 14), crop_pct=0.875,
            interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
            first_conv="features.0", classifier="fc")
default_cfgs = generate_default_cfgs({"vgg16_gap": dict(_CFG), "vgg_gap_tiny": dict(_CFG, input_size=(3, 64, 64), pool_size=(16, 16))})


@register_model
def vgg16_gap(pretrained: bool = False, **kwargs) -> VGGGap:
    """VGG-16 without its last pool, + conv 1024 + GAP + fc (the WSOL VGG-GAP)."""
    return build_model_with_cfg(VGGGap, "vgg16_gap", pretrained, layers=VGG16, gap_channels=1024, **kwargs)


@register_model
def vgg_gap_tiny(pretrained: bool = False, **kwargs) -> VGGGap:
    """A four-conv VGG-GAP with batch norm (trainable from scratch in CPU minutes) for the smoke scale."""
    return build_model_with_cfg(VGGGap, "vgg_gap_tiny", pretrained, layers=TINY, gap_channels=128, batch_norm=True, **kwargs)

"""GoogLeNet-GAP for weakly supervised localization (Zhou et al., CVPR 2016; Hide-and-Seek's network in Table 9).

torchvision's GoogLeNet (with batch norm) up to inception4e (832 channels, 14x14 maps at 224 px), a 3x3 conv to
1024 channels in two groups (CAM's ``CAM_conv``), global average pooling and a linear classifier; registered into
timm. Its blocks keep torchvision's names (``conv1``... ``inception4e``), so that a GoogLeNet's tensors match by name.
"""
from __future__ import annotations

import torch
from timm.models import build_model_with_cfg, register_model
from torch import nn
from torchvision.models.googlenet import BasicConv2d, Inception

from harness.models.wsol_parts import BlockSeries, wsol_cfgs

# Inception(in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj), as torchvision builds GoogLeNet
STAGES = {"inception3a": (192, 64, 96, 128, 16, 32, 32), "inception3b": (256, 128, 128, 192, 32, 96, 64),
          "maxpool3": None,
          "inception4a": (480, 192, 96, 208, 16, 48, 64), "inception4b": (512, 160, 112, 224, 24, 64, 64),
          "inception4c": (512, 128, 128, 256, 24, 64, 64), "inception4d": (512, 112, 144, 288, 32, 64, 64),
          "inception4e": (528, 256, 160, 320, 32, 128, 128)}
TINY_STAGES = {"inception3a": (16, 8, 8, 16, 4, 8, 8), "maxpool3": None, "inception4e": (40, 16, 16, 32, 8, 16, 16)}


def _stem(tiny: bool) -> dict[str, nn.Module]:
    """GoogLeNet's stem (stride 8: conv 7x7/2, pool, 1x1, 3x3, pool), or a tiny one (stride 2)."""
    if tiny:
        return {"conv1": BasicConv2d(3, 16, kernel_size=3, padding=1), "maxpool1": nn.MaxPool2d(2, 2)}
    return {"conv1": BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3),
            "maxpool1": nn.MaxPool2d(3, stride=2, ceil_mode=True),
            "conv2": BasicConv2d(64, 64, kernel_size=1), "conv3": BasicConv2d(64, 192, kernel_size=3, padding=1),
            "maxpool2": nn.MaxPool2d(3, stride=2, ceil_mode=True)}


class GoogLeNetGap(BlockSeries):
    def __init__(self, stages=STAGES, tiny: bool = False, gap_channels: int = 1024, num_classes: int = 1000,
                 in_chans: int = 3, global_pool: str = "avg", **kwargs) -> None:
        super().__init__()
        layers = _stem(tiny)
        for name, widths in stages.items():
            layers[name] = nn.MaxPool2d(3, stride=2, ceil_mode=True) if widths is None else Inception(*widths)
        self.set_blocks(layers)
        last = next(reversed(stages.values()))
        channels = last[1] + last[3] + last[5] + last[6]
        self.cam_conv = nn.Sequential(nn.Conv2d(channels, gap_channels, 3, padding=1, groups=2), nn.ReLU(inplace=True))
        reduction = 4 if tiny else 16
        self.feature_info = [dict(num_chs=gap_channels, reduction=reduction, module="cam_conv")]
        self.init_head(gap_channels, num_classes, global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_conv(super().forward_features(x))


default_cfgs = wsol_cfgs("googlenet_gap", "googlenet_gap_tiny", first_conv="conv1.conv")


@register_model
def googlenet_gap(pretrained: bool = False, **kwargs) -> GoogLeNetGap:
    """GoogLeNet up to inception4e, + conv 1024 (2 groups) + GAP + fc: the WSOL GoogLeNet-GAP (14x14 at 224 px)."""
    return build_model_with_cfg(GoogLeNetGap, "googlenet_gap", pretrained, stages=STAGES, **kwargs)


@register_model
def googlenet_gap_tiny(pretrained: bool = False, **kwargs) -> GoogLeNetGap:
    """Two small Inception blocks and a 128-channel CAM conv (16x16 maps at 64 px) for the smoke scale."""
    return build_model_with_cfg(GoogLeNetGap, "googlenet_gap_tiny", pretrained, stages=TINY_STAGES, tiny=True,
                                gap_channels=128, **kwargs)

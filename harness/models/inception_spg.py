"""InceptionV3 as SPG uses it (Zhang et al., ECCV 2018; Table 9's InceptionV3+SPG row), registered into timm.

timm's InceptionV3 blocks, cut after Mixed_6e (768 channels), with SPG's stem (padded first conv, padded
ceil-mode pools) and Mixed_6a at stride 1, so that the maps stay large: 28x28 at 224 px with
``large_feature_map=True`` (SPG's original code), 14x14 by default (wsolevaluation's, which adds a max-pool after
Mixed_5d). Global average pooling and a linear classifier make it a CAM network; the ``spg`` method replaces that
classifier with SPG's heads, which read Mixed_5d and Mixed_6d (named in ``feature_info``). timm's own
InceptionV3 cannot serve: its Mixed_6a has stride 2 in its forward.
"""
from __future__ import annotations

import importlib
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import ConvNormAct
from timm.models import build_model_with_cfg, register_model
from torch import nn

from harness.models.wsol_parts import BlockSeries, wsol_cfgs

_inception = importlib.import_module("timm.models.inception_v3")  # the module (timm.models.inception_v3 is a function)


class StrideOneReduction(_inception.InceptionB):
    """timm's InceptionB (Mixed_6a) at stride 1: its stride-2 convs and pool padded to keep the size."""

    def __init__(self, in_channels: int, conv_block) -> None:
        def unstrided(in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, **kwargs) -> nn.Module:
            return conv_block(in_chs, out_chs, kernel_size=kernel_size, **kwargs,
                              **({"stride": 1, "padding": 1} if stride == 2 else {"stride": stride}))

        super().__init__(in_channels, conv_block=unstrided)

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch3x3(x), double, F.max_pool2d(x, kernel_size=3, stride=1, padding=1)]


def _full_blocks(conv_block) -> dict[str, nn.Module]:
    """SPG's InceptionV3 up to Mixed_6e."""
    pool = partial(nn.MaxPool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True)
    return {"Conv2d_1a_3x3": conv_block(3, 32, kernel_size=3, stride=2, padding=1),
            "Conv2d_2a_3x3": conv_block(32, 32, kernel_size=3),
            "Conv2d_2b_3x3": conv_block(32, 64, kernel_size=3, padding=1), "Pool1": pool(),
            "Conv2d_3b_1x1": conv_block(64, 80, kernel_size=1), "Conv2d_4a_3x3": conv_block(80, 192, kernel_size=3),
            "Pool2": pool(),
            "Mixed_5b": _inception.InceptionA(192, pool_features=32, conv_block=conv_block),
            "Mixed_5c": _inception.InceptionA(256, pool_features=64, conv_block=conv_block),
            "Mixed_5d": _inception.InceptionA(288, pool_features=64, conv_block=conv_block),
            "Mixed_6a": StrideOneReduction(288, conv_block),
            "Mixed_6b": _inception.InceptionC(768, channels_7x7=128, conv_block=conv_block),
            "Mixed_6c": _inception.InceptionC(768, channels_7x7=160, conv_block=conv_block),
            "Mixed_6d": _inception.InceptionC(768, channels_7x7=160, conv_block=conv_block),
            "Mixed_6e": _inception.InceptionC(768, channels_7x7=192, conv_block=conv_block)}


def _tiny_blocks(conv_block) -> dict[str, nn.Module]:
    """A small network with the same named taps (stride 2 before Mixed_5d), for the smoke scale."""
    return {"Conv2d_1a_3x3": conv_block(3, 16, kernel_size=3, padding=1), "Pool1": nn.MaxPool2d(2, 2),
            "Mixed_5d": conv_block(16, 32, kernel_size=3, padding=1),
            "Mixed_6a": conv_block(32, 48, kernel_size=3, padding=1),
            "Mixed_6d": conv_block(48, 48, kernel_size=3, padding=1),
            "Mixed_6e": conv_block(48, 48, kernel_size=3, padding=1)}


class InceptionSpg(BlockSeries):
    def __init__(self, tiny: bool = False, large_feature_map: bool = False, num_classes: int = 1000,
                 in_chans: int = 3, global_pool: str = "avg", **kwargs) -> None:
        super().__init__()
        conv_block = partial(ConvNormAct, padding=0, norm_kwargs=dict(eps=1e-3), act_kwargs=dict(inplace=True))
        layers = {}
        for name, block in (_tiny_blocks if tiny else _full_blocks)(conv_block).items():
            layers[name] = block
            if name == "Mixed_5d":  # wsolevaluation's pool after Mixed_5d halves the maps (14x14 at 224 px)
                layers["Pool3"] = nn.Identity() if large_feature_map else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.set_blocks(layers)
        widths = {"Mixed_5d": 32 if tiny else 288, "Mixed_6d": 48 if tiny else 768, "Mixed_6e": 48 if tiny else 768}
        stride = (2 if tiny else 8) * (1 if large_feature_map else 2)
        self.feature_info = [dict(num_chs=widths["Mixed_5d"], reduction=(2 if tiny else 8), module="Mixed_5d"),
                             dict(num_chs=widths["Mixed_6d"], reduction=stride, module="Mixed_6d"),
                             dict(num_chs=widths["Mixed_6e"], reduction=stride, module="Mixed_6e")]
        self.init_head(widths["Mixed_6e"], num_classes, global_pool)


default_cfgs = wsol_cfgs("inception_v3_spg", "inception_spg_tiny", first_conv="Conv2d_1a_3x3.conv")


@register_model
def inception_v3_spg(pretrained: bool = False, **kwargs) -> InceptionSpg:
    """InceptionV3 to Mixed_6e, Mixed_6a at stride 1 (14x14 maps at 224 px; 28x28 with large_feature_map=True)."""
    return build_model_with_cfg(InceptionSpg, "inception_v3_spg", pretrained, **kwargs)


@register_model
def inception_spg_tiny(pretrained: bool = False, **kwargs) -> InceptionSpg:
    """Five small convs with SPG's taps (16x16 maps at 64 px) for the smoke scale."""
    return build_model_with_cfg(InceptionSpg, "inception_spg_tiny", pretrained, tiny=True, **kwargs)

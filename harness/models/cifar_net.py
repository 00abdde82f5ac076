"""Common skeleton of the paper's CIFAR networks, with timm's model interface.

stem -> layer1 -> layer2 -> layer3 -> final_act -> global pool -> fc. Stage names follow timm's ResNet
(``layer1``...), and ``feature_info`` names them, so hooks at named stages (feature-level mixing, CAM)
work on these models and on timm's ResNets alike.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.models.head import PooledClassifier

CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)  # the official CutMix code's normalization
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


def cifar_cfg(num_classes: int = 100) -> dict:
    """timm pretrained_cfg of a CIFAR model (no weights are published for these; nothing is downloaded)."""
    return dict(
        url="", num_classes=num_classes, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
        interpolation="bilinear", mean=CIFAR_MEAN, std=CIFAR_STD, first_conv="stem.0", classifier="fc",
    )


class CifarNet(PooledClassifier):
    """A three-stage CIFAR network assembled from its parts."""

    def __init__(
        self,
        stem: nn.Module,
        stages: list[nn.Module],
        stage_channels: list[int],
        final_act: nn.Module,
        num_classes: int = 100,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        self.drop_rate = drop_rate
        self.stem = stem
        self.layer1, self.layer2, self.layer3 = stages
        self.final_act = final_act
        self.feature_info = [dict(num_chs=stem[0].out_channels, reduction=stem_stride, module="stem")] + [
            dict(num_chs=chs, reduction=stem_stride * 2**i, module=f"layer{i + 1}") for i, chs in enumerate(stage_channels)
        ]
        self.init_head(stage_channels[-1], num_classes, global_pool)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.final_act(x)



def conv_bn_stem(in_chans: int, out_channels: int, act: bool, stride: int = 1) -> nn.Sequential:
    """3x3 conv + BN (+ ReLU for post-activation nets) on the 32x32 input (stride 2 only in smoke stand-ins)."""
    layers: list[nn.Module] = [nn.Conv2d(in_chans, out_channels, 3, stride=stride, padding=1, bias=False),
                               nn.BatchNorm2d(out_channels)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def blocks_per_stage(depth: int, bottleneck: bool) -> int:
    """Residual blocks per stage for a CIFAR net of ``depth`` layers (3 stages of 2 or 3 layers each + 2)."""
    per_block = 3 if bottleneck else 2
    if (depth - 2) % (3 * per_block):
        raise ValueError(f"depth {depth} is not 9n+2 (bottleneck) / 6n+2 (basic)")
    return (depth - 2) // (3 * per_block)

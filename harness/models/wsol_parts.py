"""What the WSOL networks share: their blocks as named top-level modules run in order (so that their tensors keep
the names of the network they come from), and timm's pretrained configuration of a network and its smoke stand-in
(ImageNet's normalisation at 224 px, 14x14 maps; the stand-in at 64 px, 16x16 maps)."""
from __future__ import annotations

import torch
from timm.models import generate_default_cfgs
from torch import nn

from harness.models.head import PooledClassifier


class BlockSeries(PooledClassifier):
    """A classifier whose features are its named blocks run in order (``set_blocks``)."""

    def set_blocks(self, layers: dict[str, nn.Module]) -> None:
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.blocks = list(layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.blocks:
            x = getattr(self, name)(x)
        return x


def wsol_cfgs(network: str, stand_in: str, first_conv: str):
    """Default configurations of ``network`` and ``stand_in`` (their classifier is ``fc``)."""
    cfg = dict(url="", num_classes=1000, input_size=(3, 224, 224), pool_size=(14, 14), crop_pct=0.875,
               interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
               first_conv=first_conv, classifier="fc")
    return generate_default_cfgs({network: cfg, stand_in: dict(cfg, input_size=(3, 64, 64), pool_size=(16, 16))})

"""Attention-based Dropout Layer (Choe & Shim, CVPR 2019): a parameter-free layer inserted after chosen layers of
the network. In training, the channel mean of a feature map is its self-attention; at each forward, with
probability ``drop_rate`` the features are multiplied by the drop mask (0 where the attention is at least
``threshold`` times its per-image maximum, 1 elsewhere), otherwise by the importance map sigmoid(attention). At
evaluation it is the identity. The batch is not changed.

Where: ``layers`` names the network's modules whose outputs it follows; by default, in a VGG-GAP (a ``features``
sequence of convolutions and max-pools), after pool3, conv4_3 and conv5_3 as the paper places it: after the
last pool but one, after the last ReLU before the last pool, and after the last ReLU. Parameters: the original code
and its authors give ``threshold`` 0.8 and ``drop_rate`` 0.75 for VGG on CUB (the defaults here);
wsolevaluation's defaults are 0.9 and 0.75.
"""
from __future__ import annotations

import torch

from harness.augment.network_method import NetworkMethod
from harness.augment.registry import register


def adl(features: torch.Tensor, drop: bool, threshold: float) -> torch.Tensor:
    """The features under ADL's drop mask (``drop``) or importance map."""
    attention = features.mean(dim=1, keepdim=True)
    if drop:
        peak = attention.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
        return features * (attention < threshold * peak).to(features.dtype)
    return features * torch.sigmoid(attention)


def vgg_positions(model: torch.nn.Module) -> list[str]:
    """ADL's places in a VGG-GAP: after pool3, conv4_3 and conv5_3 (empty for another network)."""
    features = getattr(model, "features", None)
    if not isinstance(features, torch.nn.Sequential):
        return []
    pools = [i for i, m in enumerate(features) if isinstance(m, torch.nn.MaxPool2d)]
    relus = [i for i, m in enumerate(features) if isinstance(m, torch.nn.ReLU)]
    if len(pools) < 2 or not relus or relus[-1] < pools[-1]:
        return []
    before_last_pool = max(i for i in relus if i < pools[-1])
    return [f"features.{i}" for i in (pools[-2], before_last_pool, relus[-1])]


@register("adl")
class ADL(NetworkMethod):
    def __init__(self, num_classes: int, *, threshold: float = 0.8, drop_rate: float = 0.75, layers=None,
                 **common) -> None:
        super().__init__(num_classes, **common)
        if not 0.0 < threshold <= 1.0 or not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"threshold must be in (0, 1] and drop_rate in [0, 1], got {threshold}, {drop_rate}")
        self.threshold, self.drop_rate, self.layers = threshold, drop_rate, list(layers) if layers else None

    def attach(self, model: torch.nn.Module) -> None:
        names = self.layers or vgg_positions(model)
        if not names:
            raise ValueError(f"adl: no default place in {type(model).__name__} (not a VGG-GAP); give layers=[module "
                             "names]")
        modules = dict(model.named_modules())
        unknown = [name for name in names if name not in modules]
        if unknown:
            raise ValueError(f"adl: {type(model).__name__} has no module {', '.join(unknown)}")
        for name in names:
            modules[name].register_forward_hook(self._after)

    def _after(self, module: torch.nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        drop = bool(torch.rand((), generator=self.generator) < self.drop_rate)
        return adl(output, drop, self.threshold)

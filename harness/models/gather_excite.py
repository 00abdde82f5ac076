"""Gather-Excite ResNets (Hu et al., NeurIPS 2018) for Table 3's quoted GE rows, from timm's parts.

timm has the GatherExcite layer but no GE-ResNet entry point; these put it in every bottleneck of
timm's ResNet-50/101, with global extent and the parameter-free excite (GE-theta-minus). The paper's rows
quote GE-theta+ (parametric gather and an MLP excite): timm 1.0.31's GatherExcite cannot build its MLP
(``ConvMlp(..., *dd)`` passes device/dtype positionally), so these are stand-ins, labelled as such.
"""
from __future__ import annotations

from functools import partial

from timm.layers import GatherExcite
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import Bottleneck, ResNet

GE_BLOCK = dict(block=Bottleneck, block_args=dict(attn_layer=partial(GatherExcite, extent=0, use_mlp=False)))
IMAGENET_CFG = dict(url="", num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.875,
                    interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                    first_conv="conv1", classifier="fc")
default_cfgs = generate_default_cfgs({"geresnet50": dict(IMAGENET_CFG), "geresnet101": dict(IMAGENET_CFG)})


@register_model
def geresnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with Gather-Excite (GE-theta-minus, global extent) in every bottleneck."""
    return build_model_with_cfg(ResNet, "geresnet50", pretrained, layers=(3, 4, 6, 3), **GE_BLOCK, **kwargs)


@register_model
def geresnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with Gather-Excite (GE-theta-minus, global extent) in every bottleneck."""
    return build_model_with_cfg(ResNet, "geresnet101", pretrained, layers=(3, 4, 23, 3), **GE_BLOCK, **kwargs)

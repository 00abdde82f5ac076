"""MMDetection's ResNet, widened to the harness's tiny smoke stand-ins, registered into mmdet's registry.

mmdet's ``ResNet`` knows depths 18-152 at width 64, and its C4 RoI stage (``ResLayer``) is fixed to
ResNet-50's widths. The smoke scale fine-tunes the harness's ``resnet_tiny`` (one basic block per stage,
widths 16-128; see ``harness.models.resnet_tiny``), so these subclasses add its architectures by name and a
``base_channels`` to the C4 stage. The module names and parameter names stay mmdet's (``conv1``, ``bn1``,
``layer1.0.conv1``...), which are also timm's, so one checkpoint conversion serves ResNet-50 and the stand-ins.
"""
from __future__ import annotations

from mmdet.models.backbones import ResNet
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.layers import ResLayer as make_res_layer
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS
from mmengine.model import BaseModule


@MODELS.register_module()
class StandInResNet(ResNet):
    """mmdet's ResNet with the harness's stand-in architectures as extra ``depth`` names."""

    arch_settings = {
        **ResNet.arch_settings,
        "tiny": (BasicBlock, (1, 1, 1, 1)),  # harness resnet_tiny (with base_channels=16)
        "tiny_deep": (BasicBlock, (2, 2, 2, 2)),  # harness resnet_tiny_deep
        "tiny_bottleneck": (Bottleneck, (1, 1, 1, 1)),
    }


@MODELS.register_module()
class StandInResLayer(ResLayer):
    """mmdet's C4 RoI stage (``ResLayer``) for any ``StandInResNet`` depth and width."""

    def __init__(self, depth: int | str, stage: int = 3, base_channels: int = 64, stride: int = 2, dilation: int = 1,
                 style: str = "pytorch", norm_cfg: dict | None = None, norm_eval: bool = True, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg or dict(type="BN", requires_grad=True)
        self.stage = stage
        block, stage_blocks = StandInResNet.arch_settings[depth]
        planes = base_channels * 2**stage
        inplanes = base_channels * 2 ** (stage - 1) * block.expansion
        layer = make_res_layer(block, inplanes, planes, stage_blocks[stage], stride=stride, dilation=dilation,
                               style=style, norm_cfg=self.norm_cfg)
        self.add_module(f"layer{stage + 1}", layer)

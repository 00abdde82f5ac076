"""Work-arounds for MMDetection 3.3.0 bugs on the harness's path, registered under their own names.

``SSDHead`` cannot predict in 3.3.0: ``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls``, which
``SSDHead`` (computing its loss by hand) never sets (open-mmlab/mmdetection#11305, #11780; the fix, PR #11524,
is not released). ``PredictingSSDHead`` sets it to None, which is what that check needs; nothing else changes.
"""
from __future__ import annotations

from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS


@MODELS.register_module()
class PredictingSSDHead(SSDHead):
    """mmdet's ``SSDHead``, able to predict (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_cls = None

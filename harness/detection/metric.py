"""VOC07 mean average precision, as both of the paper's detection codebases computed it: IoU 0.5, the
11-point interpolated AP of VOC2007's devkit, ``difficult`` objects ignored (neither hits nor misses), VOC's
inclusive pixel coordinates; mean over the classes that have objects. MMDetection's ``eval_map`` does the
matching; this module adds the per-class APs to what the metric reports.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np
from mmdet.evaluation.functional import eval_map
from mmdet.evaluation.metrics import VOCMetric
from mmdet.registry import METRICS

IOU_THRESHOLD = 0.5


def voc07_map(detections: Sequence[Sequence[np.ndarray]], annotations: Sequence[dict], classes: Sequence[str]
              ) -> tuple[float, dict[str, float]]:
    """mAP and per-class AP, in %.

    ``detections[image][class]``: (n, 5) arrays of x1, y1, x2, y2, score; ``annotations[image]``: ``bboxes``
    (n, 4), ``labels`` (n,), and the ignored (difficult) ones as ``bboxes_ignore``/``labels_ignore``.
    Classes without any object have no AP (they are left out of the mean, as in VOC's devkit).
    """
    _, results = eval_map(list(detections), list(annotations), iou_thr=IOU_THRESHOLD, eval_mode="11points",
                          use_legacy_coordinate=True, nproc=1, logger="silent")
    per_class = {name: 100.0 * float(result["ap"]) for name, result in zip(classes, results) if result["num_gts"] > 0}
    mean = float(np.mean(list(per_class.values()))) if per_class else 0.0
    return mean, per_class


@METRICS.register_module()
class VOC07Metric(VOCMetric):
    """mmdet's ``VOCMetric`` (same inputs) reporting ``mAP`` and ``AP_<class>`` in %, VOC07 11-point."""

    def __init__(self, **kwargs):
        super().__init__(metric="mAP", iou_thrs=IOU_THRESHOLD, eval_mode="11points", **kwargs)

    def compute_metrics(self, results: list) -> dict[str, float]:
        annotations, detections = zip(*results)
        mean, per_class = voc07_map(detections, annotations, self.dataset_meta["classes"])
        metrics = OrderedDict(mAP=mean)
        metrics.update((f"AP_{name}", ap) for name, ap in per_class.items())
        return metrics

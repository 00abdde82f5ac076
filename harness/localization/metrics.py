"""WSOL metrics, named as in the literature.

* Top-1 Loc (the CutMix paper's metric): top-1 class correct AND IoU >= 0.5 between the CAM box of the
  predicted class (threshold sigma, largest region) and a ground-truth box.
* GT-known Loc: IoU >= 0.5 with the CAM box of the true class (threshold sigma).
* MaxBoxAcc (Choe et al., CVPR 2020): GT-known Loc maximised over the CAM threshold.
* MaxBoxAccV2 (ibid.): for IoU 0.3, 0.5 and 0.7, the box accuracy maximised over the threshold with the
  best of all regions' boxes; the mean over the three IoUs.
With several ground-truth boxes an image counts the best IoU over them. Figures are in percent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.localization.boxes import cam_boxes, iou

PAPER_THRESHOLD = 0.15  # sigma of the CutMix paper
THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)  # Choe et al.'s CAM threshold grid
V2_IOUS = (0.3, 0.5, 0.7)


@dataclass
class LocalizationScores:
    top1_loc: float
    gt_known_loc: float
    max_box_acc: float
    max_box_acc_v2: float
    top1_cls: float
    best_threshold: float


def best_ious(maps: torch.Tensor, gt_boxes: list[np.ndarray], threshold: float, largest_only: bool) -> np.ndarray:
    """For each image, the best IoU between its CAM boxes at ``threshold`` and its ground-truth boxes."""
    out = np.zeros(len(gt_boxes))
    for index, (boxes, truth) in enumerate(zip(cam_boxes(maps, threshold, largest_only), gt_boxes)):
        if len(boxes) and len(truth):
            out[index] = iou(boxes, truth).max()
    return out


def localization_scores(true_maps: torch.Tensor, predicted_maps: torch.Tensor, correct: np.ndarray,
                        gt_boxes: list[np.ndarray], threshold: float = PAPER_THRESHOLD,
                        thresholds: np.ndarray = THRESHOLDS) -> LocalizationScores:
    """All metrics for normalised CAMs of the true class and of the predicted class ``[B, H, W]``.

    ``correct``: whether each image's top-1 prediction is right; ``gt_boxes``: per image ``[n, 4]``.
    """
    correct = np.asarray(correct, dtype=bool)
    predicted_iou = best_ious(predicted_maps, gt_boxes, threshold, largest_only=True)
    known_iou = best_ious(true_maps, gt_boxes, threshold, largest_only=True)
    sweep = np.array([(best_ious(true_maps, gt_boxes, t, True) >= 0.5).mean() for t in thresholds])
    all_regions = [best_ious(true_maps, gt_boxes, t, largest_only=False) for t in thresholds]
    v2 = [max((ious >= delta).mean() for ious in all_regions) for delta in V2_IOUS]
    return LocalizationScores(
        top1_loc=100.0 * float(np.mean(correct & (predicted_iou >= 0.5))),
        gt_known_loc=100.0 * float(np.mean(known_iou >= 0.5)),
        max_box_acc=100.0 * float(sweep.max()),
        max_box_acc_v2=100.0 * float(np.mean(v2)),
        top1_cls=100.0 * float(correct.mean()),
        best_threshold=float(thresholds[int(sweep.argmax())]),
    )

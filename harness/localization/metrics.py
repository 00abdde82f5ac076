"""WSOL metrics, named and computed as in the literature (boxes: :mod:`harness.localization.boxes`).

* Top-1 Loc (the CutMix paper's metric): top-1 class correct AND IoU >= 0.5 between the box of the largest
  contour of the predicted class's CAM at sigma and a ground-truth box.
* GT-known Loc: IoU >= 0.5 with the largest contour's box of the true class's CAM at sigma.
* MaxBoxAcc (Choe et al., CVPR 2020): GT-known Loc maximised over the CAM threshold grid.
* MaxBoxAccV2 (ibid.): for IoU 0.3, 0.5 and 0.7, the box accuracy maximised over the threshold with the
  best of all contours' boxes; the mean over the three IoUs.
With several ground-truth boxes an image counts the best IoU over them. Ground-truth boxes are integer,
corner-inclusive (x0, y0, x1, y1) in the evaluated image, as wsolevaluation resizes them. Figures in percent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.localization.boxes import contour_boxes, iou, to_uint8
from harness.localization.protocol import PAPER_THRESHOLD

CAM_CURVE_INTERVAL = 0.01  # wsolevaluation's threshold step for MaxBoxAcc/MaxBoxAccV2
THRESHOLDS = np.arange(0, 1, CAM_CURVE_INTERVAL)  # its grid, built the same way (values as np.arange gives them)
V2_IOUS = (30, 50, 70)  # percent, as wsolevaluation's iou_threshold_list


@dataclass
class LocalizationScores:
    top1_loc: float
    gt_known_loc: float
    max_box_acc: float
    max_box_acc_v2: float
    top1_cls: float
    best_threshold: float


def best_iou_curves(maps: torch.Tensor, gt_boxes: list[np.ndarray], thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image and threshold ``[B, T]``: the best IoU with the ground truth of the largest contour's box,
    and of any contour's box."""
    largest = np.zeros((len(gt_boxes), len(thresholds)))
    any_contour = np.zeros_like(largest)
    for index, (image, truth) in enumerate(zip(to_uint8(maps), gt_boxes)):
        for t, threshold in enumerate(thresholds):
            boxes, top = contour_boxes(image, threshold)
            overlaps = iou(boxes, truth, inclusive=True).max(axis=1)
            largest[index, t], any_contour[index, t] = overlaps[top], overlaps.max()
    return largest, any_contour


def localization_scores(true_maps: torch.Tensor, predicted_maps: torch.Tensor, correct: np.ndarray,
                        gt_boxes: list[np.ndarray], threshold: float = PAPER_THRESHOLD,
                        thresholds: np.ndarray = THRESHOLDS) -> LocalizationScores:
    """All metrics for normalised CAMs of the true class and of the predicted class ``[B, H, W]``.

    ``correct``: whether each image's top-1 prediction is right; ``gt_boxes``: per image ``[n, 4]``.
    """
    correct = np.asarray(correct, dtype=bool)
    predicted_iou = best_iou_curves(predicted_maps, gt_boxes, [threshold])[0][:, 0]
    known_iou = best_iou_curves(true_maps, gt_boxes, [threshold])[0][:, 0]
    largest, any_contour = best_iou_curves(true_maps, gt_boxes, thresholds)
    box_acc = (largest >= 0.5).mean(axis=0)
    v2 = [(any_contour >= delta / 100).mean(axis=0).max() for delta in V2_IOUS]
    return LocalizationScores(
        top1_loc=100.0 * float(np.mean(correct & (predicted_iou >= 0.5))),
        gt_known_loc=100.0 * float(np.mean(known_iou >= 0.5)),
        max_box_acc=100.0 * float(box_acc.max()),
        max_box_acc_v2=100.0 * float(np.mean(v2)),
        top1_cls=100.0 * float(correct.mean()),
        best_threshold=float(thresholds[int(box_acc.argmax())]),
    )

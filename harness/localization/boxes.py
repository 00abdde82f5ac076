"""Boxes from CAMs: threshold at a fraction of the maximum, then the tight box of connected regions.

Boxes are (x1, y1, x2, y2) in pixels with x2/y2 exclusive (a box of one pixel at (x, y) is
(x, y, x+1, y+1)), as the embedded data set's annotations.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def component_boxes(mask: np.ndarray, largest_only: bool = True) -> np.ndarray:
    """Tight boxes ``[n, 4]`` of the 8-connected regions of a boolean ``[H, W]`` mask (largest first).

    With ``largest_only`` only the region with the most pixels (the paper's protocol); otherwise all
    regions (MaxBoxAccV2's "all contours"). An empty mask gives no box.
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros((0, 4), dtype=np.int64)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    order = np.argsort(-sizes, kind="stable")
    slices = ndimage.find_objects(labels)
    boxes = np.array([[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in slices], dtype=np.int64)[order]
    return boxes[:1] if largest_only else boxes


def cam_boxes(maps: torch.Tensor, threshold: float, largest_only: bool = True) -> list[np.ndarray]:
    """For normalised maps ``[B, H, W]``: the boxes of the regions where map >= threshold * max."""
    peaks = maps.flatten(1).max(dim=1).values.view(-1, 1, 1)
    masks = (maps >= threshold * peaks).cpu().numpy()
    return [component_boxes(mask, largest_only) for mask in masks]


def iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``[len(a), len(b)]`` of (x1, y1, x2, y2) boxes (x2/y2 exclusive)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(min=0)
    height = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(min=0)
    inter = width * height
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)

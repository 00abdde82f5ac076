"""Boxes from CAMs exactly as the WSOL evaluation code computes them (wsolevaluation, Choe et al., CVPR 2020;
the CAM-based WSOL code bases compute the paper's Top-1 Loc the same way).

A normalised map in [0, 1] becomes ``uint8(map * 255)``; at a threshold t, OpenCV keeps the pixels strictly
above ``int(t * max)``, finds their contours (``RETR_TREE``, ``CHAIN_APPROX_SIMPLE``) and boxes each with
``boundingRect``. Boxes are (x0, y0, x1, y1) integer pixels with x1 = x + w and y1 = y + h clipped to
W − 1 and H − 1, and IoU counts corners inclusively (area (x1 − x0 + 1)(y1 − y0 + 1)), as the reference
does. A map with nothing above the threshold gives the box (0, 0, 0, 0).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

NO_BOX = np.zeros((1, 4), dtype=np.int64)


def to_uint8(maps: torch.Tensor | np.ndarray) -> np.ndarray:
    """Normalised float maps ``[..., H, W]`` as the reference's uint8 score images (``(m * 255).astype(uint8)``)."""
    maps = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
    return (maps.astype(np.float32) * 255).astype(np.uint8)


def contour_boxes(image: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """Every contour's box ``[n, 4]`` of a uint8 score image ``[H, W]`` at ``threshold`` (a fraction of its
    maximum), and the index of the contour with the largest area (OpenCV's ``contourArea``, first on ties)."""
    height, width = image.shape
    _, binary = cv2.threshold(image, int(threshold * np.max(image)), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]  # OpenCV 3 and 4
    if len(contours) == 0:
        return NO_BOX, 0
    boxes = np.empty((len(contours), 4), dtype=np.int64)
    for index, contour in enumerate(contours):
        x, y, w, h = cv2.boundingRect(contour)
        boxes[index] = (x, y, min(x + w, width - 1), min(y + h, height - 1))
    areas = [cv2.contourArea(contour) for contour in contours]
    return boxes, int(np.argmax(areas))


def cam_boxes(maps: torch.Tensor | np.ndarray, threshold: float, largest_only: bool = True) -> list[np.ndarray]:
    """For normalised maps ``[B, H, W]``: per map, the box of the largest contour at ``threshold`` (the paper's
    protocol, ``[1, 4]``) or, with ``largest_only=False``, the boxes of all contours (MaxBoxAccV2)."""
    out = []
    for image in to_uint8(maps):
        boxes, largest = contour_boxes(image, threshold)
        out.append(boxes[largest : largest + 1] if largest_only else boxes)
    return out


def iou(boxes_a: np.ndarray, boxes_b: np.ndarray, inclusive: bool = False) -> np.ndarray:
    """Pairwise IoU ``[len(a), len(b)]`` of (x0, y0, x1, y1) boxes; 0 where the union is empty.

    ``inclusive``: x1/y1 are the last pixel (wsolevaluation's convention, areas + 1); otherwise one past it
    (the generated data sets' annotations).
    """
    extra = 1.0 if inclusive else 0.0
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + extra).clip(min=0)
    height = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + extra).clip(min=0)
    inter = width * height
    area = lambda box: (box[..., 2] - box[..., 0] + extra) * (box[..., 3] - box[..., 1] + extra)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)

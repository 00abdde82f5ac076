"""Weakly supervised localization: class activation maps, CAM boxes and the WSOL metrics."""
from harness.localization.boxes import cam_boxes, iou
from harness.localization.cam import class_activation_maps, normalize_maps
from harness.localization.metrics import LocalizationScores, localization_scores

__all__ = ["cam_boxes", "class_activation_maps", "iou", "localization_scores", "LocalizationScores", "normalize_maps"]

"""Weakly supervised localization: class activation maps, CAM boxes and the WSOL metrics (imported on first use)."""
from harness.lazy import lazy_exports

__all__ = ["cam_boxes", "class_activation_maps", "iou", "localization_scores", "LocalizationScores", "normalize_maps"]
__getattr__ = lazy_exports(__name__, {"cam_boxes": "boxes", "iou": "boxes", "class_activation_maps": "cam",
                                      "normalize_maps": "cam", "LocalizationScores": "metrics",
                                      "localization_scores": "metrics"})

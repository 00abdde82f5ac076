"""Out-of-distribution detection by the maximum softmax probability (Hendrycks & Gimpel 2017; no temperature,
no input perturbation), scored as Lee et al. (2018)'s ``calculate_log.py`` scores it (the code ODIN's successors
use), with the in-distribution images as the positive class.

Lee et al.'s curve walks the sorted in ("known") and out ("novel") scores together from the lowest, one image
at a time, removing an out image first only where it scores strictly lower: at a tie the in image goes first,
so tied scores count against the detector. On that curve of ``n_in + n_out + 1`` points:

* TNR at 95 % TPR: ``1 - FPR`` at the first point (the highest FPR) whose TPR is closest to 0.95;
* AUROC: the trapezoid area under (FPR, TPR) with the end points (1, 1) and (0, 0) added;
* detection accuracy: ``max over the points of 0.5 * (TPR + 1 - FPR)``.
"""
from __future__ import annotations

import numpy as np
import torch

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2 renamed it


def max_softmax(logits: torch.Tensor) -> np.ndarray:
    """The baseline detector's score: the largest softmax probability of each image (higher = in-distribution)."""
    return torch.softmax(logits.float(), dim=1).max(dim=1).values.cpu().numpy()


def lee_curve(in_scores: np.ndarray, out_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True- and false-positive counts along Lee et al.'s curve (their ``get_curve``'s ``tp`` and ``fp``)."""
    scores = np.concatenate([np.asarray(in_scores, np.float64), np.asarray(out_scores, np.float64)])
    is_in = np.concatenate([np.ones(len(in_scores), bool), np.zeros(len(out_scores), bool)])
    order = np.lexsort((~is_in, scores))  # ascending score; at a tie the in image comes first
    removed_in = np.concatenate([[0], np.cumsum(is_in[order])])
    removed_out = np.concatenate([[0], np.cumsum(~is_in[order])])
    return len(in_scores) - removed_in, len(out_scores) - removed_out


def ood_metrics(in_scores: np.ndarray, out_scores: np.ndarray) -> dict[str, float]:
    """TNR at 95 % TPR, AUROC and detection accuracy, in percent, as Lee et al.'s ``metric`` computes them."""
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise ValueError("OOD metrics need at least one in- and one out-of-distribution score")
    tp, fp = lee_curve(in_scores, out_scores)
    tpr, fpr = tp / tp[0], fp / fp[0]
    at_95 = np.abs(tpr - 0.95).argmin()  # the first of the nearest: the highest FPR among them
    auroc = -_trapezoid(1.0 - np.concatenate([[1.0], fpr, [0.0]]), np.concatenate([[1.0], tpr, [0.0]]))
    return {"tnr_at_tpr95": 100.0 * (1.0 - fpr[at_95]), "auroc": 100.0 * float(auroc),
            "detection_acc": 100.0 * float((0.5 * (tpr + 1.0 - fpr)).max())}

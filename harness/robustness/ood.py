"""Out-of-distribution detection by the maximum softmax probability (Hendrycks & Gimpel 2017; no temperature,
no input perturbation), and the metrics of ODIN (Liang et al. 2018) and Lee et al. (2018), with the
in-distribution images as the positive class, from scikit-learn's ROC.

* TNR at 95 % TPR: ``1 - FPR`` at the ROC point whose TPR is closest to 0.95 (as Lee et al.'s code picks it).
* AUROC: the area under the ROC curve (``roc_auc_score``: ties count one half).
* Detection accuracy: ``max over thresholds of 0.5 * (TPR + TNR)``, equal priors on both sets.
"""
from __future__ import annotations

import numpy as np
import torch


def max_softmax(logits: torch.Tensor) -> np.ndarray:
    """The baseline detector's score: the largest softmax probability of each image (higher = in-distribution)."""
    return torch.softmax(logits.float(), dim=1).max(dim=1).values.cpu().numpy()


def ood_metrics(in_scores: np.ndarray, out_scores: np.ndarray) -> dict[str, float]:
    """TNR at 95 % TPR, AUROC and detection accuracy, in percent."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.concatenate([np.ones(len(in_scores)), np.zeros(len(out_scores))])
    scores = np.concatenate([in_scores, out_scores]).astype(np.float64)
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    at_95 = np.argmin(np.abs(tpr - 0.95))
    return {"tnr_at_tpr95": 100.0 * (1.0 - fpr[at_95]), "auroc": 100.0 * roc_auc_score(truth, scores),
            "detection_acc": 100.0 * float(np.max(0.5 * (tpr + 1.0 - fpr)))}

"""Holdout metrics for binary scores: ROC AUC, PR AUC, log loss, Brier, ECE."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-15


def ece(y, score, bins: int = 10) -> float:
    """Expected calibration error over equal-width score bins: sum of |rate - mean score| weighted by bin share."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    index = np.minimum((score * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, weights=y, minlength=bins) - np.bincount(index, weights=score, minlength=bins))
    return float(gap.sum() / count.sum())


def scores(y, score) -> dict[str, float]:
    """roc_auc, pr_auc, log_loss, brier, ece, base_rate, rows; AUCs are NaN when one class is missing."""
    y = np.asarray(y, dtype=int)
    score = np.clip(np.asarray(score, dtype=float), EPS, 1 - EPS)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "log_loss": float(log_loss(y, score, labels=[0, 1])),
        "brier": float(brier_score_loss(y, score)),
        "ece": ece(y, score),
        "base_rate": float(y.mean()),
        "rows": int(len(y)),
    }

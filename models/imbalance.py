"""Negative undersampling and the prior correction that keeps its scores calibrated."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


def undersample(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A mask keeping every positive and about `rate` of the negatives."""
    keep = np.random.default_rng(seed).random(len(y)) < rate
    return (np.asarray(y) == 1) | keep


class PriorCorrection(ClassifierMixin, BaseEstimator):
    """Undo negative undersampling: odds are multiplied by the share of negatives kept."""

    def __init__(self, estimator=None, sampling_rate=1.0):
        self.estimator = estimator
        self.sampling_rate = sampling_rate

    def fit(self, X, y, **fit_params):
        self.estimator.fit(X, y, **fit_params)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = self.estimator.predict_proba(X)[:, 1]
        corrected = self.sampling_rate * p / (self.sampling_rate * p + 1 - p)
        return np.column_stack([1 - corrected, corrected])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

"""Calibration fitted from the scores a model already gave, so each split is predicted once."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator


class _GivenScores(ClassifierMixin, BaseEstimator):
    """Scores a model already gave, passed as X's one column, served back as its predict_proba."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        score = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - score, score])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def calibrate_on_scores(model, valid_scores: np.ndarray, y_valid: np.ndarray, method: str) -> CalibratedClassifierCV:
    """`CalibratedClassifierCV(FrozenEstimator(model), method).fit(X_valid, y_valid)`, from the model's scores on X_valid.

    The calibrators see exactly what they would see (sklearn only reads the model's scores), but the valid split is
    predicted once, here and by the caller's metrics alike, instead of twice.
    """
    final = CalibratedClassifierCV(FrozenEstimator(_GivenScores().fit(None, None)), method=method)
    final.fit(valid_scores.reshape(-1, 1), y_valid)
    final.estimator = FrozenEstimator(model)
    for pair in final.calibrated_classifiers_:  # each pair scores X with its estimator, then calibrates
        pair.estimator = final.estimator
    for name in ("n_features_in_", "feature_names_in_"):
        if hasattr(model, name):
            setattr(final, name, getattr(model, name))
    return final


def calibrated_scores(final, raw: np.ndarray) -> np.ndarray:
    """`final.predict_proba(X)[:, 1]` from the model's scores on X, so each split is predicted once."""
    if not isinstance(final, CalibratedClassifierCV):
        return raw
    if hasattr(final.estimator, "decision_function"):  # sklearn would calibrate those values, not probabilities
        raise TypeError("calibrated_scores needs a model without decision_function")
    # What sklearn's binary _CalibratedClassifier does with the positive-class score, averaged over folds.
    each = [c.calibrators[0].predict(raw) for c in final.calibrated_classifiers_]
    return np.mean([np.where((p > 1.0) & (p <= 1.0 + 1e-5), 1.0, p) for p in each], axis=0)

"""Feature importance of any fitted model: its own `feature_importances_`, else permutation on the test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance as sklearn_permutation_importance

PERMUTATION_ROWS = 2_000  # test rows sampled: a few seconds at most, whatever the split's size
PERMUTATION_REPEATS = 3


def feature_importance(estimator, X: pd.DataFrame, y: np.ndarray, seed: int) -> pd.DataFrame:
    """Columns: feature, importance. The model's own when it has one (gain, |coef| × spread, …), else by permutation."""
    if hasattr(estimator, "feature_importances_"):
        return pd.DataFrame({"feature": list(X.columns), "importance": estimator.feature_importances_})
    return permutation_importance(estimator, X, y, seed)


def permutation_importance(
    estimator, X: pd.DataFrame, y: np.ndarray, seed: int, rows: int = PERMUTATION_ROWS, repeats: int = PERMUTATION_REPEATS
) -> pd.DataFrame:
    """Mean drop in ROC AUC when one column is shuffled, on at most `rows` seeded rows of X. Columns: feature, importance.

    NaN for every feature when y holds one class (ROC AUC is undefined there).
    """
    y = pd.Series(np.asarray(y), index=X.index)
    if len(X) > rows:
        X = X.sample(rows, random_state=seed)
    y = y.loc[X.index].to_numpy()
    if len(np.unique(y)) < 2:
        return pd.DataFrame({"feature": list(X.columns), "importance": np.nan})
    found = sklearn_permutation_importance(estimator, X, y, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1)
    return pd.DataFrame({"feature": list(X.columns), "importance": found.importances_mean})

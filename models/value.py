"""The value stage: regressors of revenue on converters (log1p with a smearing correction), and the model that logs
the classifier with them, returning probability and expected value."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge

from models.gbdt import GBDTClassifier
from models.linear import LinearClassifier

EXPECTED_VALUE = "expected_value"
PROBABILITY = "probability"


class GBDTRegressor(RegressorMixin, GBDTClassifier):
    """LightGBM regression on raw frames, the gbdt family's categories and safe booster names included."""

    def _new_booster(self):
        import lightgbm as lgb

        return lgb.LGBMRegressor(**self._booster_params())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._prepare(X))


class LinearRegressor(RegressorMixin, LinearClassifier):
    """Ridge regression (alpha = 1 / C) over the linear family's one-hot and scaled columns."""

    def _new_model(self):
        return Ridge(alpha=1.0 / self.C, random_state=self.random_state)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._prepare(X))


def regressor(family: str, categorical: list[str] | None, seed: int, rows: int) -> BaseEstimator:
    """The value stage's regressor of `family`; leaves may hold fewer rows than the classifier's (converters are few)."""
    if family == "linear":
        return LinearRegressor(C=1.0, min_frequency=max(5, min(20, rows // 200)), categorical=categorical, random_state=seed)
    return GBDTRegressor(min_child_samples=max(5, min(50, rows // 100)), categorical=categorical, random_state=seed)


class LogValueRegressor(RegressorMixin, BaseEstimator):
    """E[value | row] from `estimator` fitted on log1p(value), back-transformed with Duan's smearing estimate.

    exp(f(x)) − 1 is the median of a log-normal value, not its mean; the mean is exp(f(x)) · E[exp(residual)] − 1
    when residuals do not depend on x. The factor is estimated on the eval_set's residuals when given (a boosted
    model's own training residuals are too small), else on the training rows.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X: pd.DataFrame, y, eval_set=None):
        target = _log_target(y)
        held = None
        if eval_set is not None and len(eval_set[1]):
            held = (eval_set[0], _log_target(eval_set[1]))
        self.estimator_ = clone(self.estimator).fit(X, target, eval_set=held)
        X_smear, t_smear = held if held is not None else (X, target)
        self.smearing_ = float(np.mean(np.exp(t_smear - self.estimator_.predict(X_smear))))
        return self

    def predict_log(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted log1p(value), before the smearing correction."""
        return np.asarray(self.estimator_.predict(X), dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.clip(np.exp(self.predict_log(X)) * self.smearing_ - 1.0, 0.0, None)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values of log1p(value) (before smearing); the last column `_base`."""
        return self.estimator_.contributions(X)


def _log_target(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("value stage targets must be finite and >= 0")
    return np.log1p(values)


class ValueModel(BaseEstimator):
    """The logged model of a run with a value stage: the calibrated classifier and one value regressor per horizon.

    predict_proba is the classifier's (every scorer reads it); predict gives the frame pyfunc returns: probability,
    expected_value (= probability × E[value column | converted]) and, with several horizons, expected_value.<h> per
    horizon. The later horizons' regressors predict the increment over the previous horizon, never negative, so
    the values along the horizons never decrease.
    """

    def __init__(self, classifier, stages, columns, value_column):
        self.classifier = classifier
        self.stages = stages  # one fitted LogValueRegressor per column: the first the level, the others increments
        self.columns = columns
        self.value_column = value_column

    @property
    def horizons(self) -> list[str]:
        return list(self.columns) if len(self.columns) > 1 else []

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(X)

    def value_if_converted(self, X: pd.DataFrame) -> pd.DataFrame:
        """E[value | converted] per value column, cumulative along the horizons. Columns: the value columns."""
        parts = np.column_stack([stage.predict(X) for stage in self.stages])
        return pd.DataFrame(np.cumsum(parts, axis=1), columns=list(self.columns), index=X.index)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns: probability, expected_value, and expected_value.<h> per horizon when there are several."""
        probability = self.predict_proba(X)[:, 1]
        values = self.value_if_converted(X)
        out = {PROBABILITY: probability, EXPECTED_VALUE: probability * values[self.value_column].to_numpy()}
        for column in self.horizons:
            out[f"{EXPECTED_VALUE}.{column}"] = probability * values[column].to_numpy()
        return pd.DataFrame(out, index=X.index)

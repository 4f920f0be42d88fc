"""Logistic regression: one-hot (rare levels pooled), imputed and scaled numerics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models import Param
from models.base import TabularClassifier, text_frame

NAME = "linear"
PARAMS = (
    Param("C", float, 1.0, 1e-4, 100.0, "Inverse L2 strength: smaller is more regular", log=True),
    Param("min_frequency", int, 20, 1, 100_000, "Levels seen fewer times are pooled as 'infrequent'", log=True),
    Param("max_iter", int, 500, 50, 10_000, "Most solver iterations", searched=False),
)


class LinearClassifier(TabularClassifier):
    """Logistic regression over one-hot categories and standardised numerics (with missing flags)."""

    def __init__(self, C=1.0, min_frequency=20, max_iter=500, categorical=None, class_weight=None, random_state=0):
        self.C = C
        self.min_frequency = min_frequency
        self.max_iter = max_iter
        self.categorical = categorical
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, eval_set=None):
        self._remember_columns(X)
        self.encoder_ = ColumnTransformer(
            [
                ("cat", make_pipeline(FunctionTransformer(text_frame, feature_names_out="one-to-one"), OneHotEncoder(min_frequency=self.min_frequency, handle_unknown="infrequent_if_exist")), self.categorical_),
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()), self.numeric_),
            ],
            sparse_threshold=0.0,
        )  # fmt: skip
        encoded = self.encoder_.fit_transform(self._numbers_as_float(X))
        self.model_ = self._new_model()
        self.model_.fit(encoded, np.asarray(y))
        self.mean_encoded_ = encoded.mean(axis=0)
        self.scale_encoded_ = encoded.std(axis=0)
        self.source_ = self._sources()
        return self

    def _new_model(self):
        return LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, random_state=self.random_state)

    def _prepare(self, X: pd.DataFrame) -> np.ndarray:
        return self.encoder_.transform(self._numbers_as_float(X))

    def _sources(self) -> np.ndarray:
        """The input column behind each encoded column (one-hot levels and missing flags fold back)."""
        names = self.encoder_.get_feature_names_out()
        out = []
        for name in names:
            block, rest = name.split("__", 1)
            pool = self.categorical_ if block == "cat" else self.numeric_
            rest = rest.removeprefix("missingindicator_")
            out.append(max((c for c in pool if rest == c or rest.startswith(f"{c}_")), key=len))
        return np.array(out, dtype=object)

    @property
    def feature_importances_(self) -> np.ndarray:
        """|coefficient| × spread of each encoded column, summed per input column."""
        weights = pd.Series(np.abs(self._coef()) * self.scale_encoded_, index=self.source_)
        return weights.groupby(level=0).sum().reindex(self.feature_names_in_).to_numpy()

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact SHAP values in log-odds: coef * (x - mean x) per encoded column, summed per input column."""
        encoded = self._prepare(X)
        parts = (encoded - self.mean_encoded_) * self._coef()
        frame = pd.DataFrame(parts, columns=self.source_, index=X.index).T.groupby(level=0).sum().T
        frame = frame.reindex(columns=self.feature_names_in_)
        frame["_base"] = float(np.ravel(self.model_.intercept_)[0] + self.mean_encoded_ @ self._coef())
        return frame

    def _coef(self) -> np.ndarray:
        """The weights of the encoded columns (a regressor's coef_ is 1-d, a binary classifier's one row)."""
        return np.ravel(self.model_.coef_)


def build(params: dict, spec) -> LinearClassifier:
    weights = {"class_weight": "balanced"} if spec.imbalance.method in ("class_weight", "scale_pos_weight") else {}
    return LinearClassifier(**params, **weights, categorical=spec.categorical, random_state=spec.seed)

"""Random forest or extra trees over ordinal-encoded categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from models import Param
from models.base import TabularClassifier, text_frame

NAME = "forest"
PARAMS = (
    Param("kind", str, "random_forest", help="random_forest or extra_trees", choices=("random_forest", "extra_trees")),
    Param("n_estimators", int, 200, 10, 2000, "Trees", log=True, searched=False),
    Param("max_depth", int, 12, 2, 64, "Deepest a tree grows"),
    Param("min_samples_leaf", int, 50, 1, 10_000, "Fewest rows in a leaf", log=True),
    Param("max_features", float, 0.5, 0.05, 1.0, "Share of features tried at each split"),
)


class ForestClassifier(TabularClassifier):
    """A random forest (or extra trees) with categories as ordinal codes; unknown levels code to -1."""

    # shap.TreeExplainer holds the GIL and costs ~14 ms a row on 200 trees of depth 12 (27 s for 2,000 rows at 45k
    # training rows, three times the fit): a job explains at most this many test rows of a forest.
    shap_row_cap = 500

    def __init__(self, kind="random_forest", n_estimators=200, max_depth=12, min_samples_leaf=50, max_features=0.5,
                 categorical=None, class_weight=None, random_state=0):  # fmt: skip
        self.kind = kind
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.categorical = categorical
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, eval_set=None):
        self._remember_columns(X)
        self.encoder_ = ColumnTransformer(
            [
                ("cat", make_pipeline(FunctionTransformer(text_frame, feature_names_out="one-to-one"), OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)), self.categorical_),
                ("num", SimpleImputer(strategy="median", keep_empty_features=True), self.numeric_),
            ],
            sparse_threshold=0.0,
        )  # fmt: skip
        trees = RandomForestClassifier if self.kind == "random_forest" else ExtraTreesClassifier
        self.model_ = trees(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=-1,
        )
        self.model_.fit(self.encoder_.fit_transform(self._numbers_as_float(X)), np.asarray(y))
        return self

    def _prepare(self, X: pd.DataFrame) -> np.ndarray:
        return self.encoder_.transform(self._numbers_as_float(X))

    @property
    def feature_importances_(self) -> np.ndarray:
        order = [*self.categorical_, *self.numeric_]
        return pd.Series(self.model_.feature_importances_, index=order).reindex(self.feature_names_in_).to_numpy()

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values (probability scale) from shap.TreeExplainer; the last column is the base value."""
        import shap

        explainer = shap.TreeExplainer(self.model_)
        values = explainer.shap_values(self._prepare(X), check_additivity=False)
        values = values[..., 1] if np.ndim(values) == 3 else values[1]
        order = [*self.categorical_, *self.numeric_]
        frame = pd.DataFrame(values, columns=order, index=X.index).reindex(columns=self.feature_names_in_)
        frame["_base"] = float(np.ravel(explainer.expected_value)[-1])
        return frame


def build(params: dict, spec) -> ForestClassifier:
    weights = {"class_weight": "balanced"} if spec.imbalance.method in ("class_weight", "scale_pos_weight") else {}
    return ForestClassifier(**params, **weights, categorical=spec.categorical, random_state=spec.seed)

"""LightGBM with native categoricals and early stopping on the valid split."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models import Param
from models.base import TabularClassifier, as_categorical, as_float, with_levels

NAME = "gbdt"
PARAMS = (
    Param("n_estimators", int, 600, 10, 5000, "Most boosting rounds; early stopping on the valid split picks fewer", searched=False),
    Param("learning_rate", float, 0.05, 0.005, 0.5, "Shrinkage per round", log=True),
    Param("num_leaves", int, 31, 4, 512, "Leaves per tree", log=True),
    Param("min_child_samples", int, 100, 5, 5000, "Fewest rows in a leaf", log=True),
    Param("subsample", float, 0.8, 0.3, 1.0, "Share of rows per tree (bagging every round)"),
    Param("colsample_bytree", float, 0.8, 0.3, 1.0, "Share of features per tree"),
    Param("reg_lambda", float, 1.0, 0.0, 100.0, "L2 penalty on leaf values"),
    Param("cat_smooth", float, 10.0, 0.0, 100.0, "Smoothing of categorical splits"),
    Param("early_stopping_rounds", int, 50, 5, 500, "Stop after this many rounds without valid improvement", searched=False),
)


class GBDTClassifier(TabularClassifier):
    """LightGBM on raw frames: text columns become categories learned at fit time (unknown -> missing).

    The booster sees the columns as f0, f1, … (LightGBM refuses names holding JSON characters such as `[`, `,`, `"`);
    importance and contributions come back under the frame's own names.
    """

    def __init__(self, n_estimators=600, learning_rate=0.05, num_leaves=31, min_child_samples=100, subsample=0.8,
                 colsample_bytree=0.8, reg_lambda=1.0, cat_smooth=10.0, early_stopping_rounds=50, categorical=None,
                 class_weight=None, scale_pos_weight=1.0, random_state=0):  # fmt: skip
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.cat_smooth = cat_smooth
        self.early_stopping_rounds = early_stopping_rounds
        self.categorical = categorical
        self.class_weight = class_weight
        self.scale_pos_weight = scale_pos_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, eval_set=None, callbacks=(), eval_metric=None):
        self._remember_columns(X)
        self.booster_names_ = [f"f{i}" for i in range(len(self.feature_names_in_))]
        coded = {c: with_levels(X[c]) for c in self.categorical_}  # the levels and the training codes in one pass
        self.categories_ = {c: levels for c, (_, levels) in coded.items()}
        self.model_ = self._new_booster()
        fit_args = {"callbacks": list(callbacks), "eval_metric": eval_metric}
        if eval_set is not None:
            X_valid, y_valid = eval_set
            fit_args["eval_X"], fit_args["eval_y"] = self._prepare(X_valid), np.asarray(y_valid)
            fit_args["callbacks"].append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        internal = dict(zip(self.feature_names_in_, self.booster_names_, strict=True))
        categorical = [internal[c] for c in self.categorical_]
        training = self._prepare(X, {c: values for c, (values, _) in coded.items()})
        self.model_.fit(training, np.asarray(y), categorical_feature=categorical or "auto", **fit_args)
        return self

    def _booster_params(self) -> dict:
        """LightGBM's parameters shared by the classifier and the value stage's regressor."""
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1 else 0,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "cat_smooth": self.cat_smooth,
            "random_state": self.random_state,
            "n_jobs": -1,
            "verbose": -1,
        }

    def _new_booster(self):
        return lgb.LGBMClassifier(**self._booster_params(), class_weight=self.class_weight, scale_pos_weight=self.scale_pos_weight)

    def _prepare(self, X: pd.DataFrame, coded: dict | None = None) -> pd.DataFrame:
        """The booster's input: categories over the fitted levels, numbers as float64, columns under booster names."""
        names = getattr(self, "booster_names_", self.feature_names_in_)  # models logged before booster names used their own
        coded = coded or {}
        out = {}
        for column, name in zip(self.feature_names_in_, names, strict=True):
            if column in self.categories_:
                out[name] = coded[column] if column in coded else as_categorical(X[column], self.categories_[column])
            else:
                out[name] = as_float(X[column])
        # copy=False: LightGBM makes its own array from the frame, so stacking the numbers into one block first is waste.
        return pd.DataFrame(out, index=X.index, copy=False)

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.model_.booster_.feature_importance(importance_type="gain")

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values in log-odds from LightGBM's pred_contrib; the last column is the base value."""
        values = self.model_.predict(self._prepare(X), pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.feature_names_in_, "_base"], index=X.index)


def build(params: dict, spec) -> GBDTClassifier:
    weights = {"class_weight": "balanced"} if spec.imbalance.method == "class_weight" else {}
    return GBDTClassifier(**params, **weights, categorical=spec.categorical, random_state=spec.seed)

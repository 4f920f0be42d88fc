"""Ensembles of the other families: the average of calibrated probabilities, stacking, or bagged hashed SGD.

- average: each member is fitted on the training rows (early stopping on the valid rows, as alone), calibrated on the
  valid rows, and the ensemble's score is the mean of the calibrated probabilities. Members are calibrated with the
  spec's method, or sigmoid when the spec says none: averaging probabilities on different scales lets the worse
  calibrated member pull the mean its way, and sigmoid's two parameters cannot overfit a small valid split.
- stacking: out-of-fold member scores (stratified folds inside the training rows, seeded) feed a logistic regression
  on the members' log-odds; the members are then refitted on all training rows. Early stopping inside a fold uses the
  valid rows, never the held-out fold, so no out-of-fold score has seen its own row.
- bagged_sgd: `bags` hashed SGD members, each with its own seed and hash size (2^18, 2^19, 2^20, 2^21, cycling),
  averaged: the Avazu pattern. They learn in memory from the frame they are given, `batch_rows` rows at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.metaestimators import available_if

from core.errors import SpecError
from models import Param, families, resolve_params
from models.calibrated import calibrate_on_scores, calibrated_scores
from models.hashed_sgd import HashedSGDClassifier

NAME = "ensemble"
METHODS = ("average", "stacking", "bagged_sgd")
HASH_SIZES = (18, 19, 20, 21)  # log2 of each bagged member's hash space, cycling
LOG_ODDS = ("gbdt", "linear")  # families whose contributions add up to the log-odds of their probability
CLIP = 1e-6  # probabilities are clipped this far from 0 and 1 before their log-odds feed the meta-model
METHOD_HELP = "average (of calibrated probabilities), stacking (logistic meta-model on out-of-fold scores) or bagged_sgd"
PARAMS = (
    Param("members", str, "gbdt,linear", help="Families combined, comma-separated: two or more (not used by bagged_sgd)", searched=False),
    Param("method", str, "average", help=METHOD_HELP, choices=METHODS, searched=False),
    Param("bags", int, 4, 2, 16, "bagged_sgd: hashed SGD members (own seed, hash sizes 2^18…2^21 cycling)", searched=False),
    Param("stack_folds", int, 5, 2, 10, "stacking: folds of the training rows giving the out-of-fold scores", searched=False),
)


def member_names(text: str) -> list[str]:
    """'gbdt, linear' as ['gbdt', 'linear']."""
    return [name.strip() for name in str(text).split(",") if name.strip()]


def check_params(params: dict) -> None:
    """Raises SpecError unless `members` names two or more distinct non-ensemble families (bagged_sgd ignores them)."""
    if params["method"] == "bagged_sgd":
        return
    allowed = [name for name in families() if name != NAME]
    names = member_names(params["members"])
    for name in names:
        if name == NAME:
            raise SpecError(f"An ensemble cannot be a member of an ensemble; use two or more of: {', '.join(allowed)}.")
        if name not in allowed:
            raise SpecError(f"Ensemble member {name!r} is not a model family; use two or more of: {', '.join(allowed)}.")
    if len(set(names)) != len(names):
        raise SpecError(f"Ensemble members {params['members']!r} name a family twice; name each family once.")
    if len(names) < 2:
        raise SpecError(f"An ensemble needs two or more members, e.g. members=gbdt,linear; got {params['members']!r}.")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, CLIP, 1 - CLIP)
    return np.log(p / (1 - p))


def fold_numbers(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The stacking fold (0..folds-1) of each training row: stratified, shuffled with the seed."""
    out = np.empty(len(y), dtype=np.int16)
    for number, (_, held_out) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        out[held_out] = number
    return out


class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Members (name, unfitted estimator) combined by `method`; fit and predict_proba take raw frames."""

    def __init__(self, estimators=(), method="average", calibration="sigmoid", stack_folds=5, epochs=1, batch_rows=100_000,
                 scale_pos_weight=1.0, random_state=0):  # fmt: skip
        self.estimators = estimators
        self.method = method
        self.calibration = calibration
        self.stack_folds = stack_folds
        self.epochs = epochs
        self.batch_rows = batch_rows
        self.scale_pos_weight = scale_pos_weight  # core.train sets it for imbalance scale_pos_weight; members that take it get it
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, eval_set=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.classes_ = np.array([0, 1])
        y = np.asarray(y)
        if self.method == "stacking":
            self.meta_ = LogisticRegression(random_state=self.random_state).fit(_logit(self.out_of_fold(X, y, eval_set)), y)
        self.estimators_ = [(name, self._fit_member(self._unfitted(member, X), X, y, eval_set)) for name, member in self.estimators]
        self.calibrators_ = None
        if self.method == "average" and eval_set is not None:
            X_valid, y_valid = eval_set[0], np.asarray(eval_set[1])
            self.calibrators_ = [
                calibrate_on_scores(member, member.predict_proba(X_valid)[:, 1], y_valid, self.calibration)
                for _, member in self.estimators_
            ]
        return self

    def out_of_fold(self, X: pd.DataFrame, y: np.ndarray, eval_set=None) -> np.ndarray:
        """Each training row's member scores from members fitted on the other folds: (rows, members), what stacking learns from."""
        number = fold_numbers(y, self.stack_folds, self.random_state)
        out = np.empty((len(y), len(self.estimators)))
        for fold in range(self.stack_folds):
            held_out = number == fold
            X_in, y_in = X[~held_out], y[~held_out]
            for column, (_, member) in enumerate(self.estimators):
                fitted = self._fit_member(self._unfitted(member, X), X_in, y_in, eval_set)
                out[held_out, column] = fitted.predict_proba(X[held_out])[:, 1]
        return out

    def _unfitted(self, member, X: pd.DataFrame):
        """A fresh copy of a member, given what only the training frame tells (hashed SGD's numeric columns)."""
        member = clone(member)
        given = member.get_params()
        if "scale_pos_weight" in given:
            member.set_params(scale_pos_weight=self.scale_pos_weight)
        if isinstance(member, HashedSGDClassifier):  # as core.stream does: float columns are bucketed, the rest are tokens
            member.set_params(numeric=tuple(c for c in X.columns if pd.api.types.is_float_dtype(X[c])))
        return member

    def _fit_member(self, member, X: pd.DataFrame, y: np.ndarray, eval_set):
        if not isinstance(member, HashedSGDClassifier):
            return member.fit(X, y, eval_set=eval_set)
        for _ in range(self.epochs):  # in memory, but batch by batch as the streaming family learns
            for start in range(0, len(y), self.batch_rows):
                member.partial_fit(X.iloc[start : start + self.batch_rows], y[start : start + self.batch_rows])
        return member

    def member_scores(self, X: pd.DataFrame) -> np.ndarray:
        """Each member's probability on X, calibrated for `average`: (rows, members)."""
        columns = []
        for i, (_, member) in enumerate(self.estimators_):
            raw = member.predict_proba(X)[:, 1]
            columns.append(calibrated_scores(self.calibrators_[i], raw) if self.calibrators_ else raw)
        return np.column_stack(columns)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        scores = self.member_scores(X)
        p = self.meta_.predict_proba(_logit(scores))[:, 1] if self.method == "stacking" else scores.mean(axis=1)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def _explainable(self) -> bool:
        return self.method == "stacking" and all(name in LOG_ODDS for name, _ in self.estimators)

    @available_if(_explainable)
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values in log-odds: the meta-model's weights times each member's log-odds contributions, summed.

        Shapley values are linear in the model, so these are exact: they add up to the ensemble's log-odds (before
        calibration) wherever no member's probability is within CLIP of 0 or 1.
        """
        weights, base = self.meta_.coef_[0], float(self.meta_.intercept_[0])
        total = sum(w * member.contributions(X) for w, (_, member) in zip(weights, self.estimators_, strict=True))
        return total.assign(_base=total["_base"] + base)

    @property
    def shap_note(self) -> str | None:
        """Why this ensemble logs no SHAP values (None when it does)."""
        if self._explainable():
            return None
        if self.method == "bagged_sgd":
            return "none: hashed tokens of different columns share weights (collisions), so per-column SHAP values are not defined"
        if self.method == "average":
            return "none: a mean of calibrated probabilities does not add up from its members' SHAP values; importance is by permutation"
        other = [name for name, _ in self.estimators if name not in LOG_ODDS]
        return f"none: the stacking combines log-odds, and {', '.join(other)} has no log-odds SHAP values; importance is by permutation"


def build(params: dict, spec) -> EnsembleClassifier:
    if params["method"] == "average" and spec.imbalance.method == "undersample":
        raise SpecError(
            "Ensemble average calibrates its members on the valid rows, which undersampling's prior correction would "
            "distort; use method stacking, or imbalance class_weight."
        )
    found = families()
    sgd = resolve_params(found["hashed_sgd"], {})  # bagged and member hashed SGD keep that family's defaults
    if params["method"] == "bagged_sgd":
        members = [
            (f"hashed_sgd_{i}", found["hashed_sgd"].build({**sgd, "n_features_log2": HASH_SIZES[i % len(HASH_SIZES)]}, spec).set_params(random_state=spec.seed + i))
            for i in range(params["bags"])
        ]  # fmt: skip
    else:
        members = [(name, found[name].build(resolve_params(found[name], {}), spec)) for name in member_names(params["members"])]
    return EnsembleClassifier(
        members,
        method=params["method"],
        calibration=spec.calibration if spec.calibration in ("sigmoid", "isotonic") else "sigmoid",
        stack_folds=params["stack_folds"],
        epochs=sgd["epochs"],
        batch_rows=sgd["batch_rows"],
        random_state=spec.seed,
    )

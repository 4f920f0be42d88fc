"""Hashed SGD: `col=value` tokens (and chosen crosses) through FeatureHasher into a streaming
logistic SGD, for data too large or too sparse for the other families.

Tokens are built column by column with vectorised string operations; FeatureHasher hashes them.
Numbers become tokens of their log-scale bucket, so one model handles every column kind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

from models import Param

NAME = "hashed_sgd"
STREAMING = True  # trained by core.stream over DuckDB record batches, never the whole table
PARAMS = (
    Param("alpha", float, 1e-6, 1e-9, 1e-2, "L2 strength", log=True),
    Param("eta0", float, 0.05, 1e-4, 1.0, "Initial learning rate (adaptive schedule)", log=True),
    Param("epochs", int, 1, 1, 20, "Passes over the training rows", searched=False),
    Param("batch_rows", int, 100_000, 1_000, 2_000_000, "Rows per DuckDB record batch", searched=False),
    Param("checkpoint_every", int, 10, 1, 10_000, "Batches between checkpoints (a resumed job starts from the last)", searched=False),
    Param("n_features_log2", int, 20, 10, 26, "Hash space is 2^this", searched=False),
    Param("crosses", str, "", help="Column pairs crossed as extra tokens, e.g. 'device*channel, country*device'", searched=False),
)


def _bucket(values: pd.Series) -> pd.Series:
    """Log-scale buckets of a number as text; missing is 'NA'."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)  # Int64 with gaps too
    with np.errstate(invalid="ignore"):
        bucket = np.sign(x) * np.floor(np.log1p(np.abs(x)) * 4)
    text = pd.Series(bucket, index=values.index).map("{:g}".format)
    return text.where(~np.isnan(x), "NA")


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("NA").astype(object)


def parse_crosses(text: str) -> list[tuple[str, str]]:
    """'a*b, c*d' as [(a, b), (c, d)]."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        left, sep, right = part.partition("*")
        if not sep or not left.strip() or not right.strip():
            from core.errors import SpecError

            raise SpecError(f"Cross {part!r} must look like 'column*column'.")
        pairs.append((left.strip(), right.strip()))
    return pairs


class HashedSGDClassifier(ClassifierMixin, BaseEstimator):
    """Logistic SGD over hashed `col=value` tokens; `partial_fit` learns one batch at a time."""

    def __init__(self, alpha=1e-6, eta0=0.05, n_features_log2=20, crosses="", numeric=(), random_state=0):
        self.alpha = alpha
        self.eta0 = eta0
        self.n_features_log2 = n_features_log2
        self.crosses = crosses
        self.numeric = numeric
        self.random_state = random_state

    def tokens(self, X: pd.DataFrame) -> list:
        """One list of `col=value` tokens per row (built per column, not per row)."""
        numeric = set(self.numeric)
        columns = []
        for column in X.columns:
            values = _bucket(X[column]) if column in numeric else _text(X[column])
            columns.append((column + "=" + values).to_numpy(dtype=object))
        texts = {c: (_bucket(X[c]) if c in numeric else _text(X[c])) for c in {c for pair in parse_crosses(self.crosses) for c in pair}}
        for left, right in parse_crosses(self.crosses):
            columns.append((f"{left}*{right}=" + texts[left] + "|" + texts[right]).to_numpy(dtype=object))
        return list(zip(*columns, strict=True)) if columns else [[] for _ in range(len(X))]

    def _hasher(self) -> FeatureHasher:
        return FeatureHasher(n_features=2**self.n_features_log2, input_type="string", alternate_sign=False)

    def transform(self, X: pd.DataFrame):
        return self._hasher().transform(self.tokens(X))

    def partial_fit(self, X: pd.DataFrame, y):
        if not hasattr(self, "model_"):
            self._check_crosses(X)
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.classes_ = np.array([0, 1])
            self.model_ = SGDClassifier(
                loss="log_loss", alpha=self.alpha, learning_rate="adaptive", eta0=self.eta0, random_state=self.random_state
            )
        self.model_.partial_fit(self.transform(X), np.asarray(y), classes=self.classes_)
        return self

    def _check_crosses(self, X: pd.DataFrame) -> None:
        for left, right in parse_crosses(self.crosses):
            missing = next((c for c in (left, right) if c not in X.columns), None)
            if missing is not None:
                from core.errors import SpecError

                raise SpecError(
                    f"Cross '{left}*{right}' names {missing!r}, which is not a feature of this run; cross two of: {', '.join(X.columns)}."
                )

    def fit(self, X: pd.DataFrame, y, eval_set=None):
        for attribute in ("model_", "feature_names_in_", "classes_"):
            self.__dict__.pop(attribute, None)
        return self.partial_fit(X, y)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.transform(X[list(self.feature_names_in_)]))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def column_weights(self, X: pd.DataFrame) -> pd.Series:
        """Mean |weight| of each column's tokens over the rows of X: the family's feature importance."""
        coef = np.abs(self.model_.coef_[0])
        hasher = self._hasher()
        out = {}
        for column in self.feature_names_in_:
            values = _bucket(X[column]) if column in set(self.numeric) else _text(X[column])
            index = hasher.transform([[t] for t in (column + "=" + values)]).indices
            out[column] = float(coef[index].mean()) if len(index) else 0.0
        return pd.Series(out)


def build(params: dict, spec, numeric: list[str] = ()) -> HashedSGDClassifier:
    keep = {k: params[k] for k in ("alpha", "eta0", "n_features_log2", "crosses")}
    return HashedSGDClassifier(**keep, numeric=tuple(numeric), random_state=spec.seed)

"""What every family's estimator shares: raw-frame input, column kinds found at fit time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


def split_columns(frame: pd.DataFrame, categorical: list[str] | None) -> tuple[list[str], list[str]]:
    """(categorical, numeric) columns: the given list, else every non-numeric column."""
    if categorical is None:
        categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c in set(categorical)]
    return categorical, [c for c in frame.columns if c not in set(categorical)]


def as_text(column: pd.Series) -> pd.Series:
    """Categories compare as text, so 1, '1' and True from different sources meet."""
    return column.astype("string").astype(object).where(column.notna(), None)


def as_float(column: pd.Series) -> pd.Series:
    """A column as float64, missing and unreadable values as NaN: how every family reads a numeric input."""
    return pd.to_numeric(column, errors="coerce").astype("float64")


def text_levels(column: pd.Series) -> list[str]:
    """The column's distinct values as sorted text, missing left out."""
    return sorted(as_text(pd.Series(pd.unique(column))).dropna().unique())


def as_categorical(column: pd.Series, levels: list[str]) -> pd.Categorical:
    """The column as a categorical over `levels`, compared as text; values outside them become missing."""
    codes, uniques = pd.factorize(column)  # text conversion on the distinct values only: 1M rows cost one factorize
    mapped = pd.Index(levels, dtype=object).get_indexer(as_text(pd.Series(uniques, dtype=object)))
    return pd.Categorical.from_codes(np.append(mapped, -1)[codes], categories=levels)


def with_levels(column: pd.Series) -> tuple[pd.Categorical, list[str]]:
    """`as_categorical(column, text_levels(column))` and those levels, from one factorize of the column."""
    codes, uniques = pd.factorize(column)
    text = as_text(pd.Series(uniques, dtype=object))
    levels = sorted(text.dropna().unique())
    mapped = pd.Index(levels, dtype=object).get_indexer(text)
    return pd.Categorical.from_codes(np.append(mapped, -1)[codes], categories=levels), levels


def text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, missing as its own level: what the encoders of linear and forest see."""
    return frame.apply(as_text).fillna("(missing)")


class TabularClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier over a raw DataFrame. Subclasses set `model_` in fit and `_prepare`."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._prepare(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def _numbers_as_float(self, X: pd.DataFrame) -> pd.DataFrame:
        """The input columns, numeric ones as float64 whatever pandas or DuckDB gave (int64, Int64 with gaps, text)."""
        X = X[list(self.feature_names_in_)]
        return X.assign(**{c: as_float(X[c]) for c in self.numeric_ if X[c].dtype != "float64"})

    def _remember_columns(self, X: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.categorical_, self.numeric_ = split_columns(X, self.categorical)
        self.classes_ = np.array([0, 1])

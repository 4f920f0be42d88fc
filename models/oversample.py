"""SMOTE-family oversampling of the training rows (imbalanced-learn) over raw frames with text, flags and gaps.

The samplers interpolate between numbers, so each raw frame is encoded for them and decoded back:

- numeric columns: float; a missing value counts as the column's median (of these rows) for the distance only, and
  each column is divided by its standard deviation, so no column's unit dominates the neighbours. A column with gaps
  adds a missing-indicator (0/1); a synthetic row's value is missing when its interpolated indicator is above 0.5,
  i.e. when the parent it lies nearer to had it missing, else the present parent's value if the other one had it
  missing (the pull towards the median is undone). Integer columns are rounded back to integers, every column keeps
  its dtype.
- categorical columns (models.base.split_columns: text and flags unless `categorical` says otherwise): one-hot over
  the levels of these rows, a missing value being a level of its own, scaled by 1/sqrt(2) so that two rows differing
  in one category are as far apart as one standard deviation of a number. A synthetic row takes the argmax of its
  interpolated block: the category of the parent it lies nearer to, so always a level seen in these rows.

One encoding for all three samplers, rather than SMOTENC for smote: BorderlineSMOTE and ADASYN have no categorical
variant, and SMOTENC's rule (the commonest category among the neighbours) would make smote's categories behave
unlike the other two. The one-hot part is sparse past DENSE_WIDTH columns (high-cardinality ids), else dense.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from core.errors import DataError
from models.base import as_float, split_columns

K_NEIGHBORS = 5  # imbalanced-learn's default for all three samplers (BorderlineSMOTE also looks at m = 10 of all rows)
DENSE_WIDTH = 256  # one-hot columns up to which the encoded matrix is dense: BLAS distances beat sparse products
ONE_HOT = 1 / np.sqrt(2)  # two one-hot cells differ: squared distance 2 * ONE_HOT**2 = 1, one standard deviation
METHODS = ("smote", "borderline_smote", "adasyn")


def sampler(method: str, seed: int):
    """The imbalanced-learn sampler for `method`, resampling every class but the majority up to the majority's count."""
    from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE  # imported on use: ~0.5 s, oversampling runs only

    if method == "smote":
        return SMOTE(k_neighbors=K_NEIGHBORS, random_state=seed)
    if method == "borderline_smote":
        return BorderlineSMOTE(k_neighbors=K_NEIGHBORS, random_state=seed)
    if method == "adasyn":
        return ADASYN(n_neighbors=K_NEIGHBORS, random_state=seed)
    raise DataError(f"Unknown oversampling method {method!r}; use one of {', '.join(METHODS)}.")


def oversample(X: pd.DataFrame, y, method: str, categorical: list[str] | None, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """(X_res, y_res): X's rows untouched and first, then the synthetic minority rows in X's columns and dtypes; y as int."""
    y = np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise DataError(f"Oversampling ({method}) needs both classes in the training rows; they hold only y = {int(np.argmax(counts))}.")
    minority = int(np.argmin(counts))
    if counts[minority] <= K_NEIGHBORS:
        raise DataError(
            f"Oversampling ({method}) needs at least {K_NEIGHBORS + 1} training rows of class {minority} "
            f"(k_neighbors = {K_NEIGHBORS}); there are {counts[minority]}. Use class_weight, or train on more rows."
        )
    encoding = Encoding(X, categorical)
    try:
        encoded, y_res = sampler(method, seed).fit_resample(encoding.matrix, y)
    except (RuntimeError, ValueError) as err:  # ADASYN: no minority row has a majority neighbour to learn from
        raise DataError(f"Oversampling ({method}) cannot sample these rows: {str(err).splitlines()[0]} Try smote.") from None
    synthetic = encoding.decode(encoded[len(X) :])
    return pd.concat([X, synthetic]), np.asarray(y_res).astype(int)


class Encoding:
    """A frame as the samplers' matrix (see the module's docstring), and synthetic rows of it back as a frame."""

    def __init__(self, X: pd.DataFrame, categorical: list[str] | None):
        self.frame = X
        self.categorical, self.numeric = split_columns(X, categorical)
        blocks, self.scale, self.median, self.gaps = [], {}, {}, []
        numbers = pd.DataFrame({c: as_float(X[c]) for c in self.numeric}, index=X.index)
        for column in self.numeric:
            values = numbers[column].to_numpy()
            missing = np.isnan(values)
            median = self.median[column] = float(np.median(values[~missing])) if (~missing).any() else 0.0
            filled = np.where(missing, median, values)
            std = float(filled.std())
            self.scale[column] = std if std > 0 else 1.0
            blocks.append(filled / self.scale[column])
            if missing.any():
                self.gaps.append(column)
        blocks.extend(numbers[c].isna().to_numpy(dtype=float) for c in self.gaps)
        dense = np.column_stack(blocks) if blocks else np.empty((len(X), 0))
        # A category's levels: its codes in first-seen order; `first` holds a row of each, whose value decodes it.
        self.codes, self.first = {}, {}
        for column in self.categorical:
            codes, uniques = pd.factorize(X[column], use_na_sentinel=False)
            self.codes[column] = codes
            self.first[column] = np.unique(codes, return_index=True)[1]
        width = sum(len(f) for f in self.first.values())
        one_hot = self._one_hot(len(X), width)
        if width <= DENSE_WIDTH:
            self.matrix = np.hstack([dense, one_hot.toarray()])
        else:
            self.matrix = sparse.hstack([sparse.csr_matrix(dense), one_hot], format="csr")

    def _one_hot(self, rows: int, width: int) -> sparse.csr_matrix:
        offsets = np.cumsum([0, *(len(self.first[c]) for c in self.categorical)])
        if not self.categorical:
            return sparse.csr_matrix((rows, 0))
        columns = np.column_stack([self.codes[c] + offsets[i] for i, c in enumerate(self.categorical)]).ravel()
        values = np.full(len(columns), ONE_HOT)
        indptr = np.arange(0, len(columns) + 1, len(self.categorical))
        return sparse.csr_matrix((values, columns, indptr), shape=(rows, width))

    def decode(self, encoded) -> pd.DataFrame:
        """Synthetic rows of the matrix as a frame with the original columns, dtypes and index type (new labels)."""
        count = encoded.shape[0]
        numeric_width = len(self.numeric) + len(self.gaps)
        numbers = encoded[:, :numeric_width]
        numbers = numbers.toarray() if sparse.issparse(numbers) else np.asarray(numbers)
        out = {}
        for i, column in enumerate(self.numeric):
            values = numbers[:, i] * self.scale[column]
            if column in self.gaps:  # undo the pull towards a missing parent's stand-in: the present parent's value
                gap = numbers[:, len(self.numeric) + self.gaps.index(column)]
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.where(gap > 0.5, np.nan, (values - gap * self.median[column]) / (1 - gap))
            out[column] = _as_dtype(values, self.frame[column])
        start = numeric_width
        for column in self.categorical:
            end = start + len(self.first[column])
            chosen = np.asarray(encoded[:, start:end].argmax(axis=1)).ravel()
            out[column] = pd.Series(self.frame[column].iloc[self.first[column][chosen]].array)  # the levels' own values
            start = end
        frame = pd.DataFrame({c: out[c] for c in self.frame.columns})
        index = self.frame.index
        if pd.api.types.is_integer_dtype(index):  # row keys: the synthetic rows get new ones after the largest
            first = int(index.max()) + 1 if len(index) else 0
            frame.index = pd.RangeIndex(first, first + count)
        return frame


def _as_dtype(values: np.ndarray, original: pd.Series) -> pd.Series:
    """Synthetic numbers in the original column's dtype: integers rounded, missing kept where the dtype allows it."""
    dtype = original.dtype
    if pd.api.types.is_integer_dtype(dtype):
        return pd.Series(np.round(values)).astype(dtype)  # a nullable integer takes NaN as missing; numpy ones have no gaps
    if pd.api.types.is_float_dtype(dtype):
        return pd.Series(values).astype(dtype)
    return pd.Series(values)  # text read as numbers (an explicit `categorical` left it out): the families coerce it

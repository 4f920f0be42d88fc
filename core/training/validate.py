"""Checks on the training data before any fit. Columns: check, column, severity, detail.

Severity `error` stops the job; `warning` does not (constant columns are dropped); `ok` says a
check passed, so the table shows what was looked at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

LEAK_AUC = 0.99
ID_DISTINCT_SHARE = 0.1
ID_MIN_DISTINCT = 1000
LEAK_SAMPLE = 50_000  # the AUC of a leak (> 0.99) is clear on 50k rows; its standard error there is ~0.005


def _row(check: str, column: str, severity: str, detail: str) -> dict:
    return {"check": check, "column": column, "severity": severity, "detail": detail}


def single_feature_auc(x: pd.Series, y: np.ndarray, fit: np.ndarray | None = None, seed: int = 0) -> float:
    """ROC AUC of one feature alone, either direction, out of sample for categories.

    Numbers score as they are. Categories score by their target rate learnt on the `fit` rows (default: a seeded
    half) and measured on the other rows, levels unseen there at the fit rows' rate: rates learnt on the rows they
    score would let a near-unique column (an id, an IP) predict its own labels perfectly.
    """
    y = np.asarray(y)
    if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
        values = pd.to_numeric(x, errors="coerce").replace([np.inf, -np.inf], np.nan)
        return _either_way_auc(y, values.fillna(values.median() if values.notna().any() else 0.0).to_numpy(dtype=float))
    if fit is None:
        fit = np.random.default_rng(seed).random(len(y)) < 0.5
    fit = np.asarray(fit, dtype=bool)
    if not fit.any() or fit.all():
        return 0.5
    text = x.astype("string").fillna("(missing)").to_numpy(dtype=object)
    rates = pd.Series(y[fit]).groupby(text[fit]).mean()
    held_out = pd.Series(text[~fit]).map(rates).fillna(y[fit].mean())
    return _either_way_auc(y[~fit], held_out.to_numpy(dtype=float))


def _either_way_auc(y: np.ndarray, values: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return 0.5
    auc = roc_auc_score(y, values)
    return float(max(auc, 1 - auc))


def _whole_numbers_or_text(x: pd.Series) -> bool:
    """Ids are text or whole numbers (numbers arrive as floats, so look at the values)."""
    if not pd.api.types.is_float_dtype(x):
        return True
    values = x.dropna().to_numpy()
    values = values[np.isfinite(values)]  # an infinity is no id
    return bool(np.all(np.mod(values, 1) == 0))


def validate(
    frame: pd.DataFrame, y: np.ndarray, labels: np.ndarray, features: list[str], target: str, time_column: str | None
) -> pd.DataFrame:
    """The checks on `frame[features]` with target `y` and split `labels`."""
    rows = []
    for part in ("train", "valid", "test"):
        in_part = y[labels == part]
        classes = set(np.unique(in_part).tolist())
        if len(in_part) == 0:
            rows.append(_row("rows", part, "error", f"The {part} split is empty; use more data or other split fractions."))
        elif part != "valid" and classes != {0, 1}:
            rows.append(
                _row("both classes", target, "error", f"The {part} split has only class {classes.pop()}; the target needs both 0 and 1.")
            )
        else:
            rows.append(_row("both classes", target, "ok", f"{part}: {len(in_part):,} rows, {int(in_part.sum()):,} positives"))
    if time_column is not None:
        parsed = pd.to_datetime(frame[time_column], errors="coerce")
        bad = int(parsed.isna().sum() - frame[time_column].isna().sum())
        severity = "error" if bad else "ok"
        rows.append(_row("time parseable", time_column, severity, f"{bad:,} values are not dates" if bad else "all values are dates"))
    train = labels == "train"
    sample = np.flatnonzero(train)
    if len(sample) > LEAK_SAMPLE:
        sample = np.random.default_rng(0).choice(sample, LEAK_SAMPLE, replace=False)
    y_sample = y[sample]
    for column in features:
        x = frame[column]
        nulls = float(x.isna().mean())
        if nulls > 0:
            rows.append(_row("missing values", column, "warning" if nulls > 0.5 else "ok", f"{nulls:.1%} missing"))
        if pd.api.types.is_float_dtype(x) and np.isinf(x.to_numpy(dtype=float, na_value=np.nan)).any():
            rows.append(_row("infinite values", column, "warning", "infinite values are treated as missing"))
        distinct = int(x.nunique(dropna=True))
        if distinct <= 1:
            rows.append(_row("constant", column, "warning", "one value only: dropped"))
            continue
        if _whole_numbers_or_text(x) and distinct >= ID_MIN_DISTINCT and distinct > ID_DISTINCT_SHARE * x.notna().sum():
            rows.append(_row("id-like", column, "warning", f"{distinct:,} distinct values in {len(x):,} rows: probably an id"))
        if 0 < y_sample.sum() < len(y_sample):
            auc = single_feature_auc(x.iloc[sample], y_sample)
            if auc > LEAK_AUC:
                rows.append(
                    _row(
                        "leak",
                        column,
                        "error",
                        f"alone it predicts the target with ROC AUC {auc:.3f}; exclude it if it is known only after the outcome",
                    )
                )
    return pd.DataFrame(rows, columns=["check", "column", "severity", "detail"])


def dropped(table: pd.DataFrame) -> list[str]:
    """Columns the checks drop (constant ones)."""
    return table.loc[table["check"] == "constant", "column"].tolist()


def first_error(table: pd.DataFrame) -> str | None:
    """The first error as one line, or None."""
    errors = table[table["severity"] == "error"]
    if errors.empty:
        return None
    row = errors.iloc[0]
    return f"{row['check']} ({row['column']}): {row['detail']}"

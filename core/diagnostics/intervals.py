"""Confidence intervals for rates, and the segment tables that show them."""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
MISSING = "(missing)"  # a segment whose key is NULL
SEGMENT_COLUMNS = ("segment", "rows", "positives", "rate", "rate_lo", "rate_hi", "share")


def wilson_interval(positives, rows, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for positives / rows, elementwise; NaN where rows is 0."""
    k = np.asarray(positives, dtype=float)
    n = np.asarray(rows, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def rate_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """rows, positives (int64), rate, rate_lo, rate_hi as arrays, from a frame that has rows and positives."""
    rows = frame["rows"].to_numpy(dtype="int64")
    positives = frame["positives"].fillna(0).to_numpy(dtype="int64")  # sum() of no rows is NULL
    lo, hi = wilson_interval(positives, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = positives / rows
    return {"rows": rows, "positives": positives, "rate": rate, "rate_lo": lo, "rate_hi": hi}


def with_wilson_interval(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds rate, rate_lo, rate_hi to a frame that has rows and positives."""
    # One frame built from the columns' arrays (dtypes kept): a copy and five assignments took ~0.35 ms per Explore call.
    columns = {name: frame[name].array for name in frame.columns} | rate_columns(frame)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def segment_labels(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Segment names: each key column's value as text (MISSING where none), joined by ' × '."""
    parts = []
    for key in keys:
        values = frame[key]
        text = values if pd.api.types.is_string_dtype(values.dtype) else values.astype("string")
        parts.append(text.to_numpy(dtype=object, na_value=MISSING))
    label = parts[0]
    for part in parts[1:]:
        label = label + " × " + part
    return pd.Series(label, dtype=object)


def segment_table(frame: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    """Columns: segment, <names> (the key columns renamed), rows, positives, rate, rate_lo, rate_hi, share."""
    # numpy on the small result, built into one frame: pandas column by column cost ~2 ms of an Explore cut.
    rates = rate_columns(frame)
    total = rates["rows"].sum()
    share = rates["rows"] / total if total else np.zeros(len(frame))
    named = {name: frame[key].array for key, name in zip(keys, names, strict=True) if name not in SEGMENT_COLUMNS}  # else in `segment`
    return pd.DataFrame({"segment": segment_labels(frame, keys)} | named | rates | {"share": share}, copy=False)

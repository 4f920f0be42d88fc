"""Confidence intervals for rates."""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def wilson_interval(positives, rows, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for positives / rows, elementwise; NaN where rows is 0."""
    k = np.asarray(positives, dtype=float)
    n = np.asarray(rows, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def with_wilson_interval(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds rate, rate_lo, rate_hi to a frame that has rows and positives."""
    rows = frame["rows"].to_numpy(dtype="int64")
    positives = frame["positives"].fillna(0).to_numpy(dtype="int64")  # sum() of no rows is NULL
    lo, hi = wilson_interval(positives, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = positives / rows
    out = frame.copy()
    out["rows"], out["positives"], out["rate"], out["rate_lo"], out["rate_hi"] = rows, positives, rate, lo, hi
    return out

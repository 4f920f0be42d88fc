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
    frame = frame.astype({"rows": "int64", "positives": "int64"})
    lo, hi = wilson_interval(frame["positives"], frame["rows"])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = frame["positives"] / frame["rows"]
    return frame.assign(rate=rate, rate_lo=lo, rate_hi=hi)

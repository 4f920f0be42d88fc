"""Regression metrics of the value stage on converters, with bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError

REGRESSION = ("rmse", "mae", "r2", "rmsle")
_CHUNK = 50  # resamples per weight matrix: bounds memory at 50 × rows floats


def _arrays(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if actual.shape != predicted.shape or actual.ndim != 1:
        raise DataError(f"Actual and predicted values must be two columns of one length (got {actual.shape} and {predicted.shape}).")
    if len(actual) == 0:
        raise DataError("There are no converters with a known value to evaluate the value stage on.")
    if not (np.isfinite(actual).all() and np.isfinite(predicted).all()):
        raise DataError("Actual and predicted values must be finite numbers; drop rows with a missing value first.")
    if actual.min() < 0 or predicted.min() < 0:
        raise DataError("Values must be >= 0 for RMSLE (log1p); clip refunds or filter negative values out.")
    return actual, predicted


def _weighted(actual: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric under row weights, one value per row of `weights` (resamples × rows)."""
    total = weights.sum(axis=1)
    error = actual - predicted
    log_error = np.log1p(predicted) - np.log1p(actual)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = weights @ (error * error) / total
        spread = weights @ (actual * actual) / total - (weights @ actual / total) ** 2
        return {
            "rmse": np.sqrt(mse),
            "mae": weights @ np.abs(error) / total,
            "r2": np.where(spread > 0, 1 - mse / spread, np.nan),
            "rmsle": np.sqrt(weights @ (log_error * log_error) / total),
        }


def regression_metrics(actual, predicted) -> dict[str, float]:
    """RMSE, MAE, R² and RMSLE, as scikit-learn computes them (R² NaN when the actual values are all equal)."""
    actual, predicted = _arrays(actual, predicted)
    return {name: float(value[0]) for name, value in _weighted(actual, predicted, np.ones((1, len(actual)))).items()}


def regression_table(actual, predicted, resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """The metrics with 95% percentile bootstrap intervals (Poisson row weights; NaN with 0 resamples). Columns: metric, value, lo, hi."""
    actual, predicted = _arrays(actual, predicted)
    value = regression_metrics(actual, predicted)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in REGRESSION}
    for start in range(0, resamples, _CHUNK):
        weights = rng.poisson(1.0, (min(_CHUNK, resamples - start), len(actual))).astype(float)
        for name, values in _weighted(actual, predicted, weights).items():
            draws[name].append(values)
    rows = []
    for name in REGRESSION:
        kept = np.concatenate(draws[name]) if resamples else np.array([])  # 0 resamples: the values without intervals
        kept = kept[np.isfinite(kept)]
        lo, hi = np.percentile(kept, [2.5, 97.5]) if len(kept) else (np.nan, np.nan)
        rows.append((name, value[name], float(lo), float(hi)))
    return pd.DataFrame(rows, columns=["metric", "value", "lo", "hi"])

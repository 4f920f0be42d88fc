"""Value metrics of challenger and champion on the same holdout converters, with a paired bootstrap of the difference.

A value model predicts E[value | converted, row] (`value_if_converted`); it is judged, as in training, on the rows
that converted and whose value is known: RMSE, MAE, R² and RMSLE, the same scikit-learn definitions as
core.value.metrics. The interval of each difference is a paired Poisson bootstrap, as core.compare.bootstrap_draws
does for the scores: each resample gives every row one Poisson(1) weight shared by both models, and each metric is a
few weighted sums, so a block of resamples is a handful of matrix products.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.value import metrics as value_metrics

METRICS = value_metrics.REGRESSION  # rmse, mae, r2, rmsle
PREFIX = "value_"  # the comparison table's metric names: value_rmse, value_mae, value_r2, value_rmsle
BLOCK_WEIGHTS = 4_000_000  # Poisson weights held at once (resamples per block × rows): ~32 MB


def weighted_metrics(actual: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Metric -> one value per row of `weights` (resamples × rows): core.value.metrics' weighted sums (scikit-learn's
    RMSE, MAE, R², RMSLE with sample_weight). RMSLE is NaN where a value is negative (scikit-learn refuses those); a
    resample of weight zero, or of one repeated value for R², is NaN."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = value_metrics._weighted(actual, predicted, weights)
    if (actual < 0).any() or (predicted < 0).any():
        out["rmsle"] = np.full(len(weights), np.nan)
    return out


def converters(y, actual) -> np.ndarray:
    """The rows a value model is judged on: converted (y == 1) with a known, finite value."""
    actual = np.asarray(actual, dtype=float)
    return (np.asarray(y) == 1) & np.isfinite(actual)


def value_draws(actual, named: dict, resamples: int = 200, seed: int = 0, *, block: int = BLOCK_WEIGHTS) -> dict:
    """Name -> metric -> `resamples` bootstrap values of each named prediction on the same rows (shared Poisson weights)."""
    actual = np.asarray(actual, dtype=float)
    rng = np.random.default_rng(seed)
    per_block = max(1, block // max(len(actual), 1))
    drawn = {name: {m: [] for m in METRICS} for name in named}
    for start in range(0, resamples, per_block):
        weights = rng.poisson(1.0, (min(per_block, resamples - start), len(actual))).astype(float)
        for name, predicted in named.items():
            for m, values in weighted_metrics(actual, predicted, weights).items():
                drawn[name][m].append(values)
    return {name: {m: np.concatenate(v) for m, v in by.items()} for name, by in drawn.items()}


def value_comparison(y, actual, challenger, champion=None, resamples: int = 200, seed: int = 0, mature=None) -> pd.DataFrame:
    """Both models' value metrics on the holdout converters and the difference with a 95% paired bootstrap interval.

    Columns: metric, challenger, champion, diff (challenger − champion), diff_lo, diff_hi; rows value_rmse, value_mae,
    value_r2, value_rmsle. A side given as None or all NaN (no value stage) has NaN values; so do the differences.
    Rows: converters with a known value whose horizon has passed (`mature`, all when None), or every converter with a
    known value when none has, as core.value.stage evaluates a run. attrs["rows"]: the converters the metrics read;
    attrs["mature_share"]: the share of converters with a known value that are mature (NaN without any).
    """
    known = converters(y, actual)
    ripe = known & (np.ones(len(known), dtype=bool) if mature is None else np.asarray(mature, dtype=bool))
    keep = ripe if ripe.any() else known
    actual = np.asarray(actual, dtype=float)[keep]
    sides = {"challenger": challenger, "champion": champion}
    sides = {k: np.asarray(v, dtype=float)[keep] for k, v in sides.items() if v is not None and not np.isnan(np.asarray(v, float)).all()}
    ones = np.ones((1, len(actual)))  # point values: every row once
    point = {k: {m: v[0] for m, v in weighted_metrics(actual, p, ones).items()} for k, p in sides.items()}
    bounds = {m: (np.nan, np.nan) for m in METRICS}
    if len(sides) == 2 and len(actual):
        drawn = value_draws(actual, sides, resamples, seed)
        bounds = {m: _percentiles(drawn["challenger"][m] - drawn["champion"][m]) for m in METRICS}
    rows = []
    for m in METRICS:
        first, second = (point.get(k, {}).get(m, np.nan) for k in ("challenger", "champion"))
        rows.append((PREFIX + m, float(first), float(second), float(first - second), *bounds[m]))
    table = pd.DataFrame(rows, columns=["metric", "challenger", "champion", "diff", "diff_lo", "diff_hi"])
    table.attrs["rows"] = int(len(actual))
    table.attrs["mature_share"] = float(ripe.sum() / known.sum()) if known.any() else float("nan")
    return table


def maturity_note(mature_share: float, days: int | None) -> str:
    """Which converters the value metrics read, in words, as the Value tab says it ("" when all of them)."""
    if days is None or not np.isfinite(mature_share) or mature_share == 1:
        return ""
    span = f"{days} day" if days == 1 else f"{days} days"
    if mature_share == 0:
        return f"immature: no converter here is {span} older than the last time compared, so actual values are still accruing"
    return f"on the {mature_share:.0%} of converters whose {span} have passed"


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    kept = values[np.isfinite(values)]
    return tuple(float(v) for v in np.percentile(kept, [2.5, 97.5])) if len(kept) else (np.nan, np.nan)

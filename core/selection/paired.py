"""Paired tests of one model against another on the same folds or the same test rows.

Over folds: a two-sided paired t-test of the per-fold metric (scipy.stats.ttest_rel). On the shared test rows: a
paired bootstrap (core.compare.bootstrap_draws: one seeded Poisson(1) weight per row and resample, shared by every
model), whose p-value is the two-sided share of resamples where the difference changes sign.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from core.compare import bootstrap_draws
from core.diagnostics.metrics import scores
from core.errors import DataError

RESAMPLES = 1000  # a p-value resolves to 1/1000; ~resamples × test rows Poisson draws in all


def t_test_p(best, other) -> float:
    """Two-sided p-value of the paired t-test of `best` against `other` (one value per fold, in the same fold order).

    Identical values in every fold give 1.0 (no difference to test; scipy gives NaN).
    """
    best, other = np.asarray(best, dtype=float), np.asarray(other, dtype=float)
    if best.shape != other.shape or len(best) < 2:
        raise DataError(f"A paired test over folds needs the same folds, at least two, on both sides ({len(best)} and {len(other)}).")
    if np.array_equal(best, other):
        return 1.0
    with warnings.catch_warnings():  # nearly equal folds warn of precision loss; the p-value is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(best, other).pvalue)


def sign_flip_p(differences, observed: float) -> float:
    """Two-sided bootstrap p-value: twice the share of finite resampled `differences` whose sign is not the sign of
    `observed` (zero counts as flipped), capped at 1; 1.0 when `observed` is 0 or no resample is finite."""
    values = np.asarray(differences, dtype=float)
    values = values[np.isfinite(values)]
    if observed == 0 or not len(values):
        return 1.0
    flipped = np.mean(np.sign(values) != np.sign(observed))
    return float(min(1.0, 2.0 * flipped))


def holdout_tests(y, named: dict, metric: str, best: str, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, tuple]:
    """Name -> (metric on all rows, bootstrap std, p-value against `best`; None for the best itself).

    Every named score is of the same rows `y`; the resamples are shared, so each difference is paired.
    """
    drawn = bootstrap_draws(y, named, resamples, seed)
    point = {name: scores(y, score)[metric] for name, score in named.items()}
    out = {}
    for name in named:
        own = drawn[name][metric]
        std = float(np.nanstd(own, ddof=1)) if np.isfinite(own).sum() > 1 else float("nan")
        p = None if name == best else sign_flip_p(drawn[best][metric] - own, point[best] - point[name])
        out[name] = (point[name], std, p)
    return out

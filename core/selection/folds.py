"""Cross-validation folds over the train+valid rows (test is never touched): stratified k-fold or an expanding time window."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from core import settings
from core.errors import DataError
from core.spec import TrainSpec
from core.training.prepare import Prepared

DAY_NS = 86_400 * 10**9


def time_ns(prep: Prepared, spec: TrainSpec, positions: np.ndarray) -> np.ndarray:
    """The time column at `positions` as int64 nanoseconds on one clock (zone-aware and naive times alike)."""
    values = pd.to_datetime(prep.frame[spec.time_column].iloc[positions], utc=True).dt.tz_localize(None)
    return values.to_numpy().astype("datetime64[ns]").astype("int64")  # Arrow gives microseconds; the gap is in ns


def gap_days(spec: TrainSpec) -> float:
    """Days left out between a time-series fold's training rows and its block: WB_CONVERSION_DAYS, or 0 without the gap."""
    return float(settings.get("conversion_days") or 0) if spec.validation.gap else 0.0


def fold_positions(prep: Prepared, spec: TrainSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training positions, validation positions) per fold, integer positions into prep.frame, train+valid rows only."""
    pool = np.flatnonzero(prep.labels != "test")
    folds = spec.validation.folds
    if spec.validation.kind == "kfold":
        y = prep.y[pool]
        smaller = int(min(y.sum(), len(y) - y.sum()))
        if smaller < folds:
            raise DataError(
                f"{folds}-fold CV needs at least {folds} rows of each class in train+valid, and the smaller class has {smaller}; "
                "use fewer folds or more data."
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=spec.seed)
        found = [(pool[fit], pool[held]) for fit, held in splitter.split(np.zeros(len(pool)), y)]
    elif spec.validation.kind == "timeseries":
        found = _time_folds(prep, spec, pool, folds)
    else:
        raise DataError(f"Validation {spec.validation.kind!r} has no folds; use kfold or timeseries.")
    for number, (fit, held) in enumerate(found, 1):
        _check_fold(prep.y, fit, held, number, spec)
    return found


def _time_folds(prep: Prepared, spec: TrainSpec, pool: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blocks of consecutive time (ties in one block); fold k trains on every row older than block k+1's start minus the gap."""
    if not spec.time_column:
        raise DataError("Time-series validation needs a time column; set time_column or use validation kfold.")
    t = time_ns(prep, spec, pool)
    ordered = np.sort(t)
    # A block starts at the time of its nominal first row, so rows sharing that timestamp all fall in it.
    cuts = ordered[[len(ordered) * k // (folds + 1) for k in range(1, folds + 1)]]
    block = np.searchsorted(cuts, t, side="right")
    gap_ns = round(gap_days(spec) * DAY_NS)
    found = []
    for k in range(1, folds + 1):
        held = pool[block == k]
        if len(held) == 0:
            raise DataError(f"Time-series fold {k} has no validation rows: too few distinct times for {folds} folds; use fewer folds.")
        start = t[block == k].min()
        found.append((pool[t < start - gap_ns], held))
    return found


def _check_fold(y: np.ndarray, fit: np.ndarray, held: np.ndarray, number: int, spec: TrainSpec) -> None:
    if len(fit) == 0:
        fix = "use fewer folds, a smaller WB_CONVERSION_DAYS or no gap (--no-gap)" if spec.validation.gap else "use fewer folds"
        raise DataError(f"CV fold {number} has no training rows before its validation block (after the gap); {fix}.")
    if len(np.unique(y[fit])) < 2:
        raise DataError(f"CV fold {number}'s training rows hold one class only; use fewer folds or more data.")
    if len(np.unique(y[held])) < 2:
        raise DataError(f"CV fold {number}'s validation rows hold one class only, so its AUC is undefined; use fewer folds or more data.")


def inner_split(prep: Prepared, spec: TrainSpec, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fit positions, stop positions): the fold's own early-stopping/calibration rows, carved from its training rows.

    The stop share is valid_fraction / (1 - test_fraction), as the holdout split takes it: the newest rows for a temporal
    split or time-series CV (ties together), else a stratified random draw with the spec's seed.
    """
    positions = np.asarray(positions)
    share = spec.split.valid_fraction / (1 - spec.split.test_fraction)
    if spec.time_column and (spec.split.kind == "temporal" or spec.validation.kind == "timeseries"):
        t = time_ns(prep, spec, positions)
        stop = t >= np.quantile(t, 1 - share)
        fit_pos, stop_pos = positions[~stop], positions[stop]
        if len(fit_pos) == 0:
            raise DataError("A CV fold's training rows all share one time, so none are left to fit on; use fewer folds.")
        return fit_pos, stop_pos
    try:
        fit_pos, stop_pos = train_test_split(positions, test_size=share, stratify=prep.y[positions], random_state=spec.seed)
    except ValueError:
        raise DataError(
            "A CV fold has too few rows of one class to keep some for early stopping or calibration; use fewer folds or more data."
        ) from None
    return np.sort(fit_pos), np.sort(stop_pos)

"""Learning curves: metrics against training-set size, per fold, on the rows fitted and on each fold's validation rows.

Fractions are `FRACTIONS` (np.geomspace(0.1, 1, 5) rounded to 3 places: 0.1, 0.178, 0.316, 0.562, 1.0), so each step
multiplies the training rows by about 1.78. A fold is the spec's validation scheme: holdout is one fold (the split's
train rows against its valid rows); kfold and timeseries are the spec's folds (core.selection.folds). At each fraction
the fold's training rows are cut down and fitted with core.selection.cv.fold_fit, so early stopping and calibration
use the fold's own rows exactly as cross-validation does.

Which rows a fraction keeps: rows ordered in time (timeseries validation, or a holdout with a temporal split) keep the
NEWEST share, so the curve asks "would more history help?"; otherwise a seeded, class-stratified random share,
nested (each fraction's rows hold the smaller fractions' rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.diagnostics import metrics
from core.errors import DataError

if TYPE_CHECKING:  # the report reads curves without loading the training stack (scikit-learn, DuckDB)
    from core.progress import Log
    from core.spec import TrainSpec
    from core.training.prepare import Prepared

FRACTIONS = tuple(float(f) for f in np.round(np.geomspace(0.1, 1.0, 5), 3))
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
LOWER_IS_BETTER = ("log_loss", "brier", "ece")
COLUMNS = ["fraction", "train_rows", "fold", "part", *METRICS]
# The smallest change in the validation mean that counts as a change (still_rising): about what a retrain with another
# seed moves these metrics by on a few thousand rows; 0.002 of AUC is also the bar for "as good as".
TOLERANCE = {"roc_auc": 0.002, "pr_auc": 0.002, "log_loss": 0.002, "brier": 0.0005, "ece": 0.002}
RISING = "Still rising: more data would likely help"
FLAT = "Flat: more data is unlikely to help"
FALLING = "Falling: the most rows scored worse than fewer"
UNJUDGED = "Not enough to judge"


def in_time_order(spec: TrainSpec) -> bool:
    """Whether a fold's training rows precede its validation rows in time, so a fraction keeps the newest rows."""
    if spec.validation.kind == "timeseries":
        return True
    return spec.validation.kind == "holdout" and spec.split.kind == "temporal" and bool(spec.time_column)


def folds(spec: TrainSpec, prep: Prepared) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training positions, validation positions) per fold: holdout is the split's train against its valid rows."""
    if spec.validation.kind == "holdout":
        return [(np.flatnonzero(prep.labels == "train"), np.flatnonzero(prep.labels == "valid"))]
    from core.selection.folds import fold_positions

    return fold_positions(prep, spec)


def subsample(positions: np.ndarray, y: np.ndarray, fraction: float, seed: int, times=None) -> np.ndarray:
    """The positions a fraction keeps, sorted: the newest share when `times` (one per position) is given, else a
    seeded class-stratified share, nested across fractions for one seed."""
    positions = np.asarray(positions)
    if fraction >= 1.0:
        return np.sort(positions)
    if times is not None:
        newest_first = positions[np.argsort(np.asarray(times), kind="stable")[::-1]]
        return np.sort(newest_first[: max(1, round(fraction * len(positions)))])
    rng = np.random.default_rng(seed)
    kept = []
    for label in (0, 1):  # each class in its own shuffled order: a fraction keeps the class ratio to a row
        members = positions[y[positions] == label]
        kept.append(rng.permutation(members)[: round(fraction * len(members))])
    return np.sort(np.concatenate(kept))


def learning_curve(spec: TrainSpec, prep: Prepared, params: dict, log: Log, full: dict | None = None) -> pd.DataFrame:
    """Metrics per fraction, fold and part. Columns: fraction, train_rows, fold, part, roc_auc, pr_auc, log_loss, brier, ece.

    `full`: {fold index: (valid scores, train scores)} of the fold fits cross-validation already made on every training
    row (core.selection.cv.cross_validate's `fits`); the full share reuses them (the same rows, the same fit)."""
    from core.selection.cv import fold_fit
    from core.selection.folds import time_ns

    found = folds(spec, prep)
    ordered = in_time_order(spec)
    rows = []
    for fold, (train_pos, valid_pos) in enumerate(found):
        times = time_ns(prep, spec, train_pos) if ordered else None
        for fraction in FRACTIONS:
            kept = subsample(train_pos, prep.y, fraction, spec.seed + fold, times)
            if len(np.unique(prep.y[kept])) < 2:
                raise DataError(
                    f"The learning curve's {fraction:.1%} of fold {fold + 1}'s training rows ({len(kept):,} rows) holds one class "
                    "only; train on more rows or turn the learning curve off."
                )
            # A line only, no progress mark: cross-validation has already moved the job's bar past where this would put it.
            log(f"learning curve: fold {fold + 1}/{len(found)}, {fraction:.1%} of the training rows ({len(kept):,})")
            if fraction >= 1.0 and full and fold in full:
                valid_scores, train_scores = full[fold]
            else:
                _, valid_scores, train_scores = fold_fit(spec, prep, params, kept, valid_pos, log)
            for part, y, score in (("train", prep.y[kept], train_scores), ("valid", prep.y[valid_pos], valid_scores)):
                found_metrics = metrics.scores(y, score)
                rows.append([fraction, len(kept), fold, part, *(found_metrics[m] for m in METRICS)])
    return pd.DataFrame(rows, columns=COLUMNS)


def learning_summary(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and spread over folds per fraction and part. Columns: fraction, train_rows, part, mean, std.

    train_rows is the folds' mean row count, rounded; std is the sample standard deviation over folds (NaN with one fold).
    """
    grouped = frame.groupby(["fraction", "part"], sort=True)
    out = grouped.agg(train_rows=("train_rows", "mean"), mean=(metric, "mean"), std=(metric, "std")).reset_index()
    out["train_rows"] = out["train_rows"].round().astype(int)
    return out[["fraction", "train_rows", "part", "mean", "std"]].sort_values(["part", "fraction"], ignore_index=True)


def last_step(frame: pd.DataFrame, metric: str) -> dict | None:
    """The validation change over the last step up in rows: gain (in the better direction), spread, rows before and after;
    None without two fractions or with a metric missing there.

    gain is the mean over folds of each fold's change; spread is the standard deviation over folds of that change (0 with
    one fold)."""
    valid = frame[frame["part"] == "valid"]
    fractions = sorted(valid["fraction"].unique())
    if len(fractions) < 2:
        return None
    before = valid[valid["fraction"] == fractions[-2]].set_index("fold")
    after = valid[valid["fraction"] == fractions[-1]].set_index("fold")
    change = (after[metric] - before[metric]).dropna()
    if change.empty or len(change) < len(after):
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    gained = sign * change
    return {
        "gain": float(gained.mean()),
        "spread": float(gained.std()) if len(gained) > 1 else 0.0,
        "rows_before": int(round(before["train_rows"].mean())),
        "rows_after": int(round(after["train_rows"].mean())),
    }


def still_rising(frame: pd.DataFrame, metric: str) -> bool | None:
    """Whether the validation curve still rises: the last step up in rows (x1.78) improved the validation metric, averaged
    over folds, by more than both TOLERANCE[metric] and the fold spread of that improvement. None when it cannot be told."""
    step = last_step(frame, metric)
    if step is None:
        return None
    return step["gain"] > max(TOLERANCE[metric], step["spread"])


def learning_verdict(frame: pd.DataFrame, metric: str) -> str:
    """The words the page shows under the curve: still rising, flat or falling, with the step that says so."""
    step = last_step(frame, metric)
    name = metric.replace("_", " ")
    if step is None:
        return f"{UNJUDGED}: the validation {name} is missing at the two largest training sizes."
    rising = still_rising(frame, metric)
    change = step["gain"] if metric not in LOWER_IS_BETTER else -step["gain"]
    spread = "" if step["spread"] == 0 else f" ± {step['spread']:.4f} over folds"
    what = f"validation {name} moved {change:+.4f}{spread} from {step['rows_before']:,} to {step['rows_after']:,} training rows"
    if rising:
        return f"{RISING} ({what})."
    if step["gain"] < -max(TOLERANCE[metric], step["spread"]):
        return f"{FALLING} ({what}): older rows may describe the present less well, or the fit is unstable."
    return f"{FLAT} ({what}); better features or another model are the likelier gains."

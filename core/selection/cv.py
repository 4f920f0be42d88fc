"""Cross-validation: one fit per fold inside that fold's rows, metrics on its validation block, and their mean and spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.diagnostics import metrics
from core.progress import Log
from core.selection.folds import fold_positions, inner_split, time_ns
from core.spec import TrainSpec
from core.training.prepare import Prepared
from models.calibrated import calibrated_scores

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
PROGRESS = (0.2, 0.3)  # the share of a job's progress bar CV moves through: after the search, before the final fit


# Families whose fit ignores eval_set: without calibration, their fold fits on every training row. The others early-stop
# (gbdt) or calibrate members (ensemble) on the eval rows, so a fold must hand them rows of its own.
IGNORE_EVAL_ROWS = ("linear", "forest")


def needs_stop_rows(spec: TrainSpec, params: dict) -> bool:
    """Whether a fold keeps rows of its own aside: the family uses eval rows (early stopping) or the scores are calibrated."""
    return spec.model.family not in IGNORE_EVAL_ROWS or "early_stopping_rounds" in params or spec.calibration != "none"


def fold_fit(spec: TrainSpec, prep: Prepared, params: dict, train_pos, valid_pos, log, score_train: bool = True):
    """(final model, scores on valid_pos, scores on train_pos or None), fitted on the fold's training rows only.

    Early stopping and calibration use the fold's inner_split rows; without either, the fit sees every training row, as
    sklearn's cross_validate fits the estimator on the fold.
    """
    from core.train import fit  # core.train imports this module's caller: imported here, not at load

    quiet = _without_progress(log)
    if needs_stop_rows(spec, params):
        fit_pos, stop_pos = inner_split(prep, spec, train_pos)
        _, model, final, _ = fit(spec, prep, params, quiet, rows=(fit_pos, stop_pos))
    else:
        # No eval rows: the family ignores eval_set, so it gets none rather than a copy of the validation block.
        _, model, final, _ = fit(spec, prep, params, quiet, calibrate=False, rows=(train_pos, train_pos[:0]))
    valid_scores = _scores(model, final, prep, valid_pos)
    train_scores = _scores(model, final, prep, train_pos) if score_train else None
    return final, valid_scores, train_scores


def _scores(model, final, prep: Prepared, positions: np.ndarray) -> np.ndarray:
    raw = model.predict_proba(prep.frame.loc[positions, prep.features])[:, 1]
    return calibrated_scores(final, raw)


def _without_progress(log):
    """fit()'s lines go to the log, but its progress marks (0.3, 0.6) would move the job's bar back and forth."""

    def quiet(message: str, progress: float | None = None) -> None:
        log(message)

    return quiet


def cross_validate(spec: TrainSpec, prep: Prepared, params: dict, log: Log, fits: dict | None = None) -> pd.DataFrame:
    """Per-fold metrics. Columns: fold, train_rows, valid_rows, valid_positives, valid_start, valid_end, roc_auc, pr_auc,
    log_loss, brier, ece (valid_start/end: the block's time range, NaT without a time column).

    `fits`: a dict that receives {fold index: (valid scores, train scores)}, so the learning curve's full share reuses
    the fold fits instead of repeating them."""
    folds = fold_positions(prep, spec)
    rows = []
    for number, (train_pos, valid_pos) in enumerate(folds, 1):
        log(f"CV fold {number}/{len(folds)} ({spec.validation.kind}): {len(train_pos):,} training rows, {len(valid_pos):,} validation rows")
        _, valid_scores, train_scores = fold_fit(spec, prep, params, train_pos, valid_pos, log, score_train=fits is not None)
        if fits is not None:
            fits[number - 1] = (valid_scores, train_scores)
        found = metrics.scores(prep.y[valid_pos], valid_scores)
        start, end = pd.NaT, pd.NaT
        if spec.time_column:
            t = time_ns(prep, spec, valid_pos)
            start, end = pd.Timestamp(t.min()), pd.Timestamp(t.max())
        rows.append(
            {
                "fold": number,
                "train_rows": len(train_pos),
                "valid_rows": len(valid_pos),
                "valid_positives": int(prep.y[valid_pos].sum()),
                "valid_start": start,
                "valid_end": end,
                **{name: found[name] for name in METRICS},
            }
        )
        low, high = PROGRESS
        log(
            f"CV fold {number}/{len(folds)}: ROC AUC {found['roc_auc']:.4f}, log loss {found['log_loss']:.4f}",
            low + (high - low) * number / len(folds),
        )
    frame = pd.DataFrame(rows)
    frame["valid_start"] = pd.to_datetime(frame["valid_start"])
    frame["valid_end"] = pd.to_datetime(frame["valid_end"])
    return frame


def cv_summary(frame: pd.DataFrame) -> dict[str, float]:
    """{"cv_<metric>_mean", "cv_<metric>_std"} over the folds for the five metrics; std is the sample std (ddof=1)."""
    out = {}
    for name in METRICS:
        out[f"cv_{name}_mean"] = float(frame[name].mean())
        out[f"cv_{name}_std"] = float(frame[name].std(ddof=1))
    return out

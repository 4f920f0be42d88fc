"""Where the model does worse: metrics per segment and parity of decisions across groups (the slice finder is
core.diagnostics.slice_finder, built on the helpers here).

Both take the run's predictions (`y` 0/1, `score` calibrated probability, segment columns) and work
on whole columns at once: one sort by score, then grouped counts, so a million rows take well under a second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.diagnostics.intervals import MISSING, Z95, wilson_interval
from core.diagnostics.metrics import EPS
from core.errors import DataError

# Which direction of each per-segment metric is worse.
METRICS = {
    "roc_auc": "lower",
    "pr_auc": "lower",
    "log_loss": "higher",
    "brier": "higher",
    "ece": "higher",
    "calibration_ratio": "away from 1",
}
_ERFC = np.vectorize(math.erfc, otypes=[float])  # not scipy.special's: importing scipy costs the report ~0.15 s
FEW = 10  # fewer positives or negatives than this: the AUC interval is rough
ONE_CLASS = "only one class in this segment"


def worseness(values, metric: str) -> np.ndarray:
    """How bad each value of `metric` is, larger is worse (a ratio counts by |ln ratio|, so 1/2 and 2 are alike); NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    direction = METRICS[metric]
    if direction == "lower":
        return -values
    if direction == "higher":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.log(values))


def hanley_mcneil_se(auc, positives, negatives) -> np.ndarray:
    """Standard error of a ROC AUC from Hanley & McNeil (1982), elementwise."""
    a = np.asarray(auc, dtype=float)
    n1 = np.asarray(positives, dtype=float)
    n0 = np.asarray(negatives, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
    return np.sqrt(np.maximum(var, 0))


def two_sided_p(z) -> np.ndarray:
    """Two-sided normal p-value of a z statistic."""
    return _ERFC(np.abs(np.asarray(z, dtype=float)) / np.sqrt(2))


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN p-values are not counted as tests and stay NaN."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def labels_and_scores(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("y", "score") if c not in frame.columns]
    if missing:
        raise DataError(f"Predictions need columns y and score; missing: {', '.join(missing)}.")
    if len(frame) == 0:
        raise DataError("There are no predictions to cut by segment.")
    y = frame["y"].to_numpy(dtype=float, na_value=np.nan)
    score = frame["score"].to_numpy(dtype=float, na_value=np.nan)
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataError("Predictions column y must hold only 0 and 1.")
    if not np.isfinite(score).all():
        raise DataError("Predictions column score has missing or infinite values.")
    return y, score


def segment_codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list]:
    """Integer codes per row (missing values get the last code) and the values they stand for (None for missing)."""
    if column not in frame.columns:
        raise DataError(f"Unknown segment column {column!r}; columns are: {', '.join(map(str, frame.columns))}.")
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    values = pd.Index(uniques).tolist()
    if (codes < 0).any():
        codes = np.where(codes < 0, len(values), codes)
        values.append(None)
    return narrowest(codes, len(values)), values


def narrowest(codes: np.ndarray, size: int) -> np.ndarray:
    """The same codes in the narrowest unsigned type, so the stable sort is a radix sort."""
    return codes.astype(np.uint8 if size <= 256 else np.uint16 if size <= 65536 else np.int64)


def _ranked(codes: np.ndarray, y: np.ndarray, s: np.ndarray, size: int, precision: bool = False) -> dict[str, np.ndarray]:
    """Per group, from rows already in ascending score order: positives, negatives, the Mann–Whitney count
    of (positive, negative) pairs ordered right (ties count one half) and, if asked, average precision.

    One stable sort by group keeps the score order inside each group; runs of equal (group, score) are
    tie blocks, and cumulative counts over the blocks give each group's ranks without a loop."""
    perm = np.argsort(codes, kind="stable")
    g, yy, ss = codes[perm], y[perm], s[perm]
    new = np.empty(len(g), dtype=bool)
    new[:1] = True
    new[1:] = (g[1:] != g[:-1]) | (ss[1:] != ss[:-1])
    start = np.flatnonzero(new)
    pos = np.add.reduceat(yy, start)
    neg = np.diff(np.append(start, len(g))) - pos
    gb = g[start].astype(np.int64)
    first = np.flatnonzero(np.r_[True, gb[1:] != gb[:-1]])
    span = np.diff(np.append(first, len(gb)))
    cum_pos, cum_neg = np.cumsum(pos) - pos, np.cumsum(neg) - neg
    pos_before = cum_pos - np.repeat(cum_pos[first], span)
    neg_before = cum_neg - np.repeat(cum_neg[first], span)
    out = {
        "positives": np.bincount(gb, pos, size),
        "negatives": np.bincount(gb, neg, size),
        "pairs": np.bincount(gb, pos * (neg_before + 0.5 * neg), size),
    }
    if precision:  # at each distinct score, top-down: precision at that cut weighted by the positives it adds
        tps = out["positives"][gb] - pos_before
        fps = out["negatives"][gb] - neg_before
        with np.errstate(divide="ignore", invalid="ignore"):
            out["pr_auc"] = np.bincount(gb, pos * tps / (tps + fps), size) / out["positives"]
    return out


def _auc(pairs, positives, negatives) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((positives > 0) & (negatives > 0), pairs / (positives * negatives), np.nan)


def _segment_note(positives: int, negatives: int) -> str:
    if positives == 0:
        return f"{ONE_CLASS} (no positives): AUCs and calibration ratio undefined"
    if negatives == 0:
        return f"{ONE_CLASS} (no negatives): AUCs undefined"
    if min(positives, negatives) < FEW:
        return f"fewer than {FEW} {'positives' if positives <= negatives else 'negatives'}: intervals are rough"
    return ""


def segment_metrics(frame: pd.DataFrame, column: str, metric: str = "roc_auc", bins: int = 10) -> pd.DataFrame:
    """Metrics per value of one segment column, worst first by `metric`. Columns: segment, rows, positives,
    base_rate, base_rate_lo, base_rate_hi, mean_score, roc_auc, roc_auc_lo, roc_auc_hi, pr_auc, log_loss,
    brier, ece, calibration_ratio, calibration_ratio_lo, calibration_ratio_hi, note.

    Scores are clipped to [1e-15, 1 - 1e-15] as in core.diagnostics.metrics.scores; missing values form the segment
    "(missing)". Intervals are 95%: Wilson for the base rate, Hanley–McNeil standard error for ROC AUC,
    and mean_score over the Wilson bounds of the base rate for calibration_ratio (mean_score / base_rate).
    """
    if metric not in METRICS:
        raise DataError(f"Unknown segment metric {metric!r}; use one of: {', '.join(METRICS)}.")
    y, score = labels_and_scores(frame)
    s = np.clip(score, EPS, 1 - EPS)
    codes, values = segment_codes(frame, column)
    k = len(values)
    order = np.argsort(s)  # any order among equal scores: _ranked works on tie blocks
    ranked = _ranked(codes[order], y[order], s[order], k, precision=True)
    rows = np.bincount(codes, minlength=k)
    positives = ranked["positives"]
    negatives = rows - positives
    one_class = (positives == 0) | (negatives == 0)
    auc = _auc(ranked["pairs"], positives, negatives)
    half = Z95 * hanley_mcneil_se(auc, positives, negatives)
    base_lo, base_hi = wilson_interval(positives, rows)
    mean_score = np.bincount(codes, s, k) / rows
    bin_of = np.minimum((s * bins).astype(np.int64), bins - 1) + codes.astype(np.int64) * bins
    gap = np.abs(np.bincount(bin_of, y, k * bins) - np.bincount(bin_of, s, k * bins)).reshape(k, bins).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positives > 0, mean_score * rows / positives, np.nan)
        ratio_lo = np.where(positives > 0, mean_score / base_hi, np.nan)
        ratio_hi = np.where(positives > 0, mean_score / base_lo, np.nan)
    table = pd.DataFrame(
        {
            "segment": [MISSING if v is None else str(v) for v in values],
            "rows": rows,
            "positives": positives.astype(np.int64),
            "base_rate": positives / rows,
            "base_rate_lo": base_lo,
            "base_rate_hi": base_hi,
            "mean_score": mean_score,
            "roc_auc": auc,
            "roc_auc_lo": np.clip(auc - half, 0, 1),
            "roc_auc_hi": np.clip(auc + half, 0, 1),
            "pr_auc": np.where(one_class, np.nan, ranked["pr_auc"]),
            "log_loss": np.bincount(codes, -(y * np.log(s) + (1 - y) * np.log1p(-s)), k) / rows,
            "brier": np.bincount(codes, (s - y) ** 2, k) / rows,
            "ece": gap / rows,
            "calibration_ratio": ratio,
            "calibration_ratio_lo": ratio_lo,
            "calibration_ratio_hi": ratio_hi,
            "note": [_segment_note(int(p), int(n)) for p, n in zip(positives, negatives, strict=True)],
        }
    )
    table["worse"] = worseness(table[metric], metric)
    table = table.sort_values(["worse", "rows"], ascending=False, na_position="last", kind="stable")
    return table.drop(columns="worse").reset_index(drop=True)


def parity(frame: pd.DataFrame, column: str, threshold: float) -> pd.DataFrame:
    """Decisions (score >= threshold) compared across groups. Columns: group, rows, positives, selection_rate,
    tpr, fpr, selection_ratio, tpr_ratio, fpr_ratio, below_four_fifths, note.

    Each ratio compares a group with the best group, so 1 is best and smaller is worse: selection_ratio =
    selection_rate / highest selection_rate, tpr_ratio = tpr / highest tpr, fpr_ratio = lowest fpr / this
    group's fpr (1 when both are 0). below_four_fifths is True when selection_ratio < 0.8, i.e. the group
    fails the four-fifths rule. Groups without positives (or negatives) have no tpr (fpr); the note says so.
    Sorted by selection_ratio, lowest first.
    """
    y, score = labels_and_scores(frame)
    codes, values = segment_codes(frame, column)
    k = len(values)
    chosen = (score >= threshold).astype(float)
    rows = np.bincount(codes, minlength=k)
    positives = np.bincount(codes, y, k)
    negatives = rows - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        selection = np.bincount(codes, chosen, k) / rows
        tpr = np.bincount(codes, chosen * y, k) / positives
        fpr = np.bincount(codes, chosen * (1 - y), k) / negatives
        selection_ratio = selection / np.nanmax(selection)
        tpr_ratio = tpr / np.nanmax(tpr) if (positives > 0).any() else tpr
        best_fpr = np.nanmin(fpr) if (negatives > 0).any() else np.nan
        fpr_ratio = np.where(fpr == best_fpr, 1.0, best_fpr / fpr)
    fpr_ratio = np.where(np.isnan(fpr), np.nan, fpr_ratio)
    notes = [
        "; ".join(t for t, missing in (("no positives: no TPR", p == 0), ("no negatives: no FPR", n == 0)) if missing)
        for p, n in zip(positives, negatives, strict=True)
    ]
    table = pd.DataFrame(
        {
            "group": [MISSING if v is None else str(v) for v in values],
            "rows": rows,
            "positives": positives.astype(np.int64),
            "selection_rate": selection,
            "tpr": tpr,
            "fpr": fpr,
            "selection_ratio": selection_ratio,
            "tpr_ratio": tpr_ratio,
            "fpr_ratio": fpr_ratio,
            "below_four_fifths": selection_ratio < 0.8,
            "note": notes,
        }
    )
    return table.sort_values(["selection_ratio", "group"], na_position="last", kind="stable").reset_index(drop=True)

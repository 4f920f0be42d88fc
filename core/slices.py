"""Where the model does worse: metrics per segment, parity of decisions across groups, and a slice finder.

All three take the run's predictions (`y` 0/1, `score` calibrated probability, segment columns) and work
on whole columns at once: one sort by score, then grouped counts, so a million rows take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import erfc

from core.data import MISSING
from core.errors import DataError
from core.intervals import Z95, wilson_interval
from core.metrics import EPS
from core.sql import Filter, describe_filter

# Which direction of each per-segment metric is worse.
METRICS = {
    "roc_auc": "lower",
    "pr_auc": "lower",
    "log_loss": "higher",
    "brier": "higher",
    "ece": "higher",
    "calibration_ratio": "away from 1",
}
FEW = 10  # fewer positives or negatives than this: the AUC interval is rough
ONE_CLASS = "only one class in this segment"
RARE = object()  # the bin of a column's values too rare to form a slice
DENSE_TIE_CELLS = 1 << 22  # up to this many (tied score, group) cells, tied pairs are counted with bincount


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
    return erfc(np.abs(np.asarray(z, dtype=float)) / np.sqrt(2))


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


def _labels_and_scores(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
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


def _codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list]:
    """Integer codes per row (missing values get the last code) and the values they stand for (None for missing)."""
    if column not in frame.columns:
        raise DataError(f"Unknown segment column {column!r}; columns are: {', '.join(map(str, frame.columns))}.")
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    values = pd.Index(uniques).tolist()
    if (codes < 0).any():
        codes = np.where(codes < 0, len(values), codes)
        values.append(None)
    return _small(codes, len(values)), values


def _small(codes: np.ndarray, size: int) -> np.ndarray:
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


def _score_order(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in ascending score order with negatives before positives among equal scores, and each one's tie block."""
    order = np.argsort(s)
    ordered = s[order]
    block = np.r_[0, np.cumsum(ordered[1:] != ordered[:-1])]
    if block[-1] < len(s) - 1:  # some scores tie: put the negatives of each tie first (block stays sorted)
        order = order[np.argsort(block * 2 + y[order].astype(np.int64), kind="stable")]
    return order, block


def _mixed_ties(y: np.ndarray, block: np.ndarray) -> tuple | None:
    """Rows (in score order) of tie blocks that hold both classes, the index of their block, and how many such blocks."""
    rows = np.bincount(block)
    positives = np.bincount(block, y)
    mixed = (positives > 0) & (positives < rows)
    if not mixed.any():
        return None
    at = np.flatnonzero(mixed[block])
    return at, (np.cumsum(mixed) - 1)[block[at]], int(mixed.sum())


def _mann_whitney(codes: np.ndarray, positive: np.ndarray, rows: np.ndarray, positives: np.ndarray, ties) -> np.ndarray:
    """Per group, the (positive, negative) pairs ordered right, ties counting one half, from rows in `_score_order`.

    A stable sort by group keeps the score order inside each group. A positive at position k of a group that
    starts at `start` has k - start rows of its group before it, and summed over the group's P positives the
    positives among them number P(P-1)/2; what is left are the negatives before each positive. Negatives come
    first among equal scores, so each tied pair was counted whole: half of it is taken off again."""
    size = len(rows)
    at = np.flatnonzero(positive[np.argsort(codes, kind="stable")])
    start = np.cumsum(rows) - rows
    group = np.searchsorted(start, at, side="right") - 1
    pairs = np.bincount(group, at.astype(float), size) - positives * start - positives * (positives - 1) / 2
    if ties is not None:
        tied_rows, tied_block, blocks = ties
        key = tied_block * size + codes[tied_rows]
        if blocks * size <= DENSE_TIE_CELLS:
            count = np.bincount(key, minlength=blocks * size)
            pos = np.bincount(key, positive[tied_rows].astype(float), blocks * size)
            group, tied = np.arange(blocks * size) % size, pos * (count - pos)
        else:  # too many (tie, group) cells for a dense count
            cells, inverse, count = np.unique(key, return_inverse=True, return_counts=True)
            pos = np.bincount(inverse, positive[tied_rows].astype(float), len(cells))
            group, tied = cells % size, pos * (count - pos)
        pairs -= 0.5 * np.bincount(group, tied, size)
    return pairs


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

    Scores are clipped to [1e-15, 1 - 1e-15] as in core.metrics.scores; missing values form the segment
    "(missing)". Intervals are 95%: Wilson for the base rate, Hanley–McNeil standard error for ROC AUC,
    and mean_score over the Wilson bounds of the base rate for calibration_ratio (mean_score / base_rate).
    """
    if metric not in METRICS:
        raise DataError(f"Unknown segment metric {metric!r}; use one of: {', '.join(METRICS)}.")
    y, score = _labels_and_scores(frame)
    s = np.clip(score, EPS, 1 - EPS)
    codes, values = _codes(frame, column)
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
    y, score = _labels_and_scores(frame)
    codes, values = _codes(frame, column)
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


SLICE_COLUMNS = [
    "slice", "filters", "rows", "positives", "flagged_by", "finding", "roc_auc", "rest_roc_auc", "auc_diff", "auc_p", "auc_q",
    "calibration_ratio", "rest_calibration_ratio", "ratio_p", "ratio_q", "effect",
]  # fmt: skip
AUC_TEST, CALIBRATION_TEST = "ROC AUC vs the rest", "calibration"


def find_slices(
    frame: pd.DataFrame,
    columns: Sequence[str],
    min_rows: int = 500,
    alpha: float = 0.05,
    max_slices: int = 15,
    worse_only: bool = True,
) -> pd.DataFrame:
    """Slices (one column value, or a pair of values of two columns) where the model does worse than on the
    rest of the rows. Columns: slice, filters, rows, positives, flagged_by, finding, roc_auc, rest_roc_auc,
    auc_diff, auc_p, auc_q, calibration_ratio, rest_calibration_ratio, ratio_p, ratio_q, effect.

    A slice is tested when it has at least `min_rows` rows and both classes, and the rest has both classes;
    a pair slice with the same rows as one of its single values is dropped. Tests, two-sided:
    - auc_diff = roc_auc - rest_roc_auc; z = auc_diff / sqrt(se_slice² + se_rest²) with Hanley–McNeil
      standard errors (slice and rest are disjoint, so independent samples);
    - calibration: z = (sum of scores - positives) / sqrt(sum s(1-s)) over the slice's rows;
      calibration_ratio = sum of scores / positives (mean_score / base_rate, as in segment_metrics).
    auc_q and ratio_q are Benjamini–Hochberg adjusted over all tests (two per slice tested). A slice is worse
    when its AUC is lower than the rest's with auc_q < alpha, or its ratio_q < alpha; `flagged_by` names the
    tests that found it worse (AUC_TEST, CALIBRATION_TEST, or both joined by " and "; empty if none) and
    `finding` says what each found, against what. A slice whose AUC is higher than the rest's is never flagged
    by the AUC test.
    effect = max(AUC lost against the rest, |ln calibration_ratio|), counting for a flagged slice only the
    parts found significant (so noise in the other test does not rank it): both are 0 for a slice served like
    the rest and grow as it is served worse, and an AUC drop of 0.05 ranks with a 5% over- or under-prediction.
    Only the worse slices unless `worse_only` is False (then flagged ones first); sorted by effect; at most
    `max_slices` rows. attrs["tested"] and attrs["worse"] count the slices tested and found worse. `filters`
    are the app's filter tuples, so a slice can be carried into Explore or Train.
    """
    y, score = _labels_and_scores(frame)
    s = np.clip(score, EPS, 1 - EPS)
    order, block = _score_order(y, s)
    y, s = y[order], s[order]
    ties = _mixed_ties(y, block)
    total_pos = y.sum()
    total_neg = len(y) - total_pos
    # Per row, its pairs with the whole frame: a positive's negatives below it, a negative's positives above it.
    block_pos = np.bincount(block, y)
    block_neg = np.bincount(block) - block_pos
    below = np.cumsum(block_neg) - 0.5 * block_neg
    above = total_pos - np.cumsum(block_pos) + 0.5 * block_pos
    with_all = np.where(y == 1, below[block], above[block])
    total_pairs = (y * with_all).sum()
    variance = s * (1 - s)
    positive_u8 = y.astype(np.uint8)

    coded = {c: _slice_codes(frame, c, order, min_rows) for c in dict.fromkeys(columns)}
    parts = [((c,), codes, len(values)) for c, (codes, values) in coded.items()]
    for a, b in combinations(coded, 2):
        (ca, va), (cb, vb) = coded[a], coded[b]
        size = len(va) * len(vb)
        wide = np.uint16 if size <= 65536 else np.int64  # narrow arithmetic: a million rows, ten times
        parts.append(((a, b), _small(ca.astype(wide) * wide(len(vb)) + cb, size), size))

    found, single_rows = [], {}
    for names, codes, size in parts:
        index = codes.astype(np.intp)  # bincount would cast the narrow codes on every call
        rows = np.bincount(index, minlength=size)
        positives = np.bincount(index, y, size)
        negatives = rows - positives
        keep = (rows >= min_rows) & (positives > 0) & (negatives > 0) & (positives < total_pos) & (negatives < total_neg)
        if len(names) == 1:
            single_rows[names[0]] = rows
            keep[-1] = False  # the rare values' bin
        else:  # not in a rare bin, and not the same rows as a single value (already tested as that value)
            a, b = divmod(np.arange(size), len(coded[names[1]][1]))
            keep &= (a < len(coded[names[0]][1]) - 1) & (b < len(coded[names[1]][1]) - 1)
            keep &= (rows != single_rows[names[0]][a]) & (rows != single_rows[names[1]][b])
        if not keep.any():
            continue
        pairs = _mann_whitney(codes, positive_u8, rows, positives, ties)
        cells = np.flatnonzero(keep)
        found.append(
            pd.DataFrame(
                {
                    "names": [names] * len(cells),
                    "cell": cells,
                    "rows": rows[cells],
                    "positives": positives[cells],
                    "pairs": pairs[cells],
                    "pairs_with_all": np.bincount(index, with_all, size)[cells],
                    "expected": np.bincount(index, s, size)[cells],
                    "variance": np.bincount(index, variance, size)[cells],
                }
            )
        )
    if not found:
        text = ("slice", "filters", "flagged_by", "finding")
        empty = pd.DataFrame({c: pd.Series(dtype=object if c in text else float) for c in SLICE_COLUMNS})
        empty.attrs.update(tested=0, worse=0)
        return empty
    t = pd.concat(found, ignore_index=True)
    n1, n0 = t["positives"].to_numpy(), (t["rows"] - t["positives"]).to_numpy()
    r1, r0 = total_pos - n1, total_neg - n0
    auc = t["pairs"].to_numpy() / (n1 * n0)
    rest_pairs = total_pairs - t["pairs_with_all"].to_numpy() + t["pairs"].to_numpy()
    rest_auc = rest_pairs / (r1 * r0)
    auc_diff = auc - rest_auc
    with np.errstate(divide="ignore", invalid="ignore"):
        auc_z = auc_diff / np.hypot(hanley_mcneil_se(auc, n1, n0), hanley_mcneil_se(rest_auc, r1, r0))
        ratio_z = (t["expected"].to_numpy() - n1) / np.sqrt(t["variance"].to_numpy())
    auc_p, ratio_p = two_sided_p(auc_z), two_sided_p(ratio_z)
    q = benjamini_hochberg(np.r_[auc_p, ratio_p])
    auc_q, ratio_q = q[: len(t)], q[len(t) :]
    ratio = t["expected"].to_numpy() / n1
    rest_ratio = (s.sum() - t["expected"].to_numpy()) / r1
    auc_lost, calibration = np.maximum(-auc_diff, 0), np.abs(np.log(ratio))
    worse_auc, miscalibrated = (auc_q < alpha) & (auc_diff < 0), ratio_q < alpha
    significant = worse_auc | miscalibrated
    filters = [_filters(names, cell, coded) for names, cell in zip(t["names"], t["cell"], strict=True)]
    out = pd.DataFrame(
        {
            "slice": [" & ".join(map(describe_filter, f)) for f in filters],
            "filters": filters,
            "rows": t["rows"].to_numpy(dtype=np.int64),
            "positives": n1.astype(np.int64),
            "flagged_by": [
                " and ".join(name for name, hit in ((AUC_TEST, a), (CALIBRATION_TEST, c)) if hit)
                for a, c in zip(worse_auc, miscalibrated, strict=True)
            ],
            "finding": [
                _finding(*row) for row in zip(worse_auc, miscalibrated, auc, rest_auc, auc_q, ratio, rest_ratio, ratio_q, strict=True)
            ],
            "roc_auc": auc,
            "rest_roc_auc": rest_auc,
            "auc_diff": auc_diff,
            "auc_p": auc_p,
            "auc_q": auc_q,
            "calibration_ratio": ratio,
            "rest_calibration_ratio": rest_ratio,
            "ratio_p": ratio_p,
            "ratio_q": ratio_q,
            "effect": np.where(
                significant, np.maximum(auc_lost * worse_auc, calibration * miscalibrated), np.maximum(auc_lost, calibration)
            ),
        }
    )
    tested = len(out)
    out = out[significant] if worse_only else out
    order = np.lexsort((-out["rows"].to_numpy(), -out["effect"].to_numpy(), out["flagged_by"].eq("").to_numpy()))
    out = out.iloc[order].head(max_slices).reset_index(drop=True)
    out.attrs.update(tested=tested, worse=int(significant.sum()))
    return out


def _q(value: float) -> str:
    return "q < 0.001" if value < 0.001 else f"q = {value:.3f}"


def _finding(worse_auc, miscalibrated, auc, rest_auc, auc_q, ratio, rest_ratio, ratio_q) -> str:
    """What the tests that flagged a slice found, each against its reference: the rest's AUC, or calibration (ratio 1)."""
    found = []
    if worse_auc:
        found.append(f"ROC AUC {auc:.3f} vs {rest_auc:.3f} on the rest ({_q(auc_q)})")
    if miscalibrated:
        way = "over" if ratio > 1 else "under"
        found.append(f"{way}-predicts: {ratio:.2f}× the observed positives ({_q(ratio_q)}); the rest {rest_ratio:.2f}×")
    return "; ".join(found)


def _slice_codes(frame: pd.DataFrame, column: str, order: np.ndarray, min_rows: int) -> tuple[np.ndarray, list]:
    """Codes in score order of one column's values that have at least `min_rows` rows; rarer values, which can
    be in no slice, share one last bin, so a many-valued column does not blow up the pairs."""
    codes, values = _codes(frame, column)
    common = np.bincount(codes, minlength=len(values)) >= min_rows
    recode = np.where(common, np.cumsum(common) - 1, common.sum())
    values = [v for v, keep in zip(values, common, strict=True) if keep] + [RARE]
    return _small(recode[codes[order]], len(values)), values


def _filters(names: tuple, cell: int, coded: dict) -> list[Filter]:
    """The filter tuples selecting one cell of one or two columns' codes (values kept exactly, not stripped)."""
    cells = (cell,) if len(names) == 1 else divmod(cell, len(coded[names[1]][1]))
    values = [coded[name][1][code] for name, code in zip(names, cells, strict=True)]
    return [(name, "is null", None) if value is None else (name, "=", value) for name, value in zip(names, values, strict=True)]

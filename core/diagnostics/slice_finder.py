"""The slice finder: one column value, or a pair of values of two columns, where the model does worse than on the rest.

Takes the run's predictions (`y` 0/1, `score`, segment columns) as core.diagnostics.slices does: one sort by score, then grouped
counts and a Mann–Whitney count per group, so hundreds of slices over a million rows take about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from core.diagnostics.metrics import EPS
from core.diagnostics.slices import benjamini_hochberg, hanley_mcneil_se, labels_and_scores, narrowest, segment_codes, two_sided_p
from core.sql import Filter, describe_filter

RARE = object()  # the bin of a column's values too rare to form a slice
DENSE_TIE_CELLS = 1 << 22  # up to this many (tied score, group) cells, tied pairs are counted with bincount


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
    y, score = labels_and_scores(frame)
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
        parts.append(((a, b), narrowest(ca.astype(wide) * wide(len(vb)) + cb, size), size))

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
    codes, values = segment_codes(frame, column)
    common = np.bincount(codes, minlength=len(values)) >= min_rows
    recode = np.where(common, np.cumsum(common) - 1, common.sum())
    values = [v for v, keep in zip(values, common, strict=True) if keep] + [RARE]
    return narrowest(recode[codes[order]], len(values)), values


def _filters(names: tuple, cell: int, coded: dict) -> list[Filter]:
    """The filter tuples selecting one cell of one or two columns' codes (values kept exactly, not stripped)."""
    cells = (cell,) if len(names) == 1 else divmod(cell, len(coded[names[1]][1]))
    values = [coded[name][1][code] for name, code in zip(names, cells, strict=True)]
    return [(name, "is null", None) if value is None else (name, "=", value) for name, value in zip(names, values, strict=True)]

"""Calibration diagnostics: reliability tables, ECE from a table, raw vs calibrated scores, calibration by group.

Binning: the reliability chart on the page uses 10 equal-mass bins ("quantile": every point rests on the same number
of rows), while the ECE that training logs and the headline shows uses 10 equal-width bins, as core.diagnostics.metrics.ece does.
compare() reports both, each named with its binning, so the two are never confused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.diagnostics.intervals import wilson_interval, with_wilson_interval
from core.diagnostics.metrics import EPS, binary_arrays
from core.errors import DataError
from core.spec import OVERSAMPLING

STRATEGIES = {"quantile": "equal-mass", "uniform": "equal-width"}
FEW_POSITIVES = 10  # below this many positives a group's rate, and so its ratio, is too noisy to read alone


def reliability(y, score, bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Observed rate against mean score per score bin. Columns: bin, lo, hi, n, mean_score, rate, rate_lo, rate_hi.

    "uniform": `bins` equal-width bins on [0, 1], lo <= score < hi (the last bin holds 1.0), the same arithmetic as
    core.diagnostics.metrics.ece; empty bins are kept with n = 0 and NaNs. "quantile": equal-mass bins whose lower edges are the
    scores at ranks floor(i * rows / bins), i = 0 .. bins - 1, of the sorted scores, deduplicated; each bin holds
    lo <= score < hi and the last one lo <= score <= the maximum. A block of tied scores is never split: it goes whole
    to the bin its value starts (a large tie block at the top is a bin [max, max] of its own), so under heavy ties
    there are fewer bins of unequal mass, none empty. rate_lo, rate_hi: Wilson 95% interval.
    """
    y, score = binary_arrays(y, score)
    if strategy == "uniform":
        edges = np.arange(bins + 1) / bins
        index = np.minimum((score * bins).astype(int), bins - 1)
    elif strategy == "quantile":
        edges = _quantile_edges(score, bins)
        index = np.searchsorted(edges[1:-1], score, side="right")
    else:
        raise DataError(f"Reliability bins are 'quantile' (equal-mass) or 'uniform' (equal-width), not {strategy!r}.")
    count = len(edges) - 1
    n = np.bincount(index, minlength=count)
    positives = np.bincount(index, weights=y, minlength=count)
    score_sum = np.bincount(index, weights=score, minlength=count)
    rate_lo, rate_hi = wilson_interval(positives, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "bin": np.arange(1, count + 1),
                "lo": edges[:-1],
                "hi": edges[1:],
                "n": n,
                "mean_score": score_sum / n,
                "rate": positives / n,
                "rate_lo": rate_lo,
                "rate_hi": rate_hi,
            }
        )


def _quantile_edges(score: np.ndarray, bins: int) -> np.ndarray:
    """Lower edges (the scores at ranks floor(i * rows / bins), i = 0 .. bins - 1, deduplicated), then the maximum."""
    ranks = np.r_[np.arange(bins) * len(score) // bins, len(score) - 1]
    picked = np.partition(score, ranks)[ranks]
    return np.r_[np.unique(picked[:-1]), picked[-1]]  # the last bin may be [max, max]: a tie block at the top


def ece_of(table: pd.DataFrame) -> float:
    """ECE of a reliability table: sum of |rate - mean_score| * n over bins, divided by all rows; empty bins add nothing."""
    n = table["n"].to_numpy(dtype=float)
    gap = np.abs(table["rate"].to_numpy(dtype=float) - table["mean_score"].to_numpy(dtype=float)) * n
    return float(np.nansum(gap) / n.sum())


def compare(y, score_raw, score, bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Raw vs calibrated scores on the same rows. Columns: metric, raw, calibrated.

    Rows: ECE with the chosen binning (named in the metric, e.g. "ECE (10 equal-mass bins)"), ECE over 10 equal-width
    bins (the logged ECE; left out when it is the same row), brier, log_loss (scores clipped to [1e-15, 1 - 1e-15] as
    core.diagnostics.metrics.scores does), mean_score, base_rate.
    """
    y, raw = binary_arrays(y, score_raw)
    _, calibrated = binary_arrays(y, score)
    names = [f"ECE ({bins} {STRATEGIES.get(strategy, strategy)} bins)", "ECE (10 equal-width bins)"]
    columns = {}
    for column, values in (("raw", raw), ("calibrated", calibrated)):
        clipped = np.clip(values, EPS, 1 - EPS)
        columns[column] = [
            ece_of(reliability(y, values, bins, strategy)),
            ece_of(reliability(y, values, 10, "uniform")),
            float(np.mean((y - clipped) ** 2)),
            float(-np.mean(np.where(y == 1, np.log(clipped), np.log1p(-clipped)))),
            float(values.mean()),
            float(y.mean()),
        ]
    out = pd.DataFrame({"metric": [*names, "brier", "log_loss", "mean_score", "base_rate"], **columns})
    return out.drop_duplicates("metric").reset_index(drop=True)


def by_group(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Calibration per value of `column`. Columns: group, rows, positives, mean_score, rate, rate_lo, rate_hi, calibration_ratio, ratio_lo, ratio_hi, note.

    calibration_ratio = mean score / observed rate (above 1: the model over-predicts). Its interval divides the mean
    score by the rate's Wilson 95% interval (the mean score's own noise is far smaller). A group with no positives
    has no ratio (NaN, with a note); one with fewer than 10 positives is noted as noisy. Missing values form their own
    group. Sorted worst first: by how far the ratio's interval lies from 1 (on a log scale), then by how far the ratio
    lies from 1.
    """
    if column not in frame.columns:
        raise DataError(f"The predictions have no column {column!r} to group by.")
    y, score = binary_arrays(frame["y"], frame["score"])
    codes, groups = pd.factorize(frame[column], use_na_sentinel=False)
    if isinstance(groups, pd.CategoricalIndex):  # a prepared frame's column (diagnose.prepared): the values, not categories
        groups = groups.astype(groups.categories.dtype)
    table = pd.DataFrame(
        {
            "group": groups,
            "rows": np.bincount(codes, minlength=len(groups)),
            "positives": np.bincount(codes, weights=y, minlength=len(groups)).astype(np.int64),
        }
    )
    table = with_wilson_interval(table)
    table.insert(3, "mean_score", np.bincount(codes, weights=score, minlength=len(groups)) / table["rows"].to_numpy())
    has_rate = table["positives"].to_numpy() > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        table["calibration_ratio"] = np.where(has_rate, table["mean_score"] / table["rate"], np.nan)
        table["ratio_lo"] = np.where(has_rate, table["mean_score"] / table["rate_hi"], np.nan)
        table["ratio_hi"] = np.where(has_rate, table["mean_score"] / table["rate_lo"], np.nan)
        off = np.log(table[["calibration_ratio", "ratio_lo", "ratio_hi"]].to_numpy(dtype=float))
    table["note"] = np.select(
        [~has_rate, table["positives"] < FEW_POSITIVES],
        ["no positives: the ratio is undefined", f"fewer than {FEW_POSITIVES} positives: a noisy ratio"],
        "",
    )
    outside = np.maximum(np.maximum(off[:, 1], -off[:, 2]), 0)  # 0 when the interval covers 1
    order = np.lexsort((-np.abs(off[:, 0]), -np.nan_to_num(outside, nan=-1.0)))
    return table.iloc[order].reset_index(drop=True)


def histogram(y, score, bins: int = 50) -> pd.DataFrame:
    """Scores of each class in equal-width bins from the lowest to the highest score. Columns: lo, hi, positives, negatives, positive_share, negative_share.

    Bins hold lo <= score < hi (the last one also holds the maximum); the shares are of each class's rows, so the two
    distributions compare even when positives are rare.
    """
    y, score = binary_arrays(y, score)
    low, high = score.min(), score.max()
    count = bins if high > low else 1
    edges = np.linspace(low, high, count + 1)
    index = np.minimum(((score - low) / (high - low if high > low else 1) * count).astype(int), count - 1)
    positives = np.bincount(index, weights=y, minlength=count).astype(np.int64)
    negatives = np.bincount(index, minlength=count) - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "lo": edges[:-1],
                "hi": edges[1:],
                "positives": positives,
                "negatives": negatives,
                "positive_share": positives / positives.sum(),
                "negative_share": negatives / negatives.sum(),
            }
        )


# Raw scores are "off" from an ECE of 0.02: on conversion rates of 2-10% an average gap of 2 points is a fifth to all of
# the rate, enough to misprice an expected-value decision, while a calibrated model on a test split of a few thousand
# rows sits below it (0.0005-0.0095 in the demo runs measured for the README).
OFF_ECE = 0.02


def calibration_note(ece_raw: float, ece_calibrated: float, oversampled: bool, mean_raw=None, rate=None) -> str | None:
    """Words on raw against calibrated ECE when the raw scores are off (ECE >= OFF_ECE), else None.

    `mean_raw` above `rate` reads "over-predict", below "under-predict"; without them "are off". Equal ECEs mean the run
    was not calibrated (its scores are its raw scores).
    """
    if not (np.isfinite(ece_raw) and np.isfinite(ece_calibrated)) or ece_raw < OFF_ECE:
        return None
    how = "are off"
    if mean_raw is not None and rate is not None and np.isfinite(mean_raw) and np.isfinite(rate) and mean_raw != rate:
        how = "over-predict" if mean_raw > rate else "under-predict"
    why = " Oversampling the training rows distorts the model's own probabilities." if oversampled else ""
    if ece_calibrated == ece_raw:
        return f"Scores {how}: ECE {ece_raw:.3f} and the run is not calibrated — retrain with isotonic calibration.{why}"
    before = f"Raw scores {how}: ECE {ece_raw:.3f} before calibration, {ece_calibrated:.3f} after"
    if ece_calibrated < OFF_ECE:
        return f"{before} — use the calibrated scores.{why}"
    return f"{before} — the calibrated scores are off too: read the reliability chart and calibration by segment.{why}"


def run_note(metrics: dict, tags: dict) -> str | None:
    """calibration_note of a finished run from its logged test metrics and its `wb.imbalance` tag (None before they were logged)."""
    if "test_ece_raw" not in metrics or "ece" not in metrics:
        return None
    oversampled = tags.get("wb.imbalance") in OVERSAMPLING
    return calibration_note(
        metrics["test_ece_raw"], metrics["ece"], oversampled, metrics.get("test_mean_score_raw"), metrics.get("test_base_rate")
    )


def compare_note(compared: pd.DataFrame, tags: dict) -> str | None:
    """calibration_note of the rows in a compare() table (its 10 equal-width-bin ECE, mean score, base rate) for a run's tags."""
    table = compared.set_index("metric")
    ece = table.loc["ECE (10 equal-width bins)"]
    oversampled = tags.get("wb.imbalance") in OVERSAMPLING
    return calibration_note(ece["raw"], ece["calibrated"], oversampled, table.loc["mean_score", "raw"], table.loc["base_rate", "raw"])


def ece_line(metrics: dict) -> str | None:
    """ "Test ECE: raw scores 0.0272, calibrated 0.0064" from a run's logged metrics (None before test_ece_raw was logged)."""
    if "test_ece_raw" not in metrics or "ece" not in metrics:
        return None
    return f"Test ECE: raw scores {metrics['test_ece_raw']:.4f}, calibrated {metrics['ece']:.4f}"

"""Metrics over time: rolling windows of the predictions with intervals, PSI, label maturity and confidence-based estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.diagnostics.intervals import Z95, wilson_interval
from core.diagnostics.metrics import ece
from core.errors import DataError

COLUMNS = [
    "start", "end", "rows", "positives", "base_rate", "base_rate_lo", "base_rate_hi", "mean_score",
    "roc_auc", "roc_auc_lo", "roc_auc_hi", "pr_auc", "ece", "calibration_ratio", "calibration_ratio_lo", "calibration_ratio_hi",
    "psi", "precision", "recall", "few_positives", "mature", "past_end", "est_precision", "est_recall", "est_roc_auc",
    "est_roc_auc_lo", "est_roc_auc_hi", "drift", "note",
]  # fmt: skip
PSI_EMPTY_SHARE = 1e-4  # an empty bin counts as this share, so its log term stays finite
CALIBRATION_BAND = (0.8, 1.25)  # calibration_ratio outside this band is drift
DAY_NS = 86_400 * 10**9
WINDOW_KEYS = [
    "rows", "positives", "mean_score", "roc_auc", "roc_auc_lo", "roc_auc_hi", "pr_auc", "ece", "psi",
    "precision", "recall", "est_precision", "est_recall", "est_roc_auc", "est_roc_auc_lo", "est_roc_auc_hi", "notes",
]  # fmt: skip
NO_TIME = "this run has no time column, so there are no windows; train with a time column"


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`: sum of (c - r) * ln(c / r) over bins of shares.

    Bins are right-closed, cut at the reference's quantiles (numpy's linear interpolation) with duplicate cuts merged and the
    outer edges open, so every value has a bin; a cut at or above the reference maximum is dropped (it would leave the last
    reference bin empty). A bin empty on either side counts as a share of PSI_EMPTY_SHARE (1e-4). NaN when either side is empty.
    """
    reference = np.sort(np.asarray(reference, dtype=float))
    current = np.sort(np.asarray(current, dtype=float))
    if not len(reference) or not len(current):
        return float("nan")
    cuts = _quantile_cuts(reference, bins)
    return _psi_from_shares(_bin_shares(reference, cuts), _bin_shares(current, cuts))


def windows(
    frame: pd.DataFrame,
    length_days: float = 7,
    step_days: float = 1,
    threshold: float = 0.5,
    conversion_days: float | None = None,
    now=None,
    min_positives: int = 30,
    reference_scores=None,
) -> pd.DataFrame:
    """Metrics per rolling window of `time`; one row per window [start, end): start inclusive, end exclusive. Columns: COLUMNS.

    Windows start at midnight of the first day and step by `step_days` while start <= the last time (so daily windows of
    date-only times keep the last day); windows reaching past the data's last day are marked `past_end` and their `note` says
    how many of their days hold no data (see `span_note` for a test split too short for any full, mature window). Empty
    windows stay, with rows=0 and a note. Rows with a missing time fall in no window. Every NaN has a `note` saying why.
    Times with a zone are windowed by wall-clock time in that zone; start and end keep the zone.

    base_rate has a Wilson 95% interval; roc_auc (equal to scikit-learn's) a 95% interval from the Hanley–McNeil standard
    error (a closed form, no resampling); pr_auc is average precision; ece is core.diagnostics.metrics.ece; calibration_ratio is
    mean_score / base_rate with the interval mean_score / base_rate_hi .. mean_score / base_rate_lo; psi compares each window's
    scores with the first window's (see `psi`), or with `reference_scores` when given (the monitor passes the model's own test
    scores); precision and recall flag score >= threshold.

    Maturity: with `conversion_days`, a window is immature when end > now - conversion_days (`now` defaults to the last time),
    because its late conversions have not arrived yet; without it every window is mature. For every window the est_* columns
    estimate precision, recall and ROC AUC from the calibrated scores alone, as NannyML's CBPE does: each row counts as a
    positive with weight `score` and a negative with weight 1 - score (see `_pair_auc`); est_roc_auc_lo/hi is the Hanley–McNeil
    interval at the expected counts of positives (the sum of scores) and negatives.

    drift: on a mature window with both classes, roc_auc below roc_auc_lo of the first mature window with both classes, or
    calibration_ratio outside CALIBRATION_BAND. few_positives marks positives < min_positives; those windows are kept.
    """
    if length_days <= 0 or step_days <= 0:
        raise ValueError(f"length_days={length_days!r}, step_days={step_days!r}: both must be positive")
    times, y, score, tz = _checked_columns(frame)
    known = times != np.iinfo(np.int64).min  # NaT
    first, last = int(times[known].min()), int(times[known].max())
    length, step = round(length_days * DAY_NS), round(step_days * DAY_NS)
    start0 = pd.Timestamp(first).floor("D").value
    count = (last - start0) // step + 1  # every start <= the last time, so a last row at midnight still gets a window
    starts = start0 + step * np.arange(count, dtype=np.int64)
    ends = starts + length

    # Sort once by score: each window's rows, picked out in this order, come out sorted. Rows are labelled with the block of
    # time between consecutive window edges, so picking a window is one comparison on a small integer array.
    edges = np.unique(np.concatenate([starts, ends]))
    block_type = np.uint16 if len(edges) < np.iinfo(np.uint16).max else np.uint32
    blocks = np.searchsorted(edges, times, side="right") - 1
    blocks[~known | (blocks < 0)] = len(edges)  # in no window
    order = np.argsort(score)
    blocks = blocks[order].astype(block_type)
    packed = np.where(y == 1, -score, score)[order]  # y rides in the sign bit (-0.0 included): one array to pick, not two
    cuts = reference_shares = None
    if reference_scores is not None and len(reference_scores):
        reference = np.sort(np.asarray(reference_scores, dtype=float))
        cuts = _quantile_cuts(reference, 10)
        reference_shares = _bin_shares(reference, cuts)
    found = []
    for first_block, end_block in zip(np.searchsorted(edges, starts), np.searchsorted(edges, ends), strict=True):
        # Unsigned wrap-around makes this one comparison test first_block <= block < end_block.
        inside = np.flatnonzero(blocks - block_type(first_block) < block_type(end_block - first_block))
        in_window = packed[inside]
        if cuts is None and len(in_window):  # the PSI reference: the first window (the first with rows, if windows are under a day)
            cuts = _quantile_cuts(np.abs(in_window), 10)
            reference_shares = _bin_shares(np.abs(in_window), cuts)
        found.append(_window_metrics(np.abs(in_window), np.signbit(in_window), threshold, cuts, reference_shares))
    table = pd.DataFrame(found).reindex(columns=WINDOW_KEYS)
    table.insert(0, "start", _timestamps(starts, tz))
    table.insert(1, "end", _timestamps(ends, tz))
    now_ns = last if now is None else _wall_ns(now, tz)
    mature = np.ones(count, bool) if conversion_days is None else ends <= now_ns - round(conversion_days * DAY_NS)
    days_past = (ends - (pd.Timestamp(last).floor("D").value + DAY_NS)) / DAY_NS  # > 0: the window reaches past the last day
    return _finish(table, mature, days_past, min_positives)


def span_note(frame: pd.DataFrame, length_days: float, conversion_days: float | None = None) -> str:
    """A sentence when the rows' days (first to last, whole days) are fewer than one window plus the conversion window, so
    that no window is both inside the data and mature; else ""."""
    times = frame["time"].dropna() if "time" in frame else pd.Series(dtype="datetime64[ns]")
    if times.empty:
        return ""
    days = (times.max().floor("D") - times.min().floor("D")).days + 1
    wait = conversion_days or 0
    if days >= length_days + wait:
        return ""
    needed = f"one {length_days:g}-day window" + (f" plus the {wait:g}-day conversion window" if wait else "")
    return (
        f"These test rows span {days} day{'s' if days != 1 else ''}, fewer than {needed} ({length_days + wait:g} days): "
        "no window is both inside the data and mature, so every window here is partial, immature or both. "
        "Read the est_* estimates, shorten the windows, or train with a larger test share to see settled windows."
    )


def _checked_columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """Times (int64 ns, wall clock), y (int64), score (float) and the time zone, or a DataError saying what is wrong."""
    if "time" not in frame:
        raise DataError(NO_TIME)
    missing = [name for name in ("y", "score") if name not in frame]
    if missing:
        raise DataError(f"the predictions have no {' or '.join(missing)} column; windows need y, score and time")
    if not pd.api.types.is_datetime64_any_dtype(frame["time"]):
        raise DataError(f"the time column holds {frame['time'].dtype}, not datetimes; train with a datetime time column")
    if frame["time"].isna().all():
        raise DataError("the time column has no values, so there are no windows")
    tz = frame["time"].dt.tz
    wall = frame["time"].dt.tz_localize(None) if tz is not None else frame["time"]
    times = wall.to_numpy(dtype="datetime64[ns]").view(np.int64)
    y = frame["y"].to_numpy()
    if frame["y"].isna().any() or not ((y == 0) | (y == 1)).all():
        raise DataError("y must be 0 or 1 on every row; the predictions hold other or missing values")
    score = frame["score"].to_numpy(dtype=float, na_value=np.nan)
    if not ((score >= 0) & (score <= 1)).all():  # also false for NaN
        raise DataError("score must be a probability in [0, 1] on every row; the predictions hold other or missing values")
    return times, y.astype(np.int64), score, tz


def _wall_ns(moment, tz) -> int:
    """A moment as int64 ns of wall-clock time in the data's zone (a naive moment is taken as already in it)."""
    moment = pd.Timestamp(moment)
    if moment.tz is not None:
        moment = (moment.tz_convert(tz) if tz is not None else moment.tz_convert("UTC")).tz_localize(None)
    return moment.as_unit("ns").value


def _timestamps(values: np.ndarray, tz) -> pd.Series:
    stamps = pd.DatetimeIndex(values.astype("datetime64[ns]"))
    if tz is not None:
        stamps = stamps.tz_localize(tz, ambiguous=np.zeros(len(stamps), bool), nonexistent="shift_forward")
    return pd.Series(stamps)


def _quantile_cuts(sorted_reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges: the reference's quantiles, deduplicated, without those at or above its maximum."""
    if not len(sorted_reference):
        return np.array([])
    inner = np.unique(np.quantile(sorted_reference, np.linspace(0, 1, bins + 1)[1:-1]))
    return inner[inner < sorted_reference[-1]]


def _bin_shares(sorted_values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Share of values in each right-closed bin (-inf, c1], (c1, c2], ..., (ck, inf); values must be sorted."""
    below = np.searchsorted(sorted_values, cuts, side="right")
    return np.diff(np.concatenate([[0], below, [len(sorted_values)]])) / len(sorted_values)


def _psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    reference = np.where(reference > 0, reference, PSI_EMPTY_SHARE)
    current = np.where(current > 0, current, PSI_EMPTY_SHARE)
    return float(np.sum((current - reference) * np.log(current / reference)))


def _window_metrics(score: np.ndarray, y: np.ndarray, threshold: float, cuts, reference_shares) -> dict:
    """Every number that needs the window's rows; `score` is ascending and `y` (bool) follows it."""
    rows = len(score)
    out = {"rows": rows, "positives": 0, "notes": []}
    if not rows:
        out["notes"].append("no rows in this window")
        return out
    hits_running = np.cumsum(y, dtype=np.int64)  # positives at or below each row
    mass_running = np.cumsum(score)  # expected positives at or below each row
    positives = out["positives"] = int(hits_running[-1])
    out["mean_score"] = float(mass_running[-1] / rows)
    out["ece"] = ece(y, score)
    out["psi"] = _psi_from_shares(reference_shares, _bin_shares(score, cuts))

    last = np.append(np.flatnonzero(score[1:] != score[:-1]), rows - 1)  # the last row of each run of tied scores
    seen = last + 1.0
    if positives == 0:
        out["notes"].append("no positives: ROC AUC, PR AUC, recall and calibration ratio undefined")
    elif positives == rows:
        out["notes"].append("no negatives: ROC AUC and PR AUC undefined")
    else:
        out.update(_realised_auc(hits_running[last].astype(float), seen))
    out["est_roc_auc"] = _pair_auc(mass_running[last], seen - mass_running[last])
    if np.isnan(out["est_roc_auc"]):
        out["notes"].append("every score is 0 or every score is 1: estimated ROC AUC undefined")
    else:  # the interval the realised AUC would have at the expected counts of positives and negatives
        out["est_roc_auc_lo"], out["est_roc_auc_hi"] = _hanley_mcneil(out["est_roc_auc"], mass_running[-1], rows - mass_running[-1])

    flagged_from = int(np.searchsorted(score, threshold, side="left"))  # rows from here on have score >= threshold
    flagged = rows - flagged_from
    hits = positives - (int(hits_running[flagged_from - 1]) if flagged_from else 0)
    expected_hits = mass_running[-1] - (mass_running[flagged_from - 1] if flagged_from else 0.0)
    if flagged:
        out["precision"], out["est_precision"] = hits / flagged, float(expected_hits / flagged)
    else:
        out["notes"].append(f"no score >= {threshold:g}: precision and est_precision undefined")
    if positives:
        out["recall"] = hits / positives
    if mass_running[-1] > 0:
        out["est_recall"] = float(expected_hits / mass_running[-1])
    else:
        out["notes"].append("every score is 0: estimated recall undefined")
    return out


def _pair_auc(positive_running: np.ndarray, negative_running: np.ndarray) -> float:
    """Mann–Whitney AUC from running positive and negative weight at the end of each run of tied scores (ascending).

    The share of (positive, negative) weight pairs where the positive scores higher, a tie counting half; with 0/1 weights
    it equals scikit-learn's roc_auc_score. CBPE's estimate passes weights score and 1 - score, so every row is both a
    positive and a negative and meets itself as a tie: this is the trapezoid area under NannyML's expected ROC curve.
    """
    positive = np.diff(positive_running, prepend=0.0)
    negative = np.diff(negative_running, prepend=0.0)
    total = positive_running[-1] * negative_running[-1]
    # Negatives below the run count whole, those tied with it half. A plain sum, not `@`: threaded BLAS stalls on a busy machine.
    wins = np.sum(positive * (negative_running - 0.5 * negative))
    return float(wins / total) if total > 0 else float("nan")


def _realised_auc(positive_running: np.ndarray, seen: np.ndarray) -> dict:
    """roc_auc with its Hanley–McNeil 95% interval, and pr_auc (average precision as scikit-learn computes it)."""
    rows, positives = seen[-1], positive_running[-1]
    auc = _pair_auc(positive_running, seen - positive_running)
    positive = np.diff(positive_running, prepend=0.0)
    # Flagging score >= a run's score flags that run and every run above it; precision there, weighted by the run's positives.
    below = np.concatenate([[0.0], seen[:-1]])
    flagged_positives = positives - np.concatenate([[0.0], positive_running[:-1]])
    pr_auc = float(np.sum(positive * flagged_positives / (rows - below)) / positives)
    lo, hi = _hanley_mcneil(auc, positives, rows - positives)
    return {"roc_auc": auc, "roc_auc_lo": lo, "roc_auc_hi": hi, "pr_auc": pr_auc}


def _hanley_mcneil(auc: float, positives: float, negatives: float) -> tuple[float, float]:
    """95% interval auc ± 1.96 SE, SE from Hanley & McNeil (1982), clipped to [0, 1]; cheap, no resampling."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    half = Z95 * np.sqrt(max(variance, 0.0))
    return max(auc - half, 0.0), min(auc + half, 1.0)


def _finish(table: pd.DataFrame, mature: np.ndarray, days_past: np.ndarray, min_positives: int) -> pd.DataFrame:
    """Window-level columns: Wilson base rate, calibration ratio, flags, drift and the note; columns in COLUMNS order."""
    rows = table["rows"].to_numpy(dtype=np.int64)
    positives = table["positives"].to_numpy(dtype=np.int64)
    lo, hi = wilson_interval(positives, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["base_rate"] = np.where(rows > 0, positives / np.maximum(rows, 1), np.nan)
        mean_score = table["mean_score"].to_numpy(dtype=float)
        has_ratio = positives > 0
        table["calibration_ratio"] = np.where(has_ratio, mean_score / table["base_rate"], np.nan)
        table["calibration_ratio_lo"] = np.where(has_ratio, mean_score / hi, np.nan)
        table["calibration_ratio_hi"] = np.where(has_ratio, mean_score / lo, np.nan)
    table["base_rate_lo"], table["base_rate_hi"] = lo, hi
    table["few_positives"] = positives < min_positives
    table["mature"] = mature
    table["past_end"] = days_past > 0
    both = table["roc_auc"].notna().to_numpy()
    reference = np.flatnonzero(mature & both)
    floor = table["roc_auc_lo"].iloc[reference[0]] if len(reference) else np.nan
    ratio = table["calibration_ratio"].to_numpy(dtype=float)
    off_band = (ratio < CALIBRATION_BAND[0]) | (ratio > CALIBRATION_BAND[1])
    table["drift"] = mature & both & ((table["roc_auc"].to_numpy(dtype=float) < floor) | off_band)
    table["note"] = [
        "; ".join(_window_notes(*values, min_positives)) for values in zip(table["notes"], rows, positives, mature, days_past, strict=True)
    ]
    return table[COLUMNS]


def _window_notes(notes: list[str], rows: int, positives: int, mature: bool, days_past: float, min_positives: int) -> list[str]:
    out = list(notes)
    if 0 < positives < min_positives:
        out.append(f"few positives ({positives} < {min_positives}): wide intervals")
    if not mature:
        out.append("immature: conversions may still arrive, read the est_* columns")
    if days_past > 0:
        days = f"{days_past:.4g} day holds" if days_past == 1 else f"{days_past:.4g} days hold"
        out.append(f"past the data's end: its last {days} no rows")
    return out

"""Value diagnostics from a run's predictions: deciles of expected value, value gain, residuals by segment, horizons.

Every function takes the predictions frame a value run logs (y, score, expected_value, value_if_converted, the actual
value column under its own name, segment columns, time; with horizons `expected_value.<h>`, `value_if_converted.<h>`,
`mature.<h>`). The actual value of a row is its value column on converters and 0 on non-converters. Rows whose actual
value is not known are left out: a converter with a missing value, and with horizons a row not yet mature for the
column (`mature.<column>` False: younger than the horizon, so its value has not all arrived). When no row is mature
(a test split younger than the horizon), every row is kept and the numbers are immature, as core.value.stage evaluates
such a horizon's metrics on all its converters; `maturity_note` says which case holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.diagnostics.intervals import Z95

RANKINGS = ("expected value", "probability", "random", "perfect")  # value_gain's rankings, in legend order
DERIVED = ("expected_value", "value_if_converted", "mature")  # prefixes of the value stage's own prediction columns


def predicted_columns(predictions: pd.DataFrame, value_column: str) -> tuple[str, str]:
    """(expected value, value if converted) columns for `value_column`: its horizon's own, else the headline ones."""
    own = (f"expected_value.{value_column}", f"value_if_converted.{value_column}")
    return own if own[0] in predictions else ("expected_value", "value_if_converted")


def value_stage_columns(predictions: pd.DataFrame, value_columns: list[str]) -> list[str]:
    """The columns the value stage added to the predictions (value columns and derived ones): never segments."""
    return [c for c in predictions.columns if c in value_columns or c.split(".")[0] in DERIVED]


def known(predictions: pd.DataFrame, value_column: str) -> pd.DataFrame:
    """The rows whose actual value is known, with `actual` (value on converters, 0 otherwise) and `predicted` added."""
    expected, _ = predicted_columns(predictions, value_column)
    converted = predictions["y"].to_numpy() == 1
    value = predictions[value_column].to_numpy(dtype=float)
    keep = ~(converted & np.isnan(value))
    ripe = _mature(predictions, value_column)
    if ripe.any():  # no mature row at all: every row, immature (maturity_note says so)
        keep &= ripe
    out = predictions[keep]
    return out.assign(actual=np.where(converted[keep], value[keep], 0.0), predicted=out[expected].to_numpy(dtype=float))


def _mature(predictions: pd.DataFrame, value_column: str) -> np.ndarray:
    """Per row: is its `value_column` complete (`mature.<column>`, all True without one)."""
    column = f"mature.{value_column}"
    return predictions[column].to_numpy(dtype=bool) if column in predictions else np.ones(len(predictions), bool)


def maturity_note(predictions: pd.DataFrame, value_column: str) -> str:
    """Words on the rows younger than the column's horizon: left out, or (none mature) all kept as immature; "" if none."""
    ripe = _mature(predictions, value_column)
    young = int((~ripe).sum())
    if not young:
        return ""
    if not ripe.any():
        return (
            f"No row is mature for {value_column}: every row is younger than the horizon, so all {young:,} are shown and "
            "their actual value is still arriving (immature: actual is low)."
        )
    return f"{young:,} of {len(ripe):,} rows younger than the horizon: left out"


def _mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95% normal interval (mean ± 1.96 · sd / √n, sd with n − 1); NaN bounds below 2 values."""
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    half = Z95 * float(values.std(ddof=1)) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def _ratio(predicted: float, actual: float) -> float:
    """predicted / actual (as the calibration ratio: above 1 over-predicts); NaN when actual is 0."""
    return predicted / actual if actual else np.nan


def _ranked(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Row positions by `column`, highest first; ties keep the frame's row order (a stable sort)."""
    return np.argsort(-frame[column].to_numpy(dtype=float), kind="stable")


def value_deciles(predictions: pd.DataFrame, value_column: str, groups: int = 10) -> pd.DataFrame:
    """Mean predicted against actual value by decile of expected value.

    Columns: decile, rows, converters, mean_predicted, mean_actual, actual_lo, actual_hi, ratio, value_share.
    Rows with a known value are ranked by expected value, highest first (ties in the frame's row order), and cut into
    `groups` groups whose sizes differ by at most one row, as the gain table cuts scores (decile 1 = highest).
    mean_predicted is the mean expected value; mean_actual the mean actual value (0 for non-converters) with its 95%
    normal interval (actual_lo, actual_hi); ratio = mean_predicted / mean_actual (above 1: over-predicted); value_share
    the decile's share of all actual value.
    """
    rows = known(predictions, value_column)
    order = _ranked(rows, "predicted")
    actual = rows["actual"].to_numpy()[order]
    predicted = rows["predicted"].to_numpy()[order]
    converted = rows["y"].to_numpy()[order] == 1
    group = np.arange(len(rows)) * groups // max(len(rows), 1)
    total = actual.sum()
    records = []
    for g in range(groups):
        inside = group == g
        mean, lo, hi = _mean_interval(actual[inside])
        lo = max(lo, float(actual[inside].min())) if len(actual[inside]) > 1 else lo  # revenue's skew sent it below 0
        guess = float(predicted[inside].mean()) if inside.any() else np.nan
        records.append(
            (g + 1, int(inside.sum()), int(converted[inside].sum()), guess, mean, lo, hi, _ratio(guess, mean),
             actual[inside].sum() / total if total else np.nan)
        )  # fmt: skip
    columns = ["decile", "rows", "converters", "mean_predicted", "mean_actual", "actual_lo", "actual_hi", "ratio", "value_share"]
    return pd.DataFrame(records, columns=columns)


def value_gain(predictions: pd.DataFrame, value_column: str, step: int = 1) -> pd.DataFrame:
    """Share of all actual value in the top k% of rows by each ranking, on a grid of k (long: one row per ranking and k).

    Columns: ranking, top_share, rows, captured, captured_share. ranking is one of RANKINGS: "expected value" (by
    expected_value), "probability" (by score alone), "random" (the expected share, k%), "perfect" (by the actual value).
    top_share runs 0, step%, …, 100%; the top k% holds floor(k · n / 100) rows; ties keep the frame's row order.
    captured is the actual value in those rows (random: total · k%), captured_share its share of the total (NaN when
    no row has value).
    """
    rows = known(predictions, value_column)
    n = len(rows)
    percents = np.arange(0, 101, step)
    if percents[-1] != 100:
        percents = np.append(percents, 100)
    taken = percents * n // 100
    actual = rows["actual"].to_numpy()
    total = actual.sum()
    by = {"expected value": _ranked(rows, "predicted"), "probability": _ranked(rows, "score"), "perfect": _ranked(rows, "actual")}
    parts = []
    for ranking in RANKINGS:
        cumulative = None if ranking == "random" else np.concatenate([[0.0], np.cumsum(actual[by[ranking]])])
        captured = total * percents / 100 if cumulative is None else cumulative[taken]
        parts.append(
            pd.DataFrame(
                {
                    "ranking": ranking,
                    "top_share": percents / 100,
                    "rows": taken,
                    "captured": captured,
                    "captured_share": captured / total if total else np.nan,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def capture_at(gain: pd.DataFrame, top_share: float = 0.1) -> pd.Series:
    """captured_share per ranking at the grid point nearest `top_share` (a value_gain frame), indexed by ranking."""
    shares = gain["top_share"].to_numpy()
    nearest = shares[np.argmin(np.abs(shares - top_share))]
    return gain[gain["top_share"] == nearest].set_index("ranking")["captured_share"]


def capture_words(gain: pd.DataFrame, top_share: float = 0.1) -> str:
    """One sentence: the value captured by the top share ranked by expected value against by probability alone."""
    at = capture_at(gain, top_share)
    ev, p, perfect = at["expected value"], at["probability"], at["perfect"]
    if np.isnan(ev):
        return "No row has any value, so there is no value to capture."
    better = "more than" if ev > p else ("less than" if ev < p else "as much as")
    return (
        f"The top {top_share:.0%} of rows by expected value hold {ev:.1%} of the actual value, {better} the {p:.1%} "
        f"ranking by probability alone captures (random {top_share:.0%}, perfect {perfect:.1%})."
    )


def value_residuals_by_segment(predictions: pd.DataFrame, value_column: str, segment: str) -> pd.DataFrame:
    """Predicted against actual value per value of a segment column, worst first.

    Columns: segment, rows, converters, mean_predicted, mean_actual, actual_lo, actual_hi, residual, z, ratio,
    mean_predicted_converted, mean_actual_converted, residual_converted, ratio_converted.
    Over all rows: mean expected value against mean actual value (0 for non-converters) with its 95% normal interval.
    On converters: mean value_if_converted against the mean actual value. residual = actual − predicted (negative:
    over-predicted); z = residual / the standard error of the actual mean; ratio = predicted / actual. Sorted by |z|,
    largest first (a small segment's noisy residual does not outrank a large segment's steady one; NaN z, below two
    rows or no spread, last), ties by segment. Missing segment values form "(missing)".
    """
    rows = known(predictions, value_column)
    _, if_converted = predicted_columns(predictions, value_column)
    labels = rows[segment].astype("string").fillna("(missing)").to_numpy(dtype=object)
    records = []
    for label in sorted(set(labels)):
        inside = rows[labels == label]
        converters = inside[inside["y"].to_numpy() == 1]
        mean, lo, hi = _mean_interval(inside["actual"].to_numpy())
        guess = float(inside["predicted"].mean())
        guess_c = float(converters[if_converted].mean()) if len(converters) else np.nan
        mean_c = float(converters["actual"].mean()) if len(converters) else np.nan
        records.append(
            (label, len(inside), len(converters), guess, mean, lo, hi, mean - guess,
             (mean - guess) / ((hi - lo) / (2 * Z95)) if hi > lo else np.nan, _ratio(guess, mean),
             guess_c, mean_c, mean_c - guess_c, _ratio(guess_c, mean_c) if len(converters) else np.nan)
        )  # fmt: skip
    columns = [
        "segment", "rows", "converters", "mean_predicted", "mean_actual", "actual_lo", "actual_hi", "residual", "z", "ratio",
        "mean_predicted_converted", "mean_actual_converted", "residual_converted", "ratio_converted",
    ]  # fmt: skip
    table = pd.DataFrame(records, columns=columns)
    worst = np.argsort(-table["z"].abs().fillna(-1).to_numpy(), kind="stable")  # records are in segment order: ties stay so
    return table.iloc[worst].reset_index(drop=True)


def horizon_table(predictions: pd.DataFrame, horizons: list[str]) -> pd.DataFrame:
    """Predicted against actual value per horizon, on the rows mature for it.

    Columns: horizon, rows, mature_rows, mature_share, converters, mean_predicted, mean_actual, residual, ratio,
    mean_expected, mean_actual_all, immature, note.
    On mature converters with a known value: mean value_if_converted.<h> against the mean actual value
    (mean_predicted, mean_actual, residual = actual − predicted, ratio = predicted / actual). On all mature rows:
    mean expected_value.<h> against the mean actual value with non-converters as 0 (mean_expected, mean_actual_all).
    A horizon is immature, as core.diagnostics.rolling marks windows, when not all its rows are mature (its value is still
    arriving on the young rows, which are left out; when no row is mature, all are kept); the note says which.
    """
    records = []
    for h in horizons:
        mature = _mature(predictions, h)
        rows = known(predictions, h)
        converters = rows[rows["y"].to_numpy() == 1]
        guess = float(converters[f"value_if_converted.{h}"].mean()) if len(converters) else np.nan
        mean = float(converters["actual"].mean()) if len(converters) else np.nan
        share = float(mature.mean()) if len(mature) else np.nan
        young = int((~mature).sum())
        note = maturity_note(predictions, h)
        if not len(converters):
            note = "; ".join(filter(None, [note, "no converter with a known value"]))
        records.append(
            (h, len(predictions), int(mature.sum()), share, len(converters), guess, mean, mean - guess, _ratio(guess, mean),
             float(rows["predicted"].mean()) if len(rows) else np.nan,
             float(rows["actual"].mean()) if len(rows) else np.nan, bool(young), note)
        )  # fmt: skip
    columns = [
        "horizon", "rows", "mature_rows", "mature_share", "converters", "mean_predicted", "mean_actual", "residual", "ratio",
        "mean_expected", "mean_actual_all", "immature", "note",
    ]  # fmt: skip
    return pd.DataFrame(records, columns=columns)

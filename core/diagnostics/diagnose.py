"""Every number Diagnostics shows, from a run's predictions frame (y, score, score_raw, time, segments).

The page calls these one by one (cached per run and filter); the report and the benchmark call `everything`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.diagnostics import calibration, explain, metrics, rolling, slice_finder, slices, threshold

FIXED = ("row", "y", "score", "score_raw", "time")


@dataclass(frozen=True)
class Options:
    """The inputs a reader can change on the page, at their defaults."""

    resamples: int = 200
    bins: int = 10
    strategy: str = "quantile"
    value_tp: float = 1.0
    cost_fp: float = 0.1
    cost_fn: float = 0.0
    capacity: float | None = None
    min_precision: float = 0.5
    min_recall: float = 0.8
    top_share: float = 0.1
    threshold: float | None = None  # None: the max-profit suggestion (else 0.5)
    window_days: int = 7
    step_days: int = 1
    conversion_days: float | None = 7.0
    segment_metric: str = "roc_auc"
    slice_min_rows: int = 500


VALUE_DERIVED = ("expected_value", "value_if_converted", "mature")  # the value stage's columns (and `<name>.<horizon>`)


def segment_columns(frame: pd.DataFrame) -> list[str]:
    """The segment columns a run's predictions carry: not the fixed ones, nor a value stage's.

    A value run's actual value columns keep their own names, so runs.predictions names them in
    `frame.attrs["value_columns"]` (pandas carries attrs through the page's sorts and filters)."""
    value = set(frame.attrs.get("value_columns", ()))
    return [c for c in frame.columns if c not in FIXED and c not in value and c.split(".")[0] not in VALUE_DERIVED]


def read_predictions(path) -> pd.DataFrame:
    """A predictions.parquet with its text segment columns as categoricals (categories sorted, as `prepared` makes them).

    Columns as in the file: row, y, score, score_raw, time, segment columns. Text read as parquet dictionaries takes
    ~0.15 s at 1M rows; read as text and then made categorical, ~0.3-0.7 s.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = [
        f.name for f in pq.read_schema(path) if f.name not in FIXED and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
    ]
    frame = pd.read_parquet(path, read_dictionary=text)
    for name in text:
        categories = frame[name].cat.categories
        if not categories.is_monotonic_increasing:
            frame[name] = frame[name].cat.reorder_categories(categories.sort_values())
    return frame


def prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """The predictions in ascending score order, segment columns as categoricals; a prepared frame comes back as is.

    Every tab sorts by score and groups by segment many times over: numpy sorts sorted scores ~15x faster, and
    grouping a categorical reads its codes instead of hashing text. Values and row keys are unchanged.
    """
    text = [c for c in segment_columns(frame) if not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    out = frame.astype({c: "category" for c in text}) if text else frame  # before the reorder: codes move faster than text
    if not out["score"].is_monotonic_increasing:
        out = out.iloc[np.argsort(out["score"].to_numpy(), kind="stable")].reset_index(drop=True)
    return out


def headline(frame: pd.DataFrame, resamples: int = 200) -> pd.DataFrame:
    """metric, value, lo, hi (95% bootstrap) for the calibrated score."""
    return metrics.headline(frame["y"].to_numpy(), frame["score"].to_numpy(), resamples=resamples)


def curves(frame: pd.DataFrame):
    """(roc, pr) frames of the calibrated score, thinned for drawing."""
    return metrics.curves(frame["y"].to_numpy(), frame["score"].to_numpy())


def gain_lift(frame: pd.DataFrame) -> pd.DataFrame:
    """Cumulative gain and lift by decile of the calibrated score."""
    return metrics.gain_lift(frame["y"].to_numpy(), frame["score"].to_numpy())


def reliability(frame: pd.DataFrame, column: str = "score", bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Reliability table of `column` (score or score_raw)."""
    return calibration.reliability(frame["y"].to_numpy(), frame[column].to_numpy(), bins=bins, strategy=strategy)


def calibration_compare(frame: pd.DataFrame, bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """metric, raw, calibrated."""
    return calibration.compare(
        frame["y"].to_numpy(), frame["score_raw"].to_numpy(), frame["score"].to_numpy(), bins=bins, strategy=strategy
    )


def default_threshold(suggested: pd.DataFrame) -> float:
    """The cut to open on: max profit, else max F1, else 0.5."""
    return _default(suggested)[0]


def _default(suggested: pd.DataFrame) -> tuple[float, str]:
    for name, kind in (("max profit", "max_profit"), ("max F1", "max_f1")):
        cut = suggested.loc[suggested["suggestion"] == name, "threshold"]
        if len(cut) and pd.notna(cut.iloc[0]):
            return float(cut.iloc[0]), kind
    return 0.5, "fixed"


def opening_cut(frame: pd.DataFrame, value_tp: float, cost_fp: float, cost_fn: float) -> tuple[float, dict]:
    """(cut, policy) a run opens on without a saved cut: max profit at these values, else max F1, else fixed at 0.5.

    The policy is what *Save threshold* records when the analyst keeps the opening cut, so a retrain re-derives it.
    """
    valued = threshold.with_profit(threshold.threshold_frame(frame), value_tp, cost_fp, cost_fn)
    cut, kind = _default(threshold.suggestions(valued, value_tp, cost_fp, cost_fn))
    params = {
        "max_profit": {"value_tp": value_tp, "cost_fp": cost_fp, "cost_fn": cost_fn, "capacity": None},
        "max_f1": {},
        "fixed": {"threshold": cut},
    }[kind]
    return cut, threshold.policy(kind, **params)


def chosen_threshold(suggested: pd.DataFrame, options: Options) -> float:
    """The cut the report reads at: the given one, else `default_threshold`."""
    return options.threshold if options.threshold is not None else default_threshold(suggested)


def shap_by(shap: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean |SHAP| per value of a segment column, or per 7-day window when column is "window"."""
    groups = explain.window_labels(shap["time"]) if column == "window" else shap[column]
    return explain.by_group(shap, groups)


def everything(frame: pd.DataFrame, shap: pd.DataFrame | None, options: Options = Options()) -> dict:
    """Every table the page shows at the given options, by name (what metrics.json holds).

    The segment tables need no cut, so a second thread makes them while this one finds the cut (numpy's sorts and
    sums run outside the GIL, so on 2 cores the wall time is about two thirds of the compute time)."""
    frame = prepared(frame)
    columns = segment_columns(frame)
    with ThreadPoolExecutor(1, thread_name_prefix="segments") as pool:
        by_segment = pool.submit(_segment_tables, frame, columns, options)
        out = {
            "headline": headline(frame, options.resamples),
            "calibration": calibration_compare(frame, options.bins, options.strategy),
            "reliability_raw": reliability(frame, "score_raw", options.bins, options.strategy),
            "reliability": reliability(frame, "score", options.bins, options.strategy),
            "gain_lift": gain_lift(frame),
        }
        out["roc"], out["pr"] = curves(frame)
        valued = threshold.with_profit(threshold.threshold_frame(frame), options.value_tp, options.cost_fp, options.cost_fn)
        out["threshold_suggestions"] = threshold.suggestions(
            valued,
            options.value_tp,
            options.cost_fp,
            options.cost_fn,
            options.min_precision,
            options.min_recall,
            options.top_share,
            options.capacity,
        )
        cut = chosen_threshold(out["threshold_suggestions"], options)
        out["threshold_at"] = threshold.at(valued, cut).to_frame().T.infer_objects().assign(chosen=cut)
        out["threshold_curve"] = valued
        if "time" in frame:
            out["windows"] = rolling.windows(
                frame, options.window_days, options.step_days, threshold=cut, conversion_days=options.conversion_days
            )
        calibration_by = {column: calibration.by_group(frame, column) for column in columns}  # evens out the two threads
        segment_tables = by_segment.result()
    for column in columns:
        out[f"segments.{column}"] = segment_tables[f"segments.{column}"]
        out[f"calibration_by.{column}"] = calibration_by[column]
        out[f"parity.{column}"] = slices.parity(frame, column, cut)
    if columns:
        out["slices"] = segment_tables["slices"]
    if shap is not None:
        out["shap_importance"] = explain.mean_abs(shap)
    return out


def _segment_tables(frame: pd.DataFrame, columns: list[str], options: Options) -> dict:
    """The per-segment tables that need no cut and take longest: segment metrics by each column, and the slices."""
    out = {}
    for column in columns:
        out[f"segments.{column}"] = slices.segment_metrics(frame, column, options.segment_metric)
    if columns:
        out["slices"] = slice_finder.find_slices(frame, columns, min_rows=options.slice_min_rows)
    return out


def paired_curves(paired: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC points (model, fpr, tpr) and reliability tables (model, bin, n, mean_score, rate, ...) of both versions' scores."""
    rocs, tables = [], []
    y = paired["y"].to_numpy()
    for name in [c for c in ("challenger", "champion") if c in paired and paired[c].notna().all()]:
        roc, _ = metrics.curves(y, paired[name].to_numpy())
        rocs.append(roc.assign(model=name))
        tables.append(calibration.reliability(y, paired[name].to_numpy()).assign(model=name))
    return pd.concat(rocs, ignore_index=True), pd.concat(tables, ignore_index=True)

"""Every number Diagnostics shows, from a run's predictions frame (y, score, score_raw, time, segments).

The page calls these one by one (cached per run and filter); the report and the benchmark call `everything`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core import calibration, explain, metrics, rolling, slices, threshold

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


def segment_columns(frame: pd.DataFrame) -> list[str]:
    """The segment columns a run's predictions carry."""
    return [c for c in frame.columns if c not in FIXED]


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
    for name in ("max profit", "max F1"):
        cut = suggested.loc[suggested["suggestion"] == name, "threshold"]
        if len(cut) and pd.notna(cut.iloc[0]):
            return float(cut.iloc[0])
    return 0.5


def opening_cut(frame: pd.DataFrame, value_tp: float, cost_fp: float, cost_fn: float) -> float:
    """The cut a run opens on without a saved one: max profit at these values, else max F1, else 0.5."""
    valued = threshold.with_profit(threshold.threshold_frame(frame), value_tp, cost_fp, cost_fn)
    return default_threshold(threshold.suggestions(valued, value_tp, cost_fp, cost_fn))


def chosen_threshold(suggested: pd.DataFrame, options: Options) -> float:
    """The cut the report reads at: the given one, else `default_threshold`."""
    return options.threshold if options.threshold is not None else default_threshold(suggested)


def shap_by(shap: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean |SHAP| per value of a segment column, or per 7-day window when column is "window"."""
    groups = explain.window_labels(shap["time"]) if column == "window" else shap[column]
    return explain.by_group(shap, groups)


def everything(frame: pd.DataFrame, shap: pd.DataFrame | None, options: Options = Options()) -> dict:
    """Every table the page shows at the given options, by name (what metrics.json holds)."""
    out = {
        "headline": headline(frame, options.resamples),
        "calibration": calibration_compare(frame, options.bins, options.strategy),
        "reliability_raw": reliability(frame, "score_raw", options.bins, options.strategy),
        "reliability": reliability(frame, "score", options.bins, options.strategy),
        "gain_lift": gain_lift(frame),
    }
    roc, pr = curves(frame)
    out["roc"], out["pr"] = roc, pr
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
    columns = segment_columns(frame)
    for column in columns:
        out[f"segments.{column}"] = slices.segment_metrics(frame, column, options.segment_metric)
        out[f"calibration_by.{column}"] = calibration.by_group(frame, column)
        out[f"parity.{column}"] = slices.parity(frame, column, cut)
    if columns:
        out["slices"] = slices.find_slices(frame, columns, min_rows=options.slice_min_rows)
    if shap is not None:
        out["shap_importance"] = explain.mean_abs(shap)
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

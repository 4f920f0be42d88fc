"""The raw side of the diagnostics and report benchmarks: the Diagnostics numbers with plain scikit-learn, and a report of them.

    .venv/bin/python -m bench.report --raw PREDICTIONS SHAP OUT    # writes OUT/report.html and OUT/metrics.json

What an analyst without the workbench writes: headline metrics (no intervals), raw against calibrated ECE, Brier and log
loss, reliability tables (`calibration_curve`, 10 quantile bins), ROC and PR curves, gain and lift by decile, precision,
recall, F1 and profit at every cut (`precision_recall_curve`) with the confusion matrix at the max-profit cut, 7-day windows
stepping by a day (ROC AUC, PR AUC, base rate, calibration ratio), per segment column ROC AUC, calibration ratio and
selection rate, TPR and FPR at the cut, and mean |SHAP|; then the same plotly figures core.report draws, plotly.js inlined
once. It imports nothing of ours. Our side (core.diagnostics.diagnose.everything, core.report) does more: bootstrap intervals, window
maturity and estimates, the slice finder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, confusion_matrix, log_loss, precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

SEGMENTS = ["country", "device", "os", "channel", "placement"]
VALUE_TP, COST_FP = 1.0, 0.1  # core.diagnostics.diagnose.Options' defaults
DRAWN = 2000  # points kept per curve for drawing, as the workbench thins its curves


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    """At most DRAWN evenly spaced rows (first and last kept)."""
    if len(frame) <= DRAWN:
        return frame
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, DRAWN).astype(int))]


def _ece(y: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    which = np.minimum((score * bins).astype(int), bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, score, bins) - np.bincount(which, y, bins))
    return float(gap.sum() / n.sum())


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def _windows(frame: pd.DataFrame, days: int = 7, step: int = 1) -> pd.DataFrame:
    """Per 7-day window stepping by a day. Columns: start, rows, base_rate, mean_score, roc_auc, pr_auc, calibration_ratio."""
    time_ = frame["time"].to_numpy()
    y, score = frame["y"].to_numpy(), frame["score"].to_numpy()
    first, last = pd.Timestamp(time_.min()).normalize(), pd.Timestamp(time_.max())
    records, start = [], first
    while start <= last:
        inside = (time_ >= start.to_datetime64()) & (time_ < (start + pd.Timedelta(days=days)).to_datetime64())
        yy, ss = y[inside], score[inside]
        both = 0 < yy.sum() < len(yy)
        records.append({"start": start, "rows": int(inside.sum()), "base_rate": yy.mean() if len(yy) else np.nan,
                        "mean_score": ss.mean() if len(ss) else np.nan, "roc_auc": _auc(yy, ss) if len(yy) else np.nan,
                        "pr_auc": average_precision_score(yy, ss) if both else np.nan,
                        "calibration_ratio": ss.mean() / yy.mean() if yy.sum() else np.nan})  # fmt: skip
        start += pd.Timedelta(days=step)
    return pd.DataFrame(records)


def _segments(frame: pd.DataFrame, column: str, cut: float) -> pd.DataFrame:
    """Per value of a column. Columns: value, rows, rate, roc_auc, calibration_ratio, selection_rate, tpr, fpr."""
    records = []
    for value, part in frame.groupby(column, observed=True, sort=False):
        y, score = part["y"].to_numpy(), part["score"].to_numpy()
        flagged = score >= cut
        records.append({"value": value, "rows": len(part), "rate": y.mean(), "roc_auc": _auc(y, score),
                        "calibration_ratio": score.mean() / y.mean() if y.sum() else np.nan, "selection_rate": flagged.mean(),
                        "tpr": flagged[y == 1].mean() if y.sum() else np.nan,
                        "fpr": flagged[y == 0].mean() if (y == 0).any() else np.nan})  # fmt: skip
    return pd.DataFrame(records).sort_values("roc_auc")


def raw_numbers(frame: pd.DataFrame, shap: pd.DataFrame | None) -> dict:
    """The Diagnostics numbers with scikit-learn and pandas, by table name (see the module docstring)."""
    y, score, score_raw = frame["y"].to_numpy(), frame["score"].to_numpy(), frame["score_raw"].to_numpy()
    out = {
        "headline": pd.DataFrame([{"roc_auc": roc_auc_score(y, score), "pr_auc": average_precision_score(y, score),
                                   "log_loss": log_loss(y, score), "brier": brier_score_loss(y, score), "base_rate": y.mean()}]),
        "calibration": pd.DataFrame([{"score": name, "ece": _ece(y, s), "brier": brier_score_loss(y, s), "log_loss": log_loss(y, s)}
                                     for name, s in (("raw", score_raw), ("calibrated", score))]),
    }  # fmt: skip
    for name, s in (("reliability_raw", score_raw), ("reliability", score)):
        rate, mean_score = calibration_curve(y, s, n_bins=10, strategy="quantile")
        out[name] = pd.DataFrame({"bin": np.arange(len(rate)), "mean_score": mean_score, "rate": rate})
    fpr, tpr, _ = sk_roc_curve(y, score)
    out["roc"] = _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    precision, recall, cuts = precision_recall_curve(y, score)
    out["pr"] = _thin(pd.DataFrame({"recall": recall, "precision": precision}))
    order = np.argsort(-score, kind="stable")
    decile = np.arange(len(y)) * 10 // len(y)
    by_decile = pd.DataFrame({"decile": decile + 1, "y": y[order]}).groupby("decile")["y"].agg(["size", "sum"])
    gain = by_decile["sum"].cumsum() / y.sum()
    out["gain_lift"] = pd.DataFrame({"decile": by_decile.index, "gain": gain.to_numpy(),
                                     "lift": (by_decile["sum"] / by_decile["size"] / y.mean()).to_numpy()})  # fmt: skip
    tp = recall[:-1] * y.sum()
    flagged = np.where(precision[:-1] > 0, tp / np.maximum(precision[:-1], 1e-12), 0)
    curve = pd.DataFrame({"threshold": cuts, "precision": precision[:-1], "recall": recall[:-1], "flagged_share": flagged / len(y)})
    curve["f1"] = 2 * curve["precision"] * curve["recall"] / (curve["precision"] + curve["recall"]).replace(0, np.nan)
    curve["profit"] = VALUE_TP * tp - COST_FP * (flagged - tp)
    cut = float(curve["threshold"].iloc[int(curve["profit"].to_numpy().argmax())])
    out["threshold_curve"] = _thin(curve)
    out["threshold_at"] = pd.DataFrame(confusion_matrix(y, score >= cut, labels=[1, 0]), index=["y=1", "y=0"], columns=["flag", "pass"])
    out["threshold_at"]["cut"] = cut
    if "time" in frame:
        out["windows"] = _windows(frame)
    for column in [c for c in SEGMENTS if c in frame]:
        out[f"segments.{column}"] = _segments(frame, column, cut)
    if shap is not None:
        contributions = shap[[c for c in shap if c.startswith("shap.") and c != "shap._base"]]
        out["shap_importance"] = contributions.abs().mean().sort_values(ascending=False).rename("mean_abs").reset_index()
    return out


def raw_figures(numbers: dict, shap: pd.DataFrame | None) -> list:
    """The same figures core.report draws, made with plotly express from the raw tables."""
    import plotly.express as px

    figs = [
        px.line(numbers["roc"], x="fpr", y="tpr", title="ROC"),
        px.line(numbers["pr"], x="recall", y="precision", title="Precision–recall"),
        px.line(numbers["gain_lift"], x="decile", y="gain", markers=True, title="Cumulative gain"),
        px.bar(numbers["gain_lift"], x="decile", y="lift", title="Lift"),
        px.line(pd.concat([numbers["reliability_raw"].assign(score="raw"), numbers["reliability"].assign(score="calibrated")]),
                x="mean_score", y="rate", color="score", markers=True, title="Reliability"),
        px.line(numbers["threshold_curve"], x="threshold", y=["precision", "recall", "f1"], title="Metrics by threshold"),
        px.line(numbers["threshold_curve"], x="flagged_share", y="profit", title="Profit"),
    ]  # fmt: skip
    if "windows" in numbers:
        figs += [px.line(numbers["windows"], x="start", y=m, title=f"{m} over time") for m in ("roc_auc", "calibration_ratio")]
    for name in [n for n in numbers if n.startswith("segments.")]:
        figs.append(px.bar(numbers[name], x="roc_auc", y="value", orientation="h", title=f"ROC AUC by {name[9:]}"))
        figs.append(px.bar(numbers[name], x="calibration_ratio", y="value", orientation="h", title=f"Calibration ratio by {name[9:]}"))
    if shap is not None:
        figs.append(px.bar(numbers["shap_importance"], x="mean_abs", y="index", orientation="h", title="Mean |SHAP|"))
        long = shap.melt(value_vars=[c for c in shap if c.startswith("shap.") and c != "shap._base"], var_name="feature")
        figs.append(px.strip(long, x="value", y="feature", title="Beeswarm"))
    return figs


def raw_report(predictions: Path, shap_path: Path, out: Path) -> dict:
    """Reads the parquet files, computes raw_numbers, writes report.html and metrics.json; their paths and the seconds."""
    began = time.perf_counter()
    frame = pd.read_parquet(predictions)
    shap = pd.read_parquet(shap_path) if shap_path.exists() else None
    numbers = raw_numbers(frame, shap)
    out.mkdir(parents=True, exist_ok=True)
    drawn = "".join(fig.to_html(full_html=False, include_plotlyjs=i == 0) for i, fig in enumerate(raw_figures(numbers, shap)))
    tables = "".join(numbers[name].to_html() for name in ("headline", "calibration", "threshold_at"))
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{tables}{drawn}</body></html>")
    records = {name: json.loads(table.to_json(orient="records", date_format="iso")) for name, table in numbers.items()}
    (out / "metrics.json").write_text(json.dumps(records, indent=1))
    return {"html": str(out / "report.html"), "json": str(out / "metrics.json"), "seconds": round(time.perf_counter() - began, 2)}


def main(argv: list[str] | None = None) -> None:
    """`--raw PREDICTIONS SHAP OUT`: writes the raw report and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", nargs=3, required=True, type=Path, metavar=("PREDICTIONS", "SHAP", "OUT"))
    args = parser.parse_args(argv)
    print(json.dumps(raw_report(*args.raw)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""One run's diagnostics as files: a self-contained report.html and metrics.json with every number the page shows.

    python -m core.report --run RUN_ID --out DIR [--threshold T] [--value-tp V] [--cost-fp C] [--cost-fn C]

The last stdout line is one JSON object: {"run_id", "html", "json", "seconds"}. Exit 2 with one line for bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core import runs, settings
from core.cli import crashed, leave
from core.diagnostics import diagnose, explain
from core.errors import WorkbenchError
from core.plots import calibration as calibration_plots
from core.plots import explain as explain_plots
from core.plots import learning as learning_plots
from core.plots import over_time as over_time_plots
from core.plots import overview as overview_plots
from core.plots import segments as segment_plots
from core.plots import threshold as threshold_plots
from core.plots import value as value_plots
from core.selection import learning
from core.value import diagnostics as value_diagnostics

DRAWING_ONLY = ("roc", "pr", "threshold_curve", "value_gain")  # thinned or very long: figures, not numbers


def _plain(value):
    """A JSON value: NaN and infinities become null, timestamps ISO text, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT or (not isinstance(value, (str, bytes, list, dict, tuple)) and pd.isna(value) is True):
        return None
    return value


def as_json(numbers: dict, run: runs.Run, options: diagnose.Options) -> dict:
    """metrics.json: the run, the options and every table as a list of records."""
    tables = {name: frame.to_dict(orient="records") for name, frame in numbers.items() if name not in DRAWING_ONLY}
    return _plain({"run_id": run.run_id, "run": run.name, "family": run.family, "dataset": run.dataset, "target": run.target,
                   "options": options.__dict__, **tables})  # fmt: skip


def figures(numbers: dict, shap: pd.DataFrame | None, run: runs.Run) -> list[tuple[str, object]]:
    """(section title, figure) for every tab, in page order."""
    headline = numbers["headline"].set_index("metric")["value"]
    cut = float(numbers["threshold_at"]["chosen"].iloc[0])
    out = [
        ("Overview · ROC", overview_plots.roc_curve(numbers["roc"], headline["roc_auc"])),
        ("Overview · precision–recall", overview_plots.pr_curve(numbers["pr"], headline["pr_auc"], headline["base_rate"])),
        ("Overview · cumulative gain", overview_plots.gain_chart(numbers["gain_lift"])),
        ("Overview · lift", overview_plots.lift_bars(numbers["gain_lift"])),
        *learning_figures(numbers),
        ("Calibration · reliability", calibration_plots.reliability(numbers["reliability_raw"], numbers["reliability"])),
        ("Threshold · metrics by threshold", threshold_plots.metrics_by_threshold(numbers["threshold_curve"], cut)),
        ("Threshold · profit", threshold_plots.profit_curve(numbers["threshold_curve"], cut)),
    ]
    if "windows" in numbers:
        out.append(("Over time · ROC AUC", over_time_plots.metric_over_time(numbers["windows"], "roc_auc")))
        out.append(("Over time · calibration ratio", over_time_plots.metric_over_time(numbers["windows"], "calibration_ratio")))
        out.append(("Over time · PSI", over_time_plots.psi_over_time(numbers["windows"])))
    for name in [n for n in numbers if n.startswith("segments.")]:
        column = name.removeprefix("segments.")
        out.append((f"Segments · ROC AUC by {column}", segment_plots.segment_metric_bars(numbers[name], "roc_auc")))
        out.append((f"Calibration · ratio by {column}", calibration_plots.ratio_bars(numbers[f"calibration_by.{column}"])))
    if "slices" in numbers and not numbers["slices"].empty:
        out.append(("Segments · slices", segment_plots.slice_bars(numbers["slices"])))
    if shap is not None:
        out.append(("Explain · mean |SHAP|", explain_plots.importance_bars(numbers["shap_importance"])))
        out.append(("Explain · beeswarm", explain_plots.beeswarm(explain.beeswarm(shap))))
    return out + value_figures(numbers, run)


def learning_tables(curve: pd.DataFrame | None) -> dict:
    """The run's learning curve and its verdict per metric (columns: metric, still_rising, verdict); none without a curve."""
    if curve is None:
        return {}
    verdicts = pd.DataFrame(
        [(m, learning.still_rising(curve, m), learning.learning_verdict(curve, m)) for m in learning.METRICS],
        columns=["metric", "still_rising", "verdict"],
    )
    return {"learning_curve": curve, "learning_verdict": verdicts}


def learning_figures(numbers: dict) -> list[tuple[str, object]]:
    """The learning curve by ROC AUC, as the page opens it, when the run has one."""
    if "learning_curve" not in numbers:
        return []
    summary = learning.learning_summary(numbers["learning_curve"], "roc_auc")
    return [("Overview · learning curve", learning_plots.learning_curves(summary, "roc_auc"))]


def learning_section(numbers: dict) -> list[str]:
    """The verdict words per metric, as the page says them, when the run has a learning curve."""
    if "learning_verdict" not in numbers:
        return []
    return ["<h2>Learning curve: would more data help?</h2>", numbers["learning_verdict"].to_html(index=False, na_rep="—")]


def value_tables(frame: pd.DataFrame, run: runs.Run) -> dict:
    """The Value tab's tables at its defaults (headline value column, page's row order) when the run has a value stage.

    value_metrics: the logged regression metrics; value_deciles; value_capture (ranking, top_share, captured_share at the
    top 10%); value_gain (drawing only); value_horizons with horizons."""
    column = run.tags.get("wb.value_column")
    if not column:
        return {}
    logged = runs.value_metrics(run.run_id)
    frame = diagnose.prepared(frame)
    gain = value_diagnostics.value_gain(frame, column)
    out = {
        "value_deciles": value_diagnostics.value_deciles(frame, column),
        "value_gain": gain,
        "value_capture": value_diagnostics.capture_at(gain, 0.1).rename_axis("ranking").reset_index().assign(top_share=0.1),
    }
    if logged is not None:
        out["value_metrics"] = logged
    horizons = json.loads(run.tags.get("wb.value_horizons") or "[]")
    if horizons:
        out["value_horizons"] = value_diagnostics.horizon_table(frame, horizons)
    return out


def value_section(numbers: dict) -> list[str]:
    """The Value tab's words and tables, when the run has a value stage."""
    if "value_deciles" not in numbers:
        return []
    table = {"index": False, "float_format": lambda v: f"{v:,.4f}", "na_rep": "—"}
    parts = [
        "<h2>Value: expected against actual</h2>",
        f"<p>{html.escape(value_diagnostics.capture_words(numbers['value_gain'], 0.1))}</p>",
    ]
    if "value_metrics" in numbers:
        parts += ["<h3>Regression metrics on test converters (95% bootstrap intervals)</h3>", numbers["value_metrics"].to_html(**table)]
    parts += ["<h3>By decile of expected value</h3>", numbers["value_deciles"].to_html(**table)]
    if "value_horizons" in numbers:
        parts += ["<h3>By horizon (mature converters)</h3>", numbers["value_horizons"].to_html(**table)]
    return parts


def value_figures(numbers: dict, run: runs.Run) -> list[tuple[str, object]]:
    """Decile bars and value gain curves, when the run has a value stage."""
    if "value_deciles" not in numbers:
        return []
    column = run.tags["wb.value_column"]
    return [
        ("Value · by decile of expected value", value_plots.decile_bars(numbers["value_deciles"], column)),
        ("Value · gain", value_plots.gain_curves(numbers["value_gain"])),
    ]


def as_html(numbers: dict, shap: pd.DataFrame | None, run: runs.Run) -> str:
    """report.html: every figure and the headline and suggestion tables, plotly.js inlined once (no network needed)."""
    parts = [
        f"<h1>Diagnostics · {html.escape(run.name)}</h1>",
        f"<p>{html.escape(run.family)} on <code>{html.escape(run.dataset)}</code>, target <code>{html.escape(run.target)}</code>, "
        f"run <code>{run.run_id}</code>. {html.escape(explain.log_odds_note(run.family))}</p>",
        "<h2>Headline metrics (95% bootstrap intervals)</h2>",
        numbers["headline"].to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="—"),
        "<h2>Raw against calibrated</h2>",
        numbers["calibration"].to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="—"),
        "<h2>Threshold suggestions</h2>",
        numbers["threshold_suggestions"].to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="—"),
        *learning_section(numbers),
        *value_section(numbers),
    ]
    first = True
    for title, fig in figures(numbers, shap, run):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first))  # True inlines plotly.js: self-contained
        first = False
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto} table{border-collapse:collapse} td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Diagnostics {run.run_id[:8]}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"


def write(run_id: str, out: Path, options: diagnose.Options | None = None) -> dict:
    """Writes report.html and metrics.json for the run into `out`; returns their paths."""
    options = options or default_options()
    run = runs.get(run_id)
    saved = runs.saved_threshold(run.tags)
    if options.threshold is None and saved:  # the cut batch scoring uses is the one to report on
        options = dataclasses.replace(options, threshold=saved["threshold"])
    frame = runs.predictions(run_id)
    shap = runs.explanation(run_id)
    numbers = diagnose.everything(frame, shap, options)
    numbers.update(learning_tables(runs.learning_curve(run_id)))
    numbers.update(value_tables(frame, run))
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "metrics.json"}
    for key, text in (("json", json.dumps(as_json(numbers, run, options), indent=1)), ("html", as_html(numbers, shap, run))):
        partial = paths[key].with_suffix(".partial")  # written whole, then renamed: never a half-written file
        partial.write_text(text)
        partial.replace(paths[key])
    return {k: str(v) for k, v in paths.items()}


def default_options() -> diagnose.Options:
    """The page's defaults, with the value settings and resamples from the settings table."""
    return diagnose.Options(
        resamples=settings.get("bootstrap_resamples"),
        value_tp=settings.get("value_tp"),
        cost_fp=settings.get("cost_fp"),
        cost_fn=settings.get("cost_fn"),
        conversion_days=settings.get("conversion_days") or None,
        slice_min_rows=settings.get("slice_min_rows"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.report", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the run id")
    parser.add_argument("--out", required=True, type=Path, help="folder for report.html and metrics.json")
    parser.add_argument("--threshold", type=float, help="read the threshold tables at this cut (default: the max-profit suggestion)")
    parser.add_argument("--value-tp", type=float)
    parser.add_argument("--cost-fp", type=float)
    parser.add_argument("--cost-fn", type=float)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        options = default_options()
        changes = {
            k: v
            for k, v in {"threshold": args.threshold, "value_tp": args.value_tp, "cost_fp": args.cost_fp, "cost_fn": args.cost_fn}.items()
            if v is not None
        }
        options = dataclasses.replace(options, **changes)
        saved = write(args.run, args.out, options)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        return crashed(err, "report", run_id=None, run=args.run)
    print(json.dumps({"run_id": args.run, **saved, "seconds": round(time.perf_counter() - began, 2)}))
    return 0


if __name__ == "__main__":
    leave(main())

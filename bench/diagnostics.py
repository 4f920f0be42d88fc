"""Diagnostics benchmark: every Diagnostics number, the report and the page on one large run, against plain scikit-learn.

    .venv/bin/python -m bench.diagnostics [--rows 1000000] [--repeats 5]

A run is logged to a temporary MLflow sqlite store (MLFLOW_TRACKING_URI and WB_DATA_ROOT point into a temporary folder),
holding `rows` test predictions made from the demo table's true_p: score_raw = sigmoid(1.4 * logit(noisy) + 0.5), where
noisy = sigmoid(logit(true_p) + N(0, 0.3)), is the miscalibrated model score (every value distinct); score is score_raw
passed through an isotonic fit on a random half of the rows, as the training job's isotonic calibration does (230 distinct
values at 1M rows). A second run logs the same rows with score = score_raw (every score distinct, as an uncalibrated run has)
for the page and the all-distinct lines.
The shap.parquet is synthetic: 2000 sampled rows, six features, contributions from the demo's own effects plus noise.

In-process timings are medians over `repeats`, ours alternating with raw scikit-learn. The report runs as a subprocess, the
page in AppTest, and peak RSS is read in a subprocess of its own (`--rss RUN_ID`). Writes bench/out/diagnostics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, confusion_matrix, log_loss, roc_auc_score

from bench.predictions import SHAP_ROWS, logged_run, predictions_frame, shap_frame

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out"
PAGE = PROJECT / "views" / "diagnostics.py"
CUT = 0.05  # the raw path's confusion-matrix cut while timing; the agreement check reads at everything's chosen cut
TARGETS = {  # measure -> (largest allowed, unit)
    "threshold_frame": (0.3, "s"),
    "slider compute": (20, "ms"),
    "everything": (3.0, "s"),
    "rolling.windows": (1.0, "s"),
    "core.report wall": (10.0, "s"),
    "page first render": (3.0, "s"),
    "page slider move": (300, "ms"),
    "peak RSS above predictions": (1024, "MB"),
    "agreement max |ours - sklearn|": (1e-9, ""),
}


def timed(fn) -> float:
    """Seconds one call of fn takes."""
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def raw_headline(frame: pd.DataFrame, cut: float) -> dict:
    """The plain scikit-learn headline, no intervals: ROC AUC, PR AUC, log loss, Brier and the confusion matrix at `cut`."""
    y, score = frame["y"].to_numpy(), frame["score"].to_numpy()
    return {
        "roc_auc": roc_auc_score(y, score),
        "pr_auc": average_precision_score(y, score),
        "log_loss": log_loss(y, score),
        "brier": brier_score_loss(y, score),
        "confusion": confusion_matrix(y, score >= cut, labels=[1, 0]),
    }


def everything_parts(frame: pd.DataFrame, shap: pd.DataFrame) -> dict:
    """Seconds of each call `diagnose.everything` makes at the default Options, made the same way one by one."""
    from core.diagnostics import calibration, diagnose, explain, rolling, slice_finder, slices, threshold

    o, seconds, kept = diagnose.Options(), {}, {}

    def step(name: str, fn):
        began = time.perf_counter()
        kept[name] = fn()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - began

    step("headline", lambda: diagnose.headline(frame, o.resamples))
    step("calibration_compare", lambda: diagnose.calibration_compare(frame, o.bins, o.strategy))
    step("reliability_raw", lambda: diagnose.reliability(frame, "score_raw", o.bins, o.strategy))
    step("reliability", lambda: diagnose.reliability(frame, "score", o.bins, o.strategy))
    step("gain_lift", lambda: diagnose.gain_lift(frame))
    step("curves", lambda: diagnose.curves(frame))
    step("threshold_frame + with_profit", lambda: threshold.with_profit(threshold.threshold_frame(frame), o.value_tp, o.cost_fp, o.cost_fn))
    valued = kept["threshold_frame + with_profit"]
    args = (o.value_tp, o.cost_fp, o.cost_fn, o.min_precision, o.min_recall, o.top_share, o.capacity)
    step("suggestions", lambda: threshold.suggestions(valued, *args))
    cut = diagnose.chosen_threshold(kept["suggestions"], o)
    step("threshold_at", lambda: threshold.at(valued, cut).to_frame().T.infer_objects().assign(chosen=cut))
    step("rolling.windows", lambda: rolling.windows(frame, o.window_days, o.step_days, threshold=cut, conversion_days=o.conversion_days))
    columns = diagnose.segment_columns(frame)
    for column in columns:
        step("slices.segment_metrics ×5", lambda c=column: slices.segment_metrics(frame, c, o.segment_metric))
        step("calibration.by_group ×5", lambda c=column: calibration.by_group(frame, c))
        step("slices.parity ×5", lambda c=column: slices.parity(frame, c, cut))
    step("slice_finder.find_slices", lambda: slice_finder.find_slices(frame, columns, min_rows=o.slice_min_rows))
    step("explain.mean_abs", lambda: explain.mean_abs(shap))
    return seconds


def everything_and_raw(frame: pd.DataFrame, shap: pd.DataFrame, repeats: int) -> dict:
    """Medians of raw scikit-learn, `everything` and its parts, run in turns after one warm-up of each; and the agreement."""
    from core.diagnostics import diagnose

    raw_headline(frame, CUT), diagnose.everything(frame, shap, diagnose.Options()), everything_parts(frame, shap)
    raw_s, ours_s, parts = [], [], []
    for _ in range(repeats):
        raw_s.append(timed(lambda: raw_headline(frame, CUT)))
        ours_s.append(timed(lambda: diagnose.everything(frame, shap, diagnose.Options())))
        parts.append(everything_parts(frame, shap))
    numbers = diagnose.everything(frame, shap, diagnose.Options())
    theirs = raw_headline(frame, float(numbers["threshold_at"]["chosen"].iloc[0]))
    ours = numbers["headline"].set_index("metric")["value"]
    at = numbers["threshold_at"].iloc[0]
    return {
        "raw_s": statistics.median(raw_s),
        "everything_s": statistics.median(ours_s),
        "parts_s": {name: statistics.median(p[name] for p in parts) for name in parts[0]},
        "agreement": max(abs(float(ours[m]) - float(theirs[m])) for m in ("roc_auc", "pr_auc", "log_loss", "brier")),
        "confusion_agrees": bool(np.array_equal([[at["tp"], at["fn"]], [at["fp"], at["tn"]]], theirs["confusion"])),
    }


def headline_and_raw(frame: pd.DataFrame, repeats: int) -> dict:
    """Medians of diagnose.headline and raw scikit-learn in turns, and their largest difference on the four shared metrics."""
    from core.diagnostics import diagnose

    ours, theirs = diagnose.headline(frame).set_index("metric")["value"], raw_headline(frame, CUT)
    ours_s, raw_s = [], []
    for _ in range(repeats):
        ours_s.append(timed(lambda: diagnose.headline(frame)))
        raw_s.append(timed(lambda: raw_headline(frame, CUT)))
    return {
        "headline_s": statistics.median(ours_s),
        "raw_s": statistics.median(raw_s),
        "agreement": max(abs(float(ours[m]) - float(theirs[m])) for m in ("roc_auc", "pr_auc", "log_loss", "brier")),
    }


def threshold_frame_s(frame: pd.DataFrame, repeats: int) -> tuple[float, int]:
    """Median seconds of threshold.threshold_frame, and its length (distinct scores + 1)."""
    from core.diagnostics import threshold

    threshold.threshold_frame(frame)
    return statistics.median(timed(lambda: threshold.threshold_frame(frame)) for _ in range(repeats)), len(threshold.threshold_frame(frame))


def slider_compute_s(frame: pd.DataFrame, cuts: int = 200) -> float:
    """Median seconds of one slider update's compute, threshold.at + threshold.confusion, over random cuts."""
    from core.diagnostics import diagnose, threshold

    o = diagnose.Options()
    valued = threshold.with_profit(threshold.threshold_frame(frame), o.value_tp, o.cost_fp, o.cost_fn)
    rng = np.random.default_rng(3)
    return statistics.median(timed(lambda c=c: threshold.confusion(threshold.at(valued, c))) for c in rng.uniform(0, 1, cuts))


def rolling_windows_s(frame: pd.DataFrame, repeats: int) -> float:
    """Median seconds of rolling.windows(frame, 7, 1, threshold=0.5, conversion_days=7)."""
    from core.diagnostics import rolling

    rolling.windows(frame, 7, 1, threshold=0.5, conversion_days=7)
    return statistics.median(timed(lambda: rolling.windows(frame, 7, 1, threshold=0.5, conversion_days=7)) for _ in range(repeats))


def report_wall(run_id: str, folder: Path, repeats: int = 3) -> dict:
    """Wall seconds of `python -m core.report` as a subprocess (median, first), its own `seconds`, and report.html's checks."""
    walls, inner = [], []
    for i in range(repeats):
        out = folder / f"report_{i}"
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "core.report", "--run", run_id, "--out", str(out)], cwd=PROJECT,
                              capture_output=True, text=True)  # fmt: skip
        walls.append(time.perf_counter() - began)
        if done.returncode:
            raise SystemExit(f"core.report failed ({done.returncode}):\n{done.stderr[-3000:]}")
        inner.append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    page = (folder / "report_0" / "report.html").read_text()
    return {
        "wall_s": statistics.median(walls),
        "first_wall_s": walls[0],
        "inner_s": statistics.median(inner),
        "html_mb": len(page.encode()) / 1e6,
        "self_contained": "plotly.js v" in page and '<script src="http' not in page,
        "metrics_json": (folder / "report_0" / "metrics.json").exists(),
    }


def page_times(run_id: str, moves: int = 5) -> dict:
    """The Diagnostics page in AppTest: first render with every Streamlit cache empty, each tab's first opening, slider moves.

    Only the open tab computes (diag.tab). The process's first render also imports the page's modules (plotly, the figures);
    it is timed on its own, and the measured first render is the next one, in a fresh AppTest after clearing both caches again.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def fresh() -> AppTest:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(PAGE), default_timeout=120)
        at.session_state["diag.run"] = run_id
        return at

    def run(at: AppTest) -> float:
        seconds = timed(at.run)
        assert not at.exception, [e.value for e in at.exception]
        return seconds

    cold = run(fresh())
    at = fresh()
    first = run(at)
    labels = [tab.label for tab in at.tabs]
    opened = {}
    for label in labels[1:]:
        at.session_state["diag.tab"] = label
        opened[label] = run(at)
    at.session_state["diag.tab"] = "Threshold"
    run(at)
    seconds = []
    for cut in np.round(np.random.default_rng(5).uniform(0.02, 0.5, moves), 4):
        at.slider(key="diag.threshold").set_value(float(cut))
        seconds.append(run(at))
    return {
        "cold_process_render_s": cold,
        "first_render_s": first,
        "first_tab": labels[0],
        "first_open_s": opened,
        "slider_move_s": statistics.median(seconds),
        "slider_moves_s": seconds,
        "rerun_s": statistics.median(run(at) for _ in range(3)),  # nothing changed: the least any interaction costs
    }


def import_report_s() -> float:
    """Wall seconds of `python -c "import core.report"`: the part of the report's wall time that is start-up."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import core.report"], cwd=PROJECT, check=True, capture_output=True)
    return time.perf_counter() - began


def status_kb(field: str) -> int:
    """One memory field of /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss(run_id: str) -> dict:
    """In this process: RSS after reading the run's predictions and SHAP, then the peak of `everything` above it (MB)."""
    from core import runs
    from core.diagnostics import diagnose

    frame, shap = runs.predictions(run_id), runs.explanation(run_id)
    loaded_kb, load_peak_kb = status_kb("VmRSS"), status_kb("VmHWM")
    # Writing 5 to clear_refs resets VmHWM to the current RSS, so the peak below is everything's, not the parquet read's.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    diagnose.everything(frame, shap, diagnose.Options())
    peak_kb = status_kb("VmHWM")
    return {"loaded_mb": loaded_kb / 1024, "load_peak_mb": load_peak_kb / 1024, "peak_mb": peak_kb / 1024,
            "above_mb": (peak_kb - loaded_kb) / 1024, "hwm_reset": reset, "frame_mb": frame.memory_usage(deep=True).sum() / 2**20}  # fmt: skip


def peak_rss_in_subprocess(run_id: str) -> dict:
    """peak_rss in a fresh process (`-m bench.diagnostics --rss RUN_ID`), so nothing else this benchmark holds counts."""
    done = subprocess.run([sys.executable, "-m", "bench.diagnostics", "--rss", run_id], cwd=PROJECT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"--rss failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(rows: int, repeats: int, folder: Path) -> dict:
    """Makes the run, then every measure; the numbers for the table and the JSON."""
    from core import demo

    began, load = time.perf_counter(), os.getloadavg()[0]
    events = demo.generate(rows, 56, seed=7)
    frame = predictions_frame(events)
    shap = shap_frame(events, frame, SHAP_ROWS)
    del events
    run_id = logged_run(frame, shap, folder)
    # The same rows as an uncalibrated run would log them: every score distinct, so the threshold table has a row per row.
    distinct_run_id = logged_run(frame.assign(score=frame["score_raw"]), shap, folder, "bench-all-distinct")
    made = {"rows": rows, "run_id": run_id, "made_s": round(time.perf_counter() - began, 1), "load_before": load,
            "base_rate": float(frame["y"].mean()),
            "distinct_score": int(frame["score"].nunique()), "distinct_score_raw": int(frame["score_raw"].nunique())}  # fmt: skip
    print(f"{rows:,} predictions logged as run {run_id} in {made['made_s']} s ({made['distinct_score']:,} distinct scores)", flush=True)
    from core import runs

    frame, shap = runs.predictions(run_id), runs.explanation(run_id)  # as the report and the page read them back
    result = {**made, **everything_and_raw(frame, shap, repeats)}
    print(f"  everything {result['everything_s']:.2f} s, raw {result['raw_s']:.2f} s", flush=True)
    result["threshold_frame_s"], result["threshold_rows"] = threshold_frame_s(frame, repeats)
    result["threshold_frame_all_distinct_s"], result["threshold_rows_all_distinct"] = threshold_frame_s(
        frame.assign(score=frame["score_raw"]), repeats
    )
    result["all_distinct"] = headline_and_raw(frame.assign(score=frame["score_raw"]), repeats)
    result["slider_compute_s"] = slider_compute_s(frame)
    result["slider_compute_all_distinct_s"] = slider_compute_s(frame.assign(score=frame["score_raw"]))
    result["rolling_s"] = rolling_windows_s(frame, repeats)
    print("  in-process measures done; running core.report …", flush=True)
    result["report"] = report_wall(run_id, folder)
    result["report"]["import_s"] = import_report_s()
    print(f"  report {result['report']['wall_s']:.1f} s; rendering the page …", flush=True)
    result["page"] = page_times(run_id)
    result["page_all_distinct"] = page_times(distinct_run_id)
    print(f"  page first render {result['page']['first_render_s']:.2f} s; peak RSS …", flush=True)
    result["rss"] = peak_rss_in_subprocess(run_id)
    result["load_after"] = os.getloadavg()[0]
    return result


def table(r: dict) -> pd.DataFrame:
    """The results as one compact table: measure, ours, raw, ours/raw, target, ok."""

    def line(name: str, value: float, unit: str, vs_raw: bool = False, target: str | None = None, raw_s: float | None = None) -> tuple:
        limit, raw = TARGETS.get(target or name), raw_s or r["raw_s"]
        shown = f"{value:.2e}" if unit == "" else f"{value:,.1f} {unit}" if unit in ("ms", "MB") else f"{value:.3f} {unit}"
        ratio = f"{value / raw:.2f}" if vs_raw else ""
        ok = "" if limit is None else ("yes" if value <= limit[0] else "MISSED")
        return (name, shown, f"{raw:.3f} s" if vs_raw else "", ratio, "" if limit is None else f"≤ {limit[0]:g} {limit[1]}".strip(), ok)

    rows = [
        line("raw sklearn headline (no intervals)", r["raw_s"], "s"),
        line("headline (200 bootstrap resamples)", r["parts_s"]["headline"], "s", vs_raw=True),
        line(
            "  · all-distinct scores, vs raw on them", r["all_distinct"]["headline_s"], "s", vs_raw=True, raw_s=r["all_distinct"]["raw_s"]
        ),
        line("everything", r["everything_s"], "s", vs_raw=True),
        *[line(f"  · {name}", seconds, "s") for name, seconds in r["parts_s"].items()],
        line("  · sum of parts", sum(r["parts_s"].values()), "s"),
        line(f"threshold_frame ({r['threshold_rows']:,} cuts)", r["threshold_frame_s"], "s", target="threshold_frame"),
        line(
            f"threshold_frame ({r['threshold_rows_all_distinct']:,} cuts)",
            r["threshold_frame_all_distinct_s"],
            "s",
            target="threshold_frame",
        ),
        line("slider compute (at + confusion)", r["slider_compute_s"] * 1e3, "ms", target="slider compute"),
        line("slider compute, all-distinct scores", r["slider_compute_all_distinct_s"] * 1e3, "ms", target="slider compute"),
        line("rolling.windows (7 d / 1 d)", r["rolling_s"], "s", target="rolling.windows"),
        line("core.report wall (subprocess, median of 3)", r["report"]["wall_s"], "s", target="core.report wall"),
        line("  · its first call", r["report"]["first_wall_s"], "s"),
        line("  · its own 'seconds' (read + everything + figures + files)", r["report"]["inner_s"], "s"),
        line("  · python -c 'import core.report'", r["report"]["import_s"], "s"),
        line(
            f"page first render ({r['page']['first_tab']} tab, caches cleared)",
            r["page"]["first_render_s"],
            "s",
            target="page first render",
        ),
        line("  · the process's first render (+ imports)", r["page"]["cold_process_render_s"], "s"),
        *[line(f"  · then first opening of {tab}", seconds, "s") for tab, seconds in r["page"]["first_open_s"].items()],
        line("page slider move (Threshold tab, median of 5)", r["page"]["slider_move_s"] * 1e3, "ms", target="page slider move"),
        line("  · a rerun with nothing changed (median of 3)", r["page"]["rerun_s"] * 1e3, "ms"),
        line("page first render, all-distinct scores", r["page_all_distinct"]["first_render_s"], "s", target="page first render"),
        line("page slider move, all-distinct scores", r["page_all_distinct"]["slider_move_s"] * 1e3, "ms", target="page slider move"),
        line("peak RSS above predictions", r["rss"]["above_mb"], "MB", target="peak RSS above predictions"),
        line("agreement max |ours - sklearn|", r["agreement"], "", target="agreement max |ours - sklearn|"),
        line("  · all-distinct scores", r["all_distinct"]["agreement"], "", target="agreement max |ours - sklearn|"),
    ]
    return pd.DataFrame(rows, columns=[f"{r['rows']:,} rows", "ours", "raw", "ours/raw", "target", "ok"])


def once(side: str, sources: list[str]) -> dict:
    """One timed pass over every Diagnostics number, read untimed first: ours (RUN_ID) or raw scikit-learn (PREDICTIONS SHAP)."""
    if side == "ours":
        from core import runs
        from core.diagnostics import diagnose

        frame, shap = runs.predictions(sources[0]), runs.explanation(sources[0])
        began = time.perf_counter()
        diagnose.everything(frame, shap, diagnose.Options())
    else:
        from bench.report import raw_numbers

        frame, shap = pd.read_parquet(sources[0]), pd.read_parquet(sources[1])
        began = time.perf_counter()
        raw_numbers(frame, shap)
    return {"seconds": time.perf_counter() - began, "rows": len(frame)}


def main() -> None:
    """Runs the benchmark, prints the table and writes bench/out/diagnostics.json (or, with --rss, measures peak RSS)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rss", metavar="RUN_ID", help=argparse.SUPPRESS)
    parser.add_argument("--once", nargs="+", metavar="SIDE", help=argparse.SUPPRESS)  # bench.run: ours RUN_ID | raw PREDICTIONS SHAP
    args = parser.parse_args()
    if args.once:
        print(json.dumps(once(args.once[0], args.once[1:])))
        return
    if args.rss:
        print(json.dumps(peak_rss(args.rss)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
        os.environ["WB_DATA_ROOT"] = str(folder / "data")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        (folder / "data").mkdir()
        result = bench(args.rows, args.repeats, folder)
    print(table(result).to_string(index=False))
    r = result
    print(f"report.html {r['report']['html_mb']:.1f} MB, self-contained: {r['report']['self_contained']}; "
          f"confusion at the chosen cut equals sklearn's: {r['confusion_agrees']}; "
          f"RSS after load {r['rss']['loaded_mb']:.0f} MB (predictions frame {r['rss']['frame_mb']:.0f} MB), "
          f"peak {r['rss']['peak_mb']:.0f} MB, VmHWM reset: {r['rss']['hwm_reset']}; "
          f"load average {r['load_before']:.2f} before, {r['load_after']:.2f} after, on {os.cpu_count()} cores")  # fmt: skip
    (OUT / "diagnostics.json").write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()

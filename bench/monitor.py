"""Monitor benchmark (issue 15): the demo's alerts, the noise of the alerted statistics, and the pass's cost.

    make bench-monitor [BENCH_ARGS="--sections alerts noise small"]
    .venv/bin/python -m bench.monitor [--sections alerts noise small speed rss] [--repeat 3] [--out bench/monitor.json]

- alerts: gbdt (isotonic) trained with `python -m core.train` on the first five weeks (event_time < 2026-10-06) of the
  1M-row, 56-day demo (seed 7, bench/out/monitor_root/demo), excluding core.demo.NOT_FEATURES and user_id, registered
  as `bench-monitor@champion`; then `monitor(...)` from 2026-10-06 with now 2026-12-01 (every label mature). Per
  window: channel and offer PSI, the largest feature PSI, calibration ratio, score PSI, ROC AUC and the alerts fired.
- noise: the same model on the demo from its first test day (the test split is not in the training reference): the
  windows ending by the first drift day hold no drift, so their statistics' spread is the noise the limits must clear.
  (Other seeds are other worlds, not noise: their campaigns carry other offers, offer PSI 0.009-0.16 against seed 7.)
- small: the slow test's setting, on 200k-row demos of seeds 1, 2, 3 and 7 (~26k rows a window), each with a small gbdt
  (60 trees of 15 leaves) trained on its own first five weeks: the same spread before and during the drift.
- speed: (a) after scoring, in one process on the pass's own arrays (1M rows): DriftCounts.add, rolling.windows,
  window_drift, alerts, window_table and histograms, median of --repeat; (b) `python -m core.monitor` against
  `python -m core.score` on the same 1M rows, --repeat runs of each in turns, each its own process (wall, peak RSS).
- rss: peak RSS of one `python -m core.monitor` pass over the 10M-row demo (bench/out/root_10000000, made if missing).
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

from bench.train import measured, stages

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out"
ROOT = OUT / "monitor_root"
MODEL = "bench-monitor"
ROWS, DAYS, SEED = 1_000_000, 56, 7
TRAIN_BEFORE, SINCE, NOW = "2026-10-06", "2026-10-06", "2026-12-01"
SECTIONS = ("alerts", "noise", "small", "speed", "rss")
SMALL_ROWS, SMALL_SEEDS, SMALL_PARAMS = 200_000, (1, 2, 3, 7), ("n_estimators=60", "num_leaves=15")
TARGETS = "targets: after scoring <= 2 s at 1M rows; pass/score wall <= 1.3; pass peak RSS < 2048 MB at 10M rows"
STAT_COLUMNS = ["start", "end", "rows", "positives", "drifting", "channel_psi", "offer_psi", "max_feature_psi",
                "top_feature", "calibration_ratio", "score_psi", "roc_auc", "alerts"]  # fmt: skip


def first_drift_day(days: int = DAYS) -> pd.Timestamp:
    """The demo's first drifting day: core.demo ramps the drift in over its last DRIFT_DAYS days."""
    from core import demo

    return pd.Timestamp(demo.START) + pd.Timedelta(days=days - demo.DRIFT_DAYS)


def window_stats(table: pd.DataFrame, drift: pd.DataFrame, fired: pd.DataFrame, drift_from: pd.Timestamp) -> pd.DataFrame:
    """One row per window of a pass. Columns: STAT_COLUMNS; drifting = the window ends after the first drift day starts."""
    psi = drift.pivot_table(index="start", columns="feature", values="psi", aggfunc="first")
    rules = fired.groupby("window_start")["rule"].agg(lambda r: ",".join(sorted(set(r)))) if len(fired) else pd.Series(dtype=object)
    starts = table["start"]
    return pd.DataFrame(
        {
            "start": starts.to_numpy(),
            "end": table["end"].to_numpy(),
            "rows": table["rows"].to_numpy(),
            "positives": table["positives"].to_numpy(),
            "drifting": (pd.to_datetime(table["end"]) > drift_from).to_numpy(),
            "channel_psi": starts.map(psi["channel"]).to_numpy(dtype=float) if "channel" in psi else np.nan,
            "offer_psi": starts.map(psi["offer"]).to_numpy(dtype=float) if "offer" in psi else np.nan,
            "max_feature_psi": table["max_feature_psi"].to_numpy(dtype=float),
            "top_feature": table["top_feature"].to_numpy(),
            "calibration_ratio": table["calibration_ratio"].to_numpy(dtype=float),
            "score_psi": table["psi"].to_numpy(dtype=float),
            "roc_auc": table["roc_auc"].to_numpy(dtype=float),
            "alerts": starts.map(rules).fillna("").to_numpy(),
        }
    )[STAT_COLUMNS]


def spread(stats: pd.DataFrame) -> dict:
    """Before (windows not drifting) and during the drift: largest feature, channel and score PSI, the calibration ratio's
    range and its largest |ratio - 1|, ROC AUC's range, and the windows with any alert."""
    out = {}
    for name, part in (("before", stats[~stats["drifting"]]), ("during", stats[stats["drifting"]])):
        ratio = part["calibration_ratio"]
        out[name] = {
            "windows": len(part),
            "rows_min": int(part["rows"].min()) if len(part) else 0,
            "max_feature_psi": float(part["max_feature_psi"].max()),
            "channel_psi": [float(part["channel_psi"].min()), float(part["channel_psi"].max())],
            "offer_psi": [float(part["offer_psi"].min()), float(part["offer_psi"].max())],
            "score_psi_max": float(part["score_psi"].max()),
            "calibration_ratio": [float(ratio.min()), float(ratio.max())],
            "calibration_gap_max": float((ratio - 1).abs().max()),
            "roc_auc": [float(part["roc_auc"].min()), float(part["roc_auc"].max())],
            "windows_alerted": int((part["alerts"] != "").sum()),
        }
    return out


def _env(root: Path, uri: str) -> dict:
    return {**os.environ, "WB_DATA_ROOT": str(root), "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def demo_dataset(root: Path, name: str, rows: int, seed: int) -> Path:
    """<root>/<name>: the 56-day demo of `rows` rows and `seed` (generated when missing or out of date)."""
    from core import demo

    folder = root / name
    if not demo.is_current(folder):
        began = time.perf_counter()
        demo.write(demo.generate(rows, DAYS, seed=seed), folder, overwrite=True)
        print(f"{name}: {rows:,} rows generated in {time.perf_counter() - began:.1f} s", flush=True)
    return folder


def champion(root: Path, uri: str, params: tuple[str, ...] = ()) -> dict:
    """MODEL@champion: gbdt (`params` its --param values) trained on the first five weeks of <root>/demo, once per store."""
    from core import demo, registry, tracking
    from core.errors import RegistryError

    os.environ.update({"MLFLOW_TRACKING_URI": uri, "WB_DATA_ROOT": str(root)})
    try:
        version = registry.champion(MODEL)
    except RegistryError:  # not registered yet
        version = None
    if version is not None:
        run_id = tracking.client().get_model_version(MODEL, str(version)).run_id
        return {"version": version, "run_id": run_id, "train_wall_s": None}
    argv = [sys.executable, "-m", "core.train", "--data", "demo", "--target", "converted", "--time-column", "event_time",
            "--exclude", *demo.NOT_FEATURES, "user_id", "--family", "gbdt", "--calibration", "isotonic",
            "--filter", f"event_time < {TRAIN_BEFORE}", "--experiment", MODEL, *(["--param", *params] if params else [])]  # fmt: skip
    print("training gbdt on the first five weeks …", flush=True)
    job = measured(argv, _env(root, uri))
    result = json.loads(job["stdout"].strip().splitlines()[-1])
    version = registry.register(result["run_id"], MODEL)
    registry.promote(MODEL, version, "bench.monitor: trained on the first five weeks")
    return {"version": version, "run_id": result["run_id"], "train_wall_s": round(job["wall_s"], 1), "test": result["metrics"]}


def monitored(dataset: str, since: str) -> tuple[pd.DataFrame, dict]:
    """One pass of MODEL@champion over `dataset` from `since` (now = NOW): window_stats and the pass's JSON."""
    import io

    import mlflow

    from core.monitoring.monitor_pass import Log, monitor

    result = monitor(MODEL, "champion", dataset, "event_time", since, now=NOW, log=Log(io.StringIO()))
    with tempfile.TemporaryDirectory() as tmp:
        files = {n: pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path=n, dst_path=tmp))
                 for n in ("monitor.parquet", "drift.parquet", "alerts.parquet")}  # fmt: skip
    stats = window_stats(files["monitor.parquet"], files["drift.parquet"], files["alerts.parquet"], first_drift_day())
    return stats, result


def alerts_section(uri: str) -> dict:
    """The demo's windows from SINCE with the default limits: what fires where."""
    demo_dataset(ROOT, "demo", ROWS, SEED)
    model = champion(ROOT, uri)
    stats, result = monitored("demo", SINCE)
    print(stats.to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    return {"model": model, "windows": stats.assign(start=stats["start"].astype(str), end=stats["end"].astype(str)).to_dict("records"),
            "spread": spread(stats), "alerts": result["alerts"], "seconds": result["seconds"]}  # fmt: skip


def noise_section(uri: str) -> dict:
    """The statistics on the demo's own windows that neither overlap the training reference nor the drift: from the
    version's first test day (its test split is out of the reference) to the last window ending by the first drift day."""
    from core import runs

    model = champion(ROOT, uri)
    first_test = pd.Timestamp(runs.predictions(model["run_id"])["time"].min()).ceil("D")
    stats, _ = monitored("demo", str(first_test.date()))
    out = {"since": str(first_test.date()), **spread(stats)["before"]}
    print(f"noise: {json.dumps(out)}", flush=True)
    return out


def small_section(uri: str) -> dict:
    """The test's setting (tests/core/monitoring/test_demo_alerts.py): per seed, a 200k-row demo, a small gbdt trained on
    its first five weeks in its own store, monitored from SINCE; the spread before and during the drift."""
    out = {}
    for seed in SMALL_SEEDS:
        root = OUT / f"monitor_small_s{seed}"
        (root / "mlruns").mkdir(parents=True, exist_ok=True)
        demo_dataset(root, "demo", SMALL_ROWS, seed)
        champion(root, f"sqlite:///{root}/mlruns/mlflow.db", SMALL_PARAMS)
        stats, result = monitored("demo", SINCE)
        rules = sorted({f"{a['rule']}:{a['feature']}" if a["feature"] else a["rule"] for a in result["alerts"]})
        out[f"seed_{seed}"] = {
            **spread(stats),
            "rules": rules,
            "first_alert": min((a["window_start"] for a in result["alerts"]), default=None),
        }
        print(f"seed {seed}: {json.dumps(out[f'seed_{seed}'])}", flush=True)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return out


def after_scoring(root: str, uri: str, repeat: int) -> dict:
    """(a) in this process: the pass's arrays for root's demo, then the drift table and window metrics timed on them."""
    os.environ.update({"MLFLOW_TRACKING_URI": uri, "WB_DATA_ROOT": root})
    from core import data, settings
    from core.compare import run_spec
    from core.diagnostics import rolling
    from core.monitoring import drift as drifts
    from core.monitoring.alerts import Limits, alerts
    from core.monitoring.monitor_pass import _reference_scores, _time_expr, model_uri, window_table
    from core.score import plan, positive_scores, scoring_batches
    from core.scorer import resolve
    from core.sql import positive_condition

    scorer = resolve(model_uri(MODEL, "champion"))
    spec = run_spec(scorer.run_id)
    con = data.connect()
    ds = data.resolve(con, "demo")
    cols = data.columns(con, ds)
    inputs, _ = plan(cols, scorer, [], ds.name)
    expr, params = positive_condition(spec.target, cols[spec.target], spec.positive_value)
    computed = [(_time_expr("event_time"), []), (f"COALESCE(CAST(({expr}) AS TINYINT), 0)", params)]
    reference_scores, before = _reference_scores(scorer.run_id, lambda *a, **k: None)
    refs = drifts.reference_profile(con, spec, {c: scorer.trained_types().get(c) or cols[c] for c in inputs}, before)
    chunks, scores, times, labels = [], [], [], []
    for key_table, features in scoring_batches(con, ds, inputs, [], settings.get("score_chunk_rows"), computed=computed):
        chunks.append((features, key_table.column(0).to_numpy()))
        times.append(chunks[-1][1])
        labels.append(key_table.column(1).to_numpy().astype(np.int8))
        scores.append(positive_scores(scorer, features))
    time_ns, y, score = np.concatenate(times).astype(np.int64), np.concatenate(labels), np.concatenate(scores)
    origin = pd.Timestamp(time_ns.min()).floor("D").value
    parts = {"add": [], "windows": [], "window_drift": [], "alerts": [], "table_histograms": [], "total": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        counts = drifts.DriftCounts(refs, origin)
        for features, chunk_times in chunks:
            counts.add(features, chunk_times)
        t1 = time.perf_counter()
        frame = pd.DataFrame({"time": time_ns.view("datetime64[ns]"), "y": y, "score": score})
        windows = rolling.windows(frame, 7, 1, 0.5, settings.get("conversion_days"), pd.Timestamp(NOW), reference_scores=reference_scores)
        t2 = time.perf_counter()
        drift = counts.window_drift(windows["start"], windows["end"])
        t3 = time.perf_counter()
        fired = alerts(windows, drift, Limits.from_settings())
        t4 = time.perf_counter()
        window_table(windows, drift, fired)
        first, last = (pd.Timestamp(windows[c].iloc[i]).value for c, i in (("start", 0), ("end", -1)))
        counts.histogram(first, last)
        counts.histogram(pd.Timestamp(windows["start"].iloc[-1]).value, last)
        t5 = time.perf_counter()
        for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True):
            parts[key].append(seconds)
    return {"rows": len(score), "features": len(refs), "windows": len(windows), "drift_rows": len(drift),
            "median_s": {k: round(statistics.median(v), 3) for k, v in parts.items()},
            "runs_s": [round(s, 3) for s in parts["total"]]}  # fmt: skip


def speed_section(uri: str, repeat: int) -> dict:
    """(a) after scoring, in its own process; (b) the whole pass against core.score on the same rows, in turns."""
    from bench.explore import root_for

    root = root_for(ROWS)[0]
    champion(ROOT, uri)
    env = _env(root, uri)
    job = measured([sys.executable, "-m", "bench.monitor", "--after-scoring", str(root), str(repeat)], env)
    after = json.loads(job["stdout"].strip().splitlines()[-1])
    print(f"after scoring: {after}", flush=True)
    tries = {"monitor": [], "score": []}
    with tempfile.TemporaryDirectory() as tmp:
        argvs = {
            "monitor": [sys.executable, "-m", "core.monitor", "--model", MODEL, "--data", "demo", "--time-column", "event_time", "--now", NOW],
            "score": [sys.executable, "-m", "core.score", "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out",
                      f"{tmp}/scores.parquet", "--threshold", "0.5"],
        }  # fmt: skip
        for i in range(repeat):
            for side, argv in argvs.items():
                print(f"{side} ({i + 1}/{repeat}) …", flush=True)
                tries[side].append(measured(argv, env))
    walls = {side: [round(t["wall_s"], 2) for t in runs] for side, runs in tries.items()}
    rss = {side: [round(t["rss_mb"]) for t in runs] for side, runs in tries.items()}
    median = {side: statistics.median(w) for side, w in walls.items()}
    return {
        "after_scoring": after,
        "pass_vs_score": {
            "rows": ROWS, "walls_s": walls, "rss_mb": rss, "median_s": median,
            "ratio": round(median["monitor"] / median["score"], 3),
            "load_before": [round(t["load_before"], 2) for runs in tries.values() for t in runs],
            "monitor_stages": stages(tries["monitor"][-1]["stderr"])[-3:],
        },
    }  # fmt: skip


def rss_section(uri: str, rows: int = 10_000_000) -> dict:
    """(c) one pass over the 10M-row demo in its own process: wall and peak RSS."""
    from bench.explore import root_for

    root = root_for(rows)[0]
    champion(ROOT, uri)
    argv = [sys.executable, "-m", "core.monitor", "--model", MODEL, "--data", "demo", "--time-column", "event_time", "--now", NOW]
    print(f"monitor pass over {rows:,} rows …", flush=True)
    job = measured(argv, _env(root, uri))
    return {"rows": rows, "wall_s": round(job["wall_s"], 1), "rss_mb": round(job["rss_mb"]), "load_before": round(job["load_before"], 2),
            "stages": stages(job["stderr"])[-2:]}  # fmt: skip


def table(result: dict) -> str:
    """The performance figures as one text table."""
    rows = []
    if "speed" in result:
        after, versus = result["speed"]["after_scoring"], result["speed"]["pass_vs_score"]
        rows.append(
            (f"after scoring, {after['rows']:,} rows × {after['features']} features", f"{after['median_s']['total']:.2f} s", "<= 2 s")
        )
        rows.append(
            (
                "pass / core.score wall (median)",
                f"{versus['median_s']['monitor']:.1f} / {versus['median_s']['score']:.1f} s = {versus['ratio']:.2f}",
                "<= 1.3",
            )
        )
        rows.append(("peak RSS pass / score, 1M", f"{max(versus['rss_mb']['monitor'])} / {max(versus['rss_mb']['score'])} MB", ""))
    if "rss" in result:
        rows.append(
            (f"pass peak RSS, {result['rss']['rows']:,} rows", f"{result['rss']['rss_mb']} MB ({result['rss']['wall_s']} s)", "< 2048 MB")
        )
    return pd.DataFrame(rows, columns=["measure", "value", "target"]).to_string(index=False) if rows else ""


def main() -> None:
    """Runs the chosen sections, prints their tables and writes --out (sections not run keep their previous figures)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "monitor.json")
    parser.add_argument("--after-scoring", nargs=2, metavar=("ROOT", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    uri = f"sqlite:///{ROOT}/mlruns/mlflow.db"
    if args.after_scoring:
        print(json.dumps(after_scoring(args.after_scoring[0], uri, int(args.after_scoring[1]))))
        return
    (ROOT / "mlruns").mkdir(parents=True, exist_ok=True)
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    for section in args.sections:
        runner = {
            "alerts": alerts_section,
            "noise": noise_section,
            "small": small_section,
            "speed": lambda u: speed_section(u, args.repeat),
            "rss": rss_section,
        }
        result[section] = runner[section](uri)
        result[section + "_uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(result))
    print(TARGETS)


if __name__ == "__main__":
    main()

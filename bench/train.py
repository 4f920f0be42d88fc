"""Training benchmark: the job's quality against the simulator's true_p, and its cost against raw LightGBM.

    .venv/bin/python -m bench.train [--rows 1000000] [--repeat 3]

The job (`python -m core.train`, on an MLflow store made just before) and the raw path (`pd.read_parquet` + `lightgbm.train`
with the gbdt defaults, run as `-m bench.train --raw`) each run in their own subprocess, so wall time and peak RSS
are per path; `--repeat` pairs of them run interleaved and the ratios use medians (one run varies by ±15% here).
Data root: bench/out/root_<rows> with a `demo` dataset (made if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent  # not core.settings: the raw path imports nothing of ours
OUT = PROJECT / "bench" / "out"
EXCLUDE = ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id", "site_id"]
JOB = ["--data", "demo", "--target", "converted", "--time-column", "event_time", "--exclude", *EXCLUDE, "--calibration", "isotonic"]
VALID, TEST, SHAP_ROWS = 0.15, 0.15, 2000
TARGETS = "targets: AUC gap <= 0.01, ECE <= 0.01, wall ours/raw <= 1.5, RSS ours/raw <= 2"
STAGE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")


def raw(root: Path, features: list[str], sample_rows: int | None = None) -> dict:
    """The analyst's path: read the columns (a DuckDB reservoir sample of them with sample_rows), category-code the text,
    split by time, fit, predict, explain."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    began, stages = time.perf_counter(), []

    def stage(message: str) -> None:
        stages.append((round(time.perf_counter() - began, 1), message))
        print(f"[{stages[-1][0]:7.1f}s] {message}", file=sys.stderr, flush=True)

    wanted = [*features, "event_time", "converted"]
    if sample_rows:
        import duckdb

        sql = f"SELECT {', '.join(wanted)} FROM read_parquet(?, hive_partitioning=true) USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (0)"
        frame = duckdb.execute(sql, [f"{root}/demo/**/*.parquet"]).df()
    else:
        frame = pd.read_parquet(root / "demo", columns=wanted)
    for column in features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("category")
    stage(f"read {len(frame):,} rows")
    t = frame["event_time"].to_numpy().astype("int64")
    valid_from, test_from = np.quantile(t, [1 - VALID - TEST, 1 - TEST])
    part = np.where(t >= test_from, 2, np.where(t >= valid_from, 1, 0))
    X, y = frame[features], frame["converted"].to_numpy(dtype=int)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 100,
        "subsample": 0.8,
        "bagging_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "cat_smooth": 10.0,
        "seed": 0,
        "verbose": -1,
    }
    train = lgb.Dataset(X[part == 0], y[part == 0])
    valid = lgb.Dataset(X[part == 1], y[part == 1], reference=train)
    booster = lgb.train(params, train, 600, valid_sets=[valid], callbacks=[lgb.early_stopping(50, verbose=False)])
    stage(f"fitted {booster.best_iteration} rounds")
    X_test, y_test = X[part == 2], y[part == 2]
    score = booster.predict(X_test, num_iteration=booster.best_iteration)
    stage(f"predicted {len(X_test):,} test rows")
    booster.predict(X_test.sample(min(SHAP_ROWS, len(X_test)), random_state=0), pred_contrib=True)
    stage(f"explained {min(SHAP_ROWS, len(X_test)):,} test rows")
    rows = {name: int((part == i).sum()) for i, name in enumerate(("train", "valid", "test"))}
    return {"rounds": booster.best_iteration, "roc_auc": float(roc_auc_score(y_test, score)), "rows": rows, "stages": stages}


def measured(argv: list[str], env: dict) -> dict:
    """Runs one path in its own process: wall seconds, peak RSS (MB), stdout and stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        timer = Path("/usr/bin/time").exists()
        report = Path(tmp) / "time.txt"
        prefix = ["/usr/bin/time", "-v", "-o", str(report)] if timer else []
        began, load = time.perf_counter(), os.getloadavg()[0]
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            child = subprocess.Popen([*prefix, *argv], stdout=out, stderr=err, env=env, cwd=PROJECT)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (its tree's peak)
            child.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - began
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
        peak_kb = usage.ru_maxrss
        if timer:
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read_text())
            peak_kb = int(found.group(1)) if found else peak_kb
    if child.returncode:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({child.returncode}):\n{stderr[-3000:]}")
    return {"wall_s": wall, "rss_mb": peak_kb / 1024, "load_before": load, "stdout": stdout, "stderr": stderr}


def stages(stderr: str) -> list[tuple[float, str]]:
    """The timestamped progress lines of a path's stderr."""
    return [(float(m.group(1)), m.group(2)) for m in map(STAGE.match, stderr.splitlines()) if m]


def quality(root: Path, features: list[str], uri: str, run_id: str) -> dict:
    """Test ROC AUC of the job's score and of true_p on the same rows, and the score's ECE."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from core import data
    from core.diagnostics import metrics
    from core.training.split import split_labels

    predictions = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="predictions.parquet", tracking_uri=uri))
    frame = data.training_frame(data.connect(root), "demo", "converted", [*features, "event_time", "true_p"])
    y = frame.pop("__target").to_numpy(dtype=int)
    test = split_labels(y, frame["event_time"], "temporal", VALID, TEST, 0) == "test"
    assert test.sum() == len(predictions), (int(test.sum()), len(predictions))
    assert np.array_equal(y[test], predictions["y"].to_numpy()), "test rows differ from predictions.parquet"
    true_p = frame.loc[test, "true_p"].to_numpy()
    out = {"model_auc": roc_auc_score(predictions["y"], predictions["score"]), "true_p_auc": roc_auc_score(y[test], true_p)}
    out["auc_gap"] = out["true_p_auc"] - out["model_auc"]
    out |= {
        "ece": metrics.ece(predictions["y"], predictions["score"]),
        "ece_raw_score": metrics.ece(predictions["y"], predictions["score_raw"]),
    }
    out["ece_true_p"] = metrics.ece(y[test], true_p)  # the noise floor of ECE on this many rows
    return out


def job_rounds(uri: str, run_id: str, features: list[str]) -> int | None:
    """best_iteration_ of the LGBMClassifier inside the logged (calibrated) model."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    final = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    gbdt = final.estimator.estimator  # CalibratedClassifierCV -> FrozenEstimator -> GBDTClassifier
    assert list(gbdt.feature_names_in_) == features, (list(gbdt.feature_names_in_), features)
    return getattr(gbdt.model_, "best_iteration_", None)


def _median(runs: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def features_for(root: Path) -> list[str]:
    """The features the job trains on for root's `demo` dataset (its column plan for JOB)."""
    from core import data
    from core.train import parse_args
    from core.training.prepare import plan_columns

    spec, _ = parse_args(JOB)
    return plan_columns(data.columns(data.connect(root), "demo"), spec)


def make_store(env: dict) -> None:
    """Creates the job's experiment in env's tracking store, as in a workbench that has run once (a new sqlite store costs ~1.5 s)."""
    from core.train import parse_args

    spec, _ = parse_args(JOB)
    subprocess.run([sys.executable, "-c", "import sys; from core import tracking; tracking.experiment_id(sys.argv[1])", spec.experiment],
                   env=env, cwd=PROJECT, check=True, capture_output=True)  # fmt: skip


def sample_spec(path: Path, sample_rows: int) -> Path:
    """Writes the job's TrainSpec with sample_rows set as YAML at path (for `core.train --spec`)."""
    import dataclasses

    from core.train import parse_args

    spec, _ = parse_args(JOB)
    path.write_text(dataclasses.replace(spec, sample_rows=sample_rows).to_yaml())
    return path


def argv(side: str, root: Path, features: list[str], spec: Path | None = None, sample_rows: int | None = None) -> list[str]:
    """The command running one side once: ours (the training job, from `spec` if given) or raw (`-m bench.train --raw`)."""
    if side == "ours":
        return [sys.executable, "-m", "core.train", *(["--spec", str(spec)] if spec else JOB)]
    return [
        sys.executable,
        "-m",
        "bench.train",
        "--raw",
        str(root),
        *features,
        *(["--sample-rows", str(sample_rows)] if sample_rows else []),
    ]


def bench(rows: int, repeat: int = 3) -> dict:
    """Both paths on one data root; the quality and cost numbers."""
    from bench.explore import root_for

    root, _ = root_for(rows)
    features = features_for(root)
    with tempfile.TemporaryDirectory() as store:
        uri = f"sqlite:///{store}/mlflow.db"
        env = {**os.environ, "WB_DATA_ROOT": str(root), "MLFLOW_TRACKING_URI": uri}
        make_store(env)
        runs_ours, runs_raw = [], []
        for i in range(repeat):  # interleaved, so a busy spell on the machine falls on both paths
            print(f"{rows:,} rows, {len(features)} features: pair {i + 1}/{repeat}, the job …", flush=True)
            runs_ours.append(measured(argv("ours", root, features), env))
            print("  … the raw path", flush=True)
            runs_raw.append(measured(argv("raw", root, features), env))
        ours, theirs = runs_ours[0], runs_raw[0]
        result = json.loads(ours["stdout"].strip().splitlines()[-1])
        raw_result = json.loads(theirs["stdout"].strip().splitlines()[-1])
        assert raw_result["rows"] == result["rows"], (raw_result["rows"], result["rows"])
        found = quality(root, features, uri, result["run_id"])
        rounds = job_rounds(uri, result["run_id"], features)
    return {
        "rows": rows,
        "features": features,
        "split_rows": result["rows"],
        "quality": {**{k: round(v, 5) for k, v in found.items()}, "job_reported_auc": round(result["metrics"]["roc_auc"], 5)},
        "ours": {
            "wall_s": round(_median(runs_ours, "wall_s"), 1),
            "wall_s_each": [round(r["wall_s"], 1) for r in runs_ours],
            "rss_mb": round(_median(runs_ours, "rss_mb")),
            "rounds": rounds,
            "load_before": round(ours["load_before"], 2),
            "stages": stages(ours["stderr"]),
        },
        "raw": {
            "wall_s": round(_median(runs_raw, "wall_s"), 1),
            "wall_s_each": [round(r["wall_s"], 1) for r in runs_raw],
            "rss_mb": round(_median(runs_raw, "rss_mb")),
            "rounds": raw_result["rounds"],
            "roc_auc": round(raw_result["roc_auc"], 5),
            "load_before": round(theirs["load_before"], 2),
            "stages": raw_result["stages"],
        },
        "wall_ratio": round(_median(runs_ours, "wall_s") / _median(runs_raw, "wall_s"), 2),
        "wall_ratio_each": [round(a["wall_s"] / b["wall_s"], 2) for a, b in zip(runs_ours, runs_raw, strict=True)],
        "rss_ratio": round(_median(runs_ours, "rss_mb") / _median(runs_raw, "rss_mb"), 2),
    }


def _each(values: list[float]) -> str:
    return " ".join(f"{v:g}" for v in values)


def table(r: dict) -> str:
    """The results as one compact text table."""
    import pandas as pd

    q, ours, raw_ = r["quality"], r["ours"], r["raw"]
    lines = [
        ("test ROC AUC", f"{q['model_auc']:.4f}", f"{raw_['roc_auc']:.4f}", "", ""),
        ("true_p test ROC AUC", f"{q['true_p_auc']:.4f}", "", "", ""),
        ("AUC gap (true_p - model)", f"{q['auc_gap']:.4f}", "", "", "<= 0.01"),
        ("test ECE (calibrated score)", f"{q['ece']:.4f}", "", "", "<= 0.01"),
        ("test ECE (uncalibrated / true_p)", f"{q['ece_raw_score']:.4f}", "", "", f"true_p {q['ece_true_p']:.4f}"),
        ("boosting rounds", str(ours["rounds"]), str(raw_["rounds"]), "", ""),
        ("wall s (median)", f"{ours['wall_s']:.1f}", f"{raw_['wall_s']:.1f}", f"{r['wall_ratio']:.2f}", "<= 1.5"),
        ("wall s (each pair)", _each(ours["wall_s_each"]), _each(raw_["wall_s_each"]), _each(r["wall_ratio_each"]), ""),
        ("peak RSS MB (median)", str(ours["rss_mb"]), str(raw_["rss_mb"]), f"{r['rss_ratio']:.2f}", "<= 2"),
    ]
    frame = pd.DataFrame(lines, columns=[f"{r['rows']:,} rows", "ours", "raw", "ours/raw", "target"])
    return frame.to_string(index=False)


def main() -> None:
    """Runs the benchmark, prints the table and writes bench/out/train.json (or, with --raw, runs the raw path)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of (job, raw) runs; times are medians")
    parser.add_argument("--raw", nargs="+", metavar=("ROOT", "FEATURE"), help=argparse.SUPPRESS)
    parser.add_argument("--sample-rows", type=int, help=argparse.SUPPRESS)  # with --raw: a reservoir sample of this many rows
    args = parser.parse_args()
    if args.raw:
        print(json.dumps(raw(Path(args.raw[0]), args.raw[1:], args.sample_rows)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    result = bench(args.rows, args.repeat)
    for name in ("ours", "raw"):
        print(
            f"{name} (load average before {result[name]['load_before']:.2f}) stages: "
            + "; ".join(f"{s:.1f}s {m}" for s, m in result[name]["stages"])
        )
    print(table(result))
    print(TARGETS)
    (OUT / "train.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

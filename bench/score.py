"""Scoring benchmark: `python -m core.score` against the same model's predict_proba on pyarrow chunks.

    .venv/bin/python -m bench.score [--rows 10000000] [--chunk-rows 200000] [--repeats 1]

A small gbdt model is trained on bench/out/root_1000000 (`python -m core.train`) into an MLflow store made for
this run, registered as `bench-score@champion` with a saved threshold. Then, in turns, each path scores the
`demo` dataset of bench/out/root_<rows> in its own subprocess, so wall time and peak RSS are per path:

- ours: `python -m core.score --model models:/bench-score@champion --data demo --out <tmp>/scores.parquet`
  (DuckDB record batches, keys + score + decision written to parquet);
- raw (`-m bench.score --raw`): `mlflow.sklearn.load_model` + pyarrow.dataset batches of the same size, to_pandas,
  numerics as float64, predict_proba, count the flagged rows; nothing is written.

Throughput is rows / wall of the whole process (imports and model load included); the best of the repeats counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.train import measured, stages

PROJECT = Path(__file__).resolve().parent.parent  # not core.settings: the raw path imports nothing of ours
OUT = PROJECT / "bench" / "out"
TRAIN_ROWS = 1_000_000
MODEL = "bench-score"
THRESHOLD = 0.1
EXCLUDE = ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id", "site_id"]
JOB = ["--data", "demo", "--target", "converted", "--time-column", "event_time", "--exclude", *EXCLUDE]
JOB += ["--param", "n_estimators=200", "--calibration", "isotonic"]
TARGETS = "targets: throughput ours/raw >= 0.8, ours peak RSS < 2048 MB"


def raw(root: Path, uri: str, chunk_rows: int, threshold: float) -> dict:
    """The analyst's path: the logged sklearn model's predict_proba over pyarrow batches of the dataset."""
    import mlflow
    import pyarrow.dataset as pads

    began = time.perf_counter()
    model = mlflow.sklearn.load_model(uri)
    features = mlflow.models.get_model_info(uri).signature.inputs.input_names()
    loaded = time.perf_counter()
    dataset = pads.dataset(root / "demo", format="parquet", partitioning="hive")
    rows = flagged = 0
    for batch in dataset.scanner(columns=features, batch_size=chunk_rows).to_batches():
        frame = batch.to_pandas()
        for column in frame.columns:
            if frame[column].dtype.kind in "iufb":
                frame[column] = frame[column].astype("float64")
        score = model.predict_proba(frame)[:, 1]
        rows += len(score)
        flagged += int((score >= threshold).sum())
    return {"rows": rows, "positives_flagged": flagged, "load_s": loaded - began, "score_s": time.perf_counter() - loaded}


def root_for(rows: int) -> Path:
    """bench/out/root_<rows> with its `demo` dataset (generated if missing)."""
    from bench.explore import root_for as made

    return made(rows)[0]


def champion(uri: str, env: dict, train_root: Path | None = None, run_id: str | None = None) -> dict:
    """Registers run_id's model (else one trained on train_root, default the 1M root) as MODEL@champion with THRESHOLD saved."""
    import mlflow

    from core import runs, tracking

    train_wall_s = None
    if run_id is None:
        train_root = train_root or root_for(TRAIN_ROWS)
        print(f"training a gbdt model on {train_root} …", file=sys.stderr, flush=True)
        job = measured([sys.executable, "-m", "core.train", *JOB], {**env, "WB_DATA_ROOT": str(train_root)})
        run_id, train_wall_s = json.loads(job["stdout"].strip().splitlines()[-1])["run_id"], round(job["wall_s"], 1)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    client = tracking.client()
    model_id = client.get_run(run_id).outputs.model_outputs[0].model_id  # MLflow 3: the model is a LoggedModel
    client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, f"models:/{model_id}", run_id=run_id, model_id=model_id)
    client.set_registered_model_alias(MODEL, "champion", version.version)
    runs.save_threshold(run_id, THRESHOLD, 1.0, 0.1, 0.0, None)
    info = mlflow.models.get_model_info(f"models:/{MODEL}/{version.version}")
    return {"run_id": run_id, "version": version.version, "train_wall_s": train_wall_s, "features": info.signature.inputs.input_names()}  # fmt: skip


def argv(side: str, root: Path, model: dict, out: Path, chunk_rows: int) -> list[str]:
    """The command scoring root's `demo` once: ours (core.score, writing `out`) or raw (`-m bench.score --raw`)."""
    if side == "ours":
        return [sys.executable, "-m", "core.score", "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(out),
                "--chunk-rows", str(chunk_rows)]  # fmt: skip
    return [sys.executable, "-m", "bench.score", "--raw", str(root), f"models:/{MODEL}/{model['version']}", str(chunk_rows)]


def bench(rows: int, chunk_rows: int, repeats: int) -> dict:
    """Both paths on one data root, `repeats` times in turns; the best of each."""
    root = root_for(rows)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        model = champion(uri, env)
        env["WB_DATA_ROOT"] = str(root)
        out = Path(tmp) / "scores.parquet"
        ours_argv, raw_argv = (argv(side, root, model, out, chunk_rows) for side in ("ours", "raw"))
        tries = {"ours": [], "raw": []}
        for i in range(repeats):
            print(f"{rows:,} rows, chunks of {chunk_rows:,}: core.score ({i + 1}/{repeats}) …", flush=True)
            ours = measured(ours_argv, env)
            ours["result"] = json.loads(ours["stdout"].strip().splitlines()[-1])
            tries["ours"].append(ours)
            print(f"raw predict_proba ({i + 1}/{repeats}) …", flush=True)
            theirs = measured(raw_argv, env)
            theirs["result"] = json.loads(theirs["stdout"].strip().splitlines()[-1])
            tries["raw"].append(theirs)
        ours, theirs = (min(tries[k], key=lambda t: t["wall_s"]) for k in ("ours", "raw"))
        import pyarrow.parquet as pq

        written = pq.ParquetFile(out)
        assert written.metadata.num_rows == rows == theirs["result"]["rows"], (written.metadata.num_rows, rows, theirs["result"]["rows"])
        # Same model, same rows, same cut: the same rows are flagged.
        assert ours["result"]["positives_flagged"] == theirs["result"]["positives_flagged"], (ours["result"], theirs["result"])
        columns = written.schema_arrow.names
        out_mb = out.stat().st_size / 2**20
    return {
        "rows": rows,
        "chunk_rows": chunk_rows,
        "repeats": repeats,
        "model": model,
        "threshold": THRESHOLD,
        "positives_flagged": ours["result"]["positives_flagged"],
        "output": {"columns": columns, "mb": round(out_mb, 1)},
        "ours": {
            "wall_s": round(ours["wall_s"], 1),
            "rows_per_s": round(rows / ours["wall_s"]),
            "in_process_s": ours["result"]["seconds"],
            "rss_mb": round(ours["rss_mb"]),
            "load_before": round(ours["load_before"], 2),
            "walls": [round(t["wall_s"], 1) for t in tries["ours"]],
            "stages": stages(ours["stderr"])[:2] + stages(ours["stderr"])[-1:],
        },
        "raw": {
            "wall_s": round(theirs["wall_s"], 1),
            "rows_per_s": round(rows / theirs["wall_s"]),
            "in_process_s": round(theirs["result"]["load_s"] + theirs["result"]["score_s"], 1),
            "rss_mb": round(theirs["rss_mb"]),
            "load_before": round(theirs["load_before"], 2),
            "walls": [round(t["wall_s"], 1) for t in tries["raw"]],
        },
        "throughput_ratio": round(theirs["wall_s"] / ours["wall_s"], 3),
        "rss_ratio": round(ours["rss_mb"] / theirs["rss_mb"], 2),
    }


def table(r: dict) -> str:
    """The results as one compact text table."""
    import pandas as pd

    ours, raw_ = r["ours"], r["raw"]
    lines = [
        ("rows/s (whole process)", f"{ours['rows_per_s']:,}", f"{raw_['rows_per_s']:,}", f"{r['throughput_ratio']:.2f}", ">= 0.8"),
        ("wall s", f"{ours['wall_s']:.1f}", f"{raw_['wall_s']:.1f}", "", ""),
        ("in-process s (load + score)", f"{ours['in_process_s']:.1f}", f"{raw_['in_process_s']:.1f}", "", ""),
        ("peak RSS MB", str(ours["rss_mb"]), str(raw_["rss_mb"]), f"{r['rss_ratio']:.2f}", "ours < 2048"),
    ]
    frame = pd.DataFrame(lines, columns=[f"{r['rows']:,} rows", "ours", "raw", "ours/raw", "target"])
    return frame.to_string(index=False)


def main() -> None:
    """Runs the benchmark, prints the table and writes bench/out/score.json (or, with --raw, runs the raw path)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=200_000, help="rows per chunk for both paths (core.score's default)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each path, in turns; the fastest counts")
    parser.add_argument("--raw", nargs=3, metavar=("ROOT", "MODEL_URI", "CHUNK_ROWS"), help=argparse.SUPPRESS)
    # bench.run: register a model (RUN_ID's, else one trained on TRAIN_ROOT) and print it
    parser.add_argument("--champion", nargs="+", metavar=("TRAIN_ROOT", "RUN_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.champion:
        run_id = args.champion[1] if len(args.champion) > 1 else None
        print(json.dumps(champion(os.environ["MLFLOW_TRACKING_URI"], dict(os.environ), Path(args.champion[0]), run_id)))
        return
    if args.raw:
        print(json.dumps(raw(Path(args.raw[0]), args.raw[1], int(args.raw[2]), THRESHOLD)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    result = bench(args.rows, args.chunk_rows, args.repeats)
    print(f"ours walls {result['ours']['walls']}, raw walls {result['raw']['walls']}; load average before: ours {result['ours']['load_before']}, raw {result['raw']['load_before']}")  # fmt: skip
    print(table(result))
    print(TARGETS)
    (OUT / "score.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

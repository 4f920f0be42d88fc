"""A FINISHED run of N test predictions made from a demo table's true_p, for the diagnostics and report benchmarks.

    .venv/bin/python -m bench.predictions ROOT FOLDER   (MLFLOW_TRACKING_URI set)

logs a run of every row of ROOT/demo as test predictions (score_raw = sigmoid(1.4 * logit(noisy) + 0.5), score its
isotonic calibration, see bench/diagnostics.py) with a synthetic shap.parquet, and prints one JSON line:
{"run_id", "rows", "predictions", "shap"} (the two parquet files as written in FOLDER before logging).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

SEGMENTS = ["country", "device", "os", "channel", "placement"]
SHAP_ROWS = 2000
COLUMNS = ["converted", "true_p", "event_time", *SEGMENTS, "session_depth", "dwell_s", "ad_position"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1 / (1 + np.exp(-x))


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of a probability."""
    return np.log(p / (1 - p))


def predictions_frame(table: pa.Table) -> pd.DataFrame:
    """The run's predictions.parquet from the demo table: row, y, score, score_raw, time and the segment columns."""
    rows = len(table)
    rng = np.random.default_rng(7)
    y = table["converted"].to_numpy().astype(np.int64)
    noisy = sigmoid(logit(table["true_p"].to_numpy()) + rng.normal(0, 0.3, rows))
    score_raw = sigmoid(1.4 * logit(noisy) + 0.5)
    half = rng.random(rows) < 0.5
    isotonic = IsotonicRegression(y_min=1e-6, y_max=1 - 1e-6, out_of_bounds="clip").fit(score_raw[half], y[half])
    frame = pd.DataFrame({"row": np.arange(rows), "y": y, "score": isotonic.predict(score_raw), "score_raw": score_raw})
    frame["time"] = pd.to_datetime(table["event_time"].to_pandas()).to_numpy()
    for column in SEGMENTS:
        frame[column] = table[column].to_pandas()
    return frame


def shap_frame(table: pa.Table, predictions: pd.DataFrame, rows: int) -> pd.DataFrame:
    """A synthetic shap.parquet: `row`, six feature values, shap.<feature> from the demo's effects plus noise, shap._base."""
    from core import demo

    rng = np.random.default_rng(11)
    picked = np.sort(rng.choice(len(predictions), size=min(rows, len(predictions)), replace=False))
    out = pd.DataFrame({"row": predictions["row"].to_numpy()[picked]})
    effects = {"country": demo.COUNTRY_EFFECT, "device": demo.DEVICE_EFFECT, "channel": demo.CHANNEL_EFFECT}
    for name, effect in effects.items():
        out[name] = predictions[name].to_numpy()[picked]
        contribution = out[name].map(effect).astype(float).fillna(0.0)
        out["shap." + name] = contribution - contribution.mean() + rng.normal(0, 0.05, len(out))
    for name, shape in (("session_depth", lambda v: 0.35 * np.log(v)), ("dwell_s", lambda v: 0.30 * np.log(v + 1)),
                        ("ad_position", lambda v: -0.15 * v)):  # fmt: skip
        values = table[name].to_pandas().to_numpy(dtype=float, na_value=np.nan)[picked]
        out[name] = values
        contribution = np.nan_to_num(shape(values), nan=np.nanmean(shape(values)))
        out["shap." + name] = contribution - contribution.mean() + rng.normal(0, 0.05, len(out))
    out["shap._base"] = demo.INTERCEPT
    return out


def logged_run(predictions: pd.DataFrame, shap: pd.DataFrame, folder: Path, name: str = "bench-diagnostics") -> str:
    """A FINISHED run in experiment "bench" holding both artifacts, tagged as the training job tags its runs."""
    import mlflow

    from core import tracking

    experiment = tracking.experiment_id("bench")
    for frame, name in ((predictions, "predictions.parquet"), (shap, "shap.parquet")):
        frame.to_parquet(folder / name, index=False)
    tags = {"wb.family": "gbdt", "wb.dataset": "demo", "wb.target": "converted", "wb.time_column": "event_time"}
    with mlflow.start_run(experiment_id=experiment, run_name=f"{name}-{len(predictions)}", tags=tags) as run:
        mlflow.log_metric("roc_auc", roc_auc_score(predictions["y"], predictions["score"]))
        mlflow.log_artifact(str(folder / "predictions.parquet"))
        mlflow.log_artifact(str(folder / "shap.parquet"))
    return run.info.run_id


def from_root(root: Path, folder: Path) -> dict:
    """Logs every row of root/demo as a run's test predictions; the run id, rows and the two parquet paths."""
    import pyarrow.dataset as pads

    table = pads.dataset(root / "demo", format="parquet", partitioning="hive").to_table(columns=COLUMNS)
    predictions = predictions_frame(table)
    shap = shap_frame(table, predictions, SHAP_ROWS)
    del table
    folder.mkdir(parents=True, exist_ok=True)
    run_id = logged_run(predictions, shap, folder)
    paths = {name: str(folder / f"{name}.parquet") for name in ("predictions", "shap")}
    return {"run_id": run_id, "rows": len(predictions), **paths}


if __name__ == "__main__":
    print(json.dumps(from_root(Path(sys.argv[1]), Path(sys.argv[2]))))

"""A monitoring pass as an MLflow run: what it logs (metrics per window, alert tags, parquet files) and the list of passes."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from core import tracking
from core.errors import RegistryError
from core.monitoring.alerts import ALERT_COLUMNS

KIND = "monitor"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")  # core.registry.MODEL_NAME; importing that pulls in scikit-learn
HISTORY_COLUMNS = ["run_id", "started", "version", "dataset", "since", "windows", "alerts", "status"]
# Metric name -> window table column, logged with step = window index.
WINDOW_METRICS = {
    "rows": "rows",
    "mean_score": "mean_score",
    "score_psi": "psi",
    "roc_auc": "roc_auc",
    "est_roc_auc": "est_roc_auc",
    "calibration_ratio": "calibration_ratio",
    "max_feature_psi": "max_feature_psi",
}


def alert_records(fired: pd.DataFrame) -> list[dict]:
    """The alerts as the CLI prints them: window_start as ISO text, feature None for window rules."""
    return [
        {
            "rule": row.rule,
            "window_start": pd.Timestamp(row.window_start).isoformat(),
            "value": float(row.value),
            "limit": float(row.limit),
            "feature": None if row.feature is None or pd.isna(row.feature) else str(row.feature),
            "estimated": bool(row.estimated),
        }
        for row in fired[ALERT_COLUMNS].itertuples(index=False)
    ]


def set_tags(client, run_id: str, tags: dict) -> None:
    client.log_batch(run_id, tags=[mlflow.entities.RunTag(k, str(v)) for k, v in tags.items()])


def alerts_tag(records: list[dict]) -> str:
    """The alerts as JSON that fits a tag: as many whole alerts as fit, the rest left out."""
    text = json.dumps(records)
    kept = len(records)
    while len(text) > MAX_TAG_VAL_LENGTH and kept:
        kept = min(kept - 1, kept * MAX_TAG_VAL_LENGTH // len(text))
        text = json.dumps(records[:kept])
    return text


def log_pass(client, run_id: str, table: pd.DataFrame, fired: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> None:
    """Per-window metrics (step = window index), the alert tags and the parquet files."""
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(name, float(value), stamp, step)
        for name, column in WINDOW_METRICS.items()
        for step, value in enumerate(table[column].to_numpy(dtype=float))
        if not np.isnan(value)
    ]
    for at in range(0, len(metrics), 1000):  # MLflow takes at most 1,000 metrics per batch
        client.log_batch(run_id, metrics=metrics[at : at + 1000])
    records = alert_records(fired)
    set_tags(
        client,
        run_id,
        {
            "wb.alert_count": str(len(records)),
            "wb.alerts": alerts_tag(records),
            "wb.windows": str(len(table)),
            "wb.rows": str(int(table["rows"].sum())),
        },
    )
    with tempfile.TemporaryDirectory(prefix="wb-monitor-") as folder:
        for name, frame in frames.items():
            frame.to_parquet(Path(folder) / name, index=False)
        client.log_artifacts(run_id, folder)


@tracking.guarded
def history(model: str) -> pd.DataFrame:
    """The model's monitoring passes, newest first. Columns: run_id, started, version, dataset, since, windows, alerts, status."""
    if not MODEL_NAME.match(model or ""):
        raise RegistryError(f"Model name {model!r} must be letters, digits, '.', '_' or '-'.")
    tracking.client()
    found = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`wb.kind` = '{KIND}' and tags.`wb.model` = '{model}'",  # the name matched MODEL_NAME: no quotes
        order_by=["attributes.start_time DESC"],
    )
    if found.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)

    def tag(name: str) -> pd.Series:
        return found.get(f"tags.{name}", pd.Series("", index=found.index)).fillna("")

    return pd.DataFrame(
        {
            "run_id": found["run_id"],
            "started": pd.to_datetime(found["start_time"], utc=True),
            "version": pd.to_numeric(tag("wb.version"), errors="coerce").astype("Int64"),
            "dataset": tag("wb.dataset"),
            "since": tag("wb.since"),
            "windows": pd.to_numeric(tag("wb.windows"), errors="coerce").astype("Int64"),
            "alerts": pd.to_numeric(tag("wb.alert_count"), errors="coerce").astype("Int64"),
            "status": found["status"],
        }
    ).reset_index(drop=True)

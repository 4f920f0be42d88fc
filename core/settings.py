"""The one table of settings: name, environment variable, default, help.

Values are read from the environment on every call, so tests and CLIs can set them per process.
`<project>` in a default stands for the folder this repository is checked out in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import WorkbenchError

PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


def _path(text: str) -> Path:
    return Path(text.replace("<project>", str(PROJECT))).expanduser().resolve()


def _uri(text: str) -> str:
    return text.replace("<project>", str(PROJECT))


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or abs(value) == float("inf"):
        raise ValueError("must be a finite number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _band(text: str) -> tuple[float, float]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2:
        raise ValueError("must be two numbers 'lo,hi', like 0.8,1.25")
    lo, hi = float(parts[0]), float(parts[1])
    if not 0 <= lo < hi < float("inf"):
        raise ValueError("must be 'lo,hi' with 0 <= lo < hi")
    return lo, hi


SETTINGS = (
    Setting("data_root", "WB_DATA_ROOT", "<project>/data", "Folder of datasets (parquet, CSV, hive-partitioned folders)", _path),
    Setting("demo_rows", "WB_DEMO_ROWS", "1000000", "Rows in the generated demo dataset", _positive_int),
    Setting("demo_days", "WB_DEMO_DAYS", "56", "Days of events in the generated demo dataset", _positive_int),
    Setting("tracking_uri", "MLFLOW_TRACKING_URI", "sqlite:///<project>/mlruns/mlflow.db", "MLflow tracking store and registry; artifacts go next to a sqlite file", _uri),
    Setting("sql_row_limit", "WB_SQL_ROW_LIMIT", "10000", "Most rows a query in the SQL box returns", _positive_int),
    Setting("sql_timeout_s", "WB_SQL_TIMEOUT_S", "30", "Seconds before a query in the SQL box is stopped", _positive_float),
    Setting("shap_rows", "WB_SHAP_ROWS", "2000", "Test rows a training job explains with SHAP (about 2 s per 1,000 rows for LightGBM)", _positive_int),
    Setting("max_jobs", "WB_MAX_JOBS", "2", "Training jobs that may run at once; more are refused with a message", _positive_int),
    Setting("bootstrap_resamples", "WB_BOOTSTRAP_RESAMPLES", "200", "Bootstrap resamples behind the 95% intervals of the headline metrics", _positive_int),
    Setting("conversion_days", "WB_CONVERSION_DAYS", "7", "Days a conversion may take to arrive: younger windows are immature and their metrics estimated", _non_negative_float),
    Setting("value_tp", "WB_VALUE_TP", "1.0", "Default value of a flagged converter (threshold explorer, report)", _non_negative_float),
    Setting("cost_fp", "WB_COST_FP", "0.1", "Default cost of a flagged non-converter", _non_negative_float),
    Setting("cost_fn", "WB_COST_FN", "0.0", "Default cost of a missed converter", _non_negative_float),
    Setting("slice_min_rows", "WB_SLICE_MIN_ROWS", "500", "Fewest rows a slice needs before the slice finder tests it", _positive_int),
    Setting("gate_min_roc_auc", "WB_GATE_MIN_ROC_AUC", "0.6", "Promotion gate: the challenger's ROC AUC must be at least this", _non_negative_float),
    Setting("gate_max_ece", "WB_GATE_MAX_ECE", "0.02", "Promotion gate: the challenger's ECE must be at most this", _non_negative_float),
    Setting("gate_max_drop", "WB_GATE_MAX_DROP", "0.005", "Promotion gate: ROC AUC the challenger may lose against the champion on the same rows", _non_negative_float),
    Setting("gate_max_rmsle_increase", "WB_GATE_MAX_RMSLE_INCREASE", "0.02", "Promotion gate, when challenger and champion both have a value stage: value RMSLE the challenger may add over the champion's on the same holdout converters (negative: it must improve by that much)", _finite_float),
    Setting("monitor_max_score_psi", "WB_MONITOR_MAX_SCORE_PSI", "0.1", "Monitor: a window whose score PSI against the model's test scores is above this raises a score_psi alert", _non_negative_float),
    Setting("monitor_max_feature_psi", "WB_MONITOR_MAX_FEATURE_PSI", "0.02", "Monitor: a window where a feature's PSI against its training reference is above this raises a feature_psi alert", _non_negative_float),
    Setting("monitor_calibration_band", "WB_MONITOR_CALIBRATION_BAND", "0.9,1.1", "Monitor: a mature window with enough positives whose calibration ratio (mean score / rate) is outside lo,hi raises a calibration_ratio alert", _band),
    Setting("upload_max_mb", "WB_UPLOAD_MAX_MB", "500", "Largest file, in MB, the Explore page accepts as an upload (Streamlit's own ceiling is set to 4096 in .streamlit/config.toml)", _positive_int),
    Setting("score_chunk_rows", "WB_SCORE_CHUNK_ROWS", "200000", "Rows per chunk when core.score streams a dataset", _positive_int),
    Setting("dask_scheduler", "WB_DASK_SCHEDULER", "", "Dask scheduler (`tcp://HOST:PORT`) for the dask engine; when set, the Train page offers the engine. Empty: `--engine dask` starts a local cluster"),
    Setting("dask_workers", "WB_DASK_WORKERS", "2", "Worker processes of the local Dask cluster made when no scheduler is given (one thread each)", _positive_int),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> Any:
    """The current value of one setting, parsed; a bad value names its variable."""
    setting = _BY_NAME[name]
    text = os.environ.get(setting.env) or setting.default
    try:
        return setting.parse(text)
    except ValueError as err:
        raise WorkbenchError(f"{setting.env}={text!r} is not valid: {err}") from None


def artifact_root() -> Path:
    """Where MLflow artifacts live locally: beside the sqlite file, else `<project>/mlruns`."""
    uri = get("tracking_uri")
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file:").removeprefix("//")).resolve()
    return (PROJECT / "mlruns").resolve()


def markdown_table() -> str:
    """The settings as the Markdown table the README holds."""
    lines = ["| Setting | Environment variable | Default | What it does |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | `{s.env}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)

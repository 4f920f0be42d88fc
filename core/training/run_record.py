"""What a training run records after its fit: metrics per split, predictions, importance, SHAP, the fingerprint and
the model with the code it needs to load anywhere."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd

from core import data, jobs, settings
from core.diagnostics import metrics
from core.diagnostics.explain import ROW_KEY, explanation
from core.diagnostics.metrics import HEADLINE
from core.progress import Log
from core.selection.importance import feature_importance
from core.signature import INPUT_TYPES, model_signature
from core.spec import TrainSpec
from core.training.prepare import Prepared
from core.value.stage import maturity, metric_values, value_columns, value_metrics, value_model
from models.calibrated import calibrated_scores

# What a logged model needs to load and predict: this repository's code travels in the pickle by reference.
MODEL_REQUIREMENTS = [
    f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "cloudpickle", "pyarrow")
]


def fingerprint(con, spec: TrainSpec, prep: Prepared, rows: int) -> dict:
    """Paths, rows, time range and a hash of the file list, so a run says what it saw."""
    ds = data.resolve(con, spec.dataset)
    out = {"dataset": ds.name, "paths": list(ds.files[:1000]), "files": len(ds.files), "rows": int(rows), "file_hash": ds.fingerprint}
    if spec.time_column:
        first, last = data.quantiles(con, ds, spec.time_column, [0.0, 1.0], spec.filter)
        out["time_min"], out["time_max"] = str(first), str(last)
    return out


def log_fingerprint(found: dict, folder: Path) -> None:
    """Logs `found` as the run's fingerprint.json."""
    (folder / "fingerprint.json").write_text(json.dumps(found, indent=2))
    mlflow.log_artifact(str(folder / "fingerprint.json"))


def log_frame(frame: pd.DataFrame, name: str, folder: Path) -> None:
    """Logs `frame` as the run's parquet artifact `name`, written under `folder` first."""
    path = folder / name
    frame.to_parquet(path, index=False)
    mlflow.log_artifact(str(path))


def explained_rows(estimator) -> int:
    """Test rows a job explains: WB_SHAP_ROWS, or fewer where the family caps it (shap_row_cap: forest's SHAP is slow)."""
    rows = settings.get("shap_rows")
    return min(rows, getattr(estimator, "shap_row_cap", rows))


def evaluate_and_log(
    spec, prep: Prepared, estimator, model, final, valid_raw, folder: Path, log: Log, check=None, value_stages=None
) -> dict:
    """Scores the valid and test splits with a local fit, explains and ranks features, then log_results.

    `value_stages`: the fitted value stage (core.value.stage.fit_value_stage); the run then logs a ValueModel, the value
    columns of predictions.parquet, value_metrics.parquet and the value metrics, and its result gains `value`."""
    test = prep.labels == "test"
    X_test = prep.frame.loc[test, prep.features]  # one take: not every row's features copied first
    raw = {
        "valid": model.predict_proba(prep.frame.loc[prep.labels == "valid", prep.features])[:, 1] if valid_raw is None else valid_raw,
        "test": model.predict_proba(X_test)[:, 1],
    }
    shap_rows = explained_rows(estimator)
    shap_frame = None
    if getattr(estimator, "shap_note", None):  # a family that says why it has no SHAP values (ensembles that average)
        mlflow.set_tag("wb.shap", estimator.shap_note)
    if shap_rows and hasattr(estimator, "contributions"):
        # SHAP is LightGBM's C++ (outside the GIL, ~0.8 s for 2,000 rows): it runs while this thread scores the
        # splits and logs the metrics and predictions; log_results waits for it before logging shap.parquet.
        pool = ThreadPoolExecutor(1, thread_name_prefix="explain")
        shap_frame = pool.submit(_explained, estimator, X_test, shap_rows, spec.seed, value_stages[0] if value_stages else None)
        pool.shutdown(wait=False)
    scores = {part: (prep.y[prep.labels == part], calibrated_scores(final, raw[part])) for part in raw}
    predictions = pd.DataFrame(
        {"row": prep.frame.index[test], "y": scores["test"][0], "score": scores["test"][1], "score_raw": raw["test"]}
    )
    if spec.time_column:
        predictions["time"] = pd.to_datetime(prep.frame.loc[test, spec.time_column]).to_numpy()
    for column in prep.segments:
        predictions[column] = prep.frame.loc[test, column].to_numpy()
    importance = feature_importance(estimator, X_test, prep.y[test], spec.seed)  # permutation where the model has none
    rows = {part: int((prep.labels == part).sum()) for part in ("train", "valid", "test")}
    if not value_stages:
        return log_results(scores, predictions, importance, shap_frame, final, X_test.head(5), rows, folder, log, prep.types, check)
    logged, predictions, headline = _log_value_stage(spec, prep, final, value_stages, scores, predictions, folder)
    result = log_results(scores, predictions, importance, shap_frame, logged, X_test.head(5), rows, folder, log, prep.types, check)
    return {**result, "value": headline}


def _log_value_stage(spec, prep: Prepared, final, stages, scores: dict, predictions: pd.DataFrame, folder: Path):
    """(the ValueModel to log, predictions with the value columns, the test headline metrics); logs the value metrics,
    value_metrics.parquet and the wb.value_* tags."""
    logged = value_model(spec, final, stages)
    mature = maturity(spec, prep.frame)
    found = {}
    for part in ("valid", "test"):
        rows = prep.labels == part
        # The valid metrics read converters only and log no interval: predicting every valid row took ~1.8 s at 1M rows.
        kept = prep.y[rows] == 1 if part == "valid" else slice(None)
        rows = rows & (prep.y == 1) if part == "valid" else rows
        columns = value_columns(spec, logged, prep.frame.loc[rows, prep.features], scores[part][1][kept], prep, rows)
        y = scores[part][0][kept]
        table = value_metrics(spec, columns, y, {c: m[rows] for c, m in mature.items()}, 200 if part == "test" else 0, spec.seed)
        mlflow.log_metrics(metric_values(table, spec, part))
        found[part] = (columns, table)
    columns, table = found["test"]
    predictions = predictions.assign(**columns)
    log_frame(table, "value_metrics.parquet", folder)
    mlflow.set_tags(
        {"wb.value_column": spec.value.column, "wb.value_horizons": json.dumps(logged.horizons), "wb.value_family": spec.value.family}
    )
    headline = table[table["horizon"] == spec.value.column].set_index("metric")["value"]
    return logged, predictions, {name: float(headline[name]) for name in ("rmse", "mae", "r2", "rmsle")}


def _explained(estimator, X_test: pd.DataFrame, rows: int, seed: int, value_stage=None) -> pd.DataFrame:
    """explanation() of the classifier, with the value regressor's log1p contributions as value.<feature> on the same rows."""
    frame = explanation(estimator, X_test, rows, seed)
    if value_stage is None:
        return frame
    values = value_stage.contributions(X_test.loc[frame[ROW_KEY]]).add_prefix("value.").reset_index(drop=True)
    return pd.concat([frame, values], axis=1)


def model_code(folder: Path) -> list[str]:
    """What a logged model needs of this repository, staged under `folder`: `models/` and `core/`. The model is pickled
    by reference to these modules, so it travels with them and loads where this checkout is not on sys.path (a
    scheduler's machine, a Dask worker). All of `core/`, though the model needs only `core.errors`: loading puts the
    copy first on sys.path, so a process that imports `core` afterwards (a Dask worker that scored and now prepares
    training data, or a worker spawned from it) must find a whole package there, not a shell of two files."""
    staged = folder / "code"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("models", "core"):
        shutil.copytree(settings.PROJECT / package, staged / package, ignore=ignore, dirs_exist_ok=True)
    return [str(staged / "models"), str(staged / "core")]


def log_results(
    scores: dict, predictions, importance, shap_frame, final, example, rows: dict, folder: Path, log: Log, types: dict[str, str], check=None
) -> dict:
    """Logs metrics per split, predictions, importance, SHAP and the model; returns the CLI result.

    `shap_frame` may be a Future of it (computed meanwhile). `check` runs just before the model is logged (the
    data-unchanged check); progress 1.0 marks the run complete.
    """
    found = {part: metrics.scores(y, score) for part, (y, score) in scores.items()}
    out_metrics = found["test"]
    # Oversampling distorts the model's own probabilities: the raw scores' test ECE says how far calibration moved them.
    uncalibrated = {
        "test_ece_raw": metrics.ece(predictions["y"], predictions["score_raw"]),
        "test_mean_score_raw": float(predictions["score_raw"].mean()),
    }
    # One batch: each log_metric call is its own store transaction. The test metrics also go under their plain
    # names, as the job table reads them.
    mlflow.log_metrics(
        {f"{part}_{name}": v for part, values in found.items() for name, v in values.items()}
        | {n: out_metrics[n] for n in HEADLINE}
        | uncalibrated
    )
    log(f"test ROC AUC {out_metrics['roc_auc']:.4f}, ECE {out_metrics['ece']:.4f}", 0.7)
    log_frame(predictions, "predictions.parquet", folder)
    log_frame(importance.sort_values("importance", ascending=False), "importance.parquet", folder)
    if isinstance(shap_frame, Future):
        shap_frame = shap_frame.result()
    if shap_frame is not None:
        log_frame(shap_frame, "shap.parquet", folder)
        log(f"explained {len(shap_frame):,} test rows", 0.85)
    jobs.pause("logging")
    if check is not None:
        check()
    valued = hasattr(final, "value_if_converted")  # a value model's pyfunc returns probability and expected value
    mlflow.sklearn.log_model(
        final,
        name="model",
        serialization_format="cloudpickle",
        pyfunc_predict_fn="predict" if valued else "predict_proba",
        signature=model_signature(types, example, final.predict(example) if valued else final.predict_proba(example)),
        input_example=example,
        metadata={INPUT_TYPES: types},
        pip_requirements=MODEL_REQUIREMENTS,  # inferring them reloads the model in a subprocess: ~6 s
        code_paths=model_code(folder),
    )
    mlflow.log_metric("progress", 1.0)
    log("model logged", 1.0)
    return {"status": "FINISHED", "metrics": {k: out_metrics[k] for k in HEADLINE}, "rows": rows}

"""Finished training runs as Diagnostics reads them: the list, predictions, SHAP, saved thresholds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from core import tracking
from core.diagnostics import diagnose
from core.diagnostics import threshold as thresholds
from core.errors import RegistryError

RUN_COLUMNS = ["run_id", "name", "family", "dataset", "target", "started", "roc_auc"]
RUN_ID = re.compile(r"^[0-9a-f]{32}\Z")
ARTIFACT_NAME = re.compile(r"^[\w.-]+(?:/[\w.-]+)*\Z")  # relative, forward slashes, no empty part
# The saved threshold and the value settings it was chosen with; batch scoring reads wb.threshold.
THRESHOLD_TAGS = {
    "threshold": "wb.threshold",
    "value_tp": "wb.value_tp",
    "cost_fp": "wb.cost_fp",
    "cost_fn": "wb.cost_fn",
    "capacity": "wb.capacity",
}
POLICY_TAG = "wb.threshold_policy"  # JSON {"kind", "params"} (core.diagnostics.threshold.policy): how the cut was chosen
# The Threshold tab's mode when the cut was saved: the cost per action in value mode (each row's value_if_converted
# is a true positive's value), "" with one constant value per true positive.
COST_PER_ACTION_TAG = "wb.cost_per_action"


@dataclass(frozen=True)
class Run:
    """What Diagnostics needs to know about a finished run."""

    run_id: str
    name: str
    family: str
    dataset: str
    target: str
    time_column: str | None
    shap_note: str | None
    metrics: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


@tracking.guarded
def finished() -> pd.DataFrame:
    """Finished training runs, newest first. Columns: run_id, name, family, dataset, target, started, roc_auc."""
    tracking.client()
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.`wb.family` != '' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    if "metrics.progress" in runs:  # complete runs only: a job logs progress 1.0 after its last artifact
        runs = runs[runs["metrics.progress"].fillna(1.0) >= 1.0]
    if "tags.wb.kind" in runs:  # a leaderboard's parent run holds a table, not a model (its children are listed); a monitor pass no model
        runs = runs[~runs["tags.wb.kind"].fillna("").isin(["leaderboard", "monitor"])]
    if runs.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    return pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "name": runs.get("tags.mlflow.runName"),
            "family": runs.get("tags.wb.family"),
            "dataset": runs.get("tags.wb.dataset"),
            "target": runs.get("tags.wb.target"),
            "started": pd.to_datetime(runs["start_time"], utc=True),
            "roc_auc": runs.get("metrics.roc_auc", pd.Series(float("nan"), index=runs.index)),
        }
    ).reset_index(drop=True)


@tracking.guarded
def get(run_id: str) -> Run:
    """The run, if it finished; otherwise a RegistryError that says why it has no diagnostics."""
    if not RUN_ID.match(run_id or ""):
        raise RegistryError(f"{run_id!r} is not a run id (32 hexadecimal characters); pick a run from the list.")
    try:
        run = tracking.client().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise RegistryError(f"No run {run_id} in the tracking store {tracking.client().tracking_uri}.") from None
    if run.info.status != "FINISHED":
        reason = run.data.tags.get("wb.error") or "it has no predictions yet"
        raise RegistryError(f"Run {run_id} is {run.info.status}, so it has no diagnostics: {reason}")
    if run.data.metrics.get("progress", 1.0) < 1.0:  # a training job logs progress 1.0 only after its last artifact
        raise RegistryError(
            f"Run {run_id} ended before its files were complete (progress {run.data.metrics['progress']:.0%}); train it again."
        )
    tags = run.data.tags
    return Run(
        run_id=run_id,
        name=tags.get("mlflow.runName", run_id),
        family=tags.get("wb.family", ""),
        dataset=tags.get("wb.dataset", ""),
        target=tags.get("wb.target", ""),
        time_column=tags.get("wb.time_column") or None,
        shap_note=tags.get("wb.shap") or None,
        metrics=dict(run.data.metrics),
        tags=dict(tags),
    )


def _artifact(run_id: str, name: str) -> Path | None:
    """One of the run's own files, or None if it has none; a run id that is not one, or a name that leaves the run, is refused."""
    if not RUN_ID.match(str(run_id)):
        raise RegistryError(f"{run_id!r} is not a run id (32 hex digits); pick the run from the list.")
    if not ARTIFACT_NAME.match(name) or ".." in name.split("/"):
        raise RegistryError(f"{name!r} is not a file name inside the run; give one like 'predictions.parquet'.")
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=tracking.client().tracking_uri))
    except (mlflow.exceptions.MlflowException, OSError):
        return None


def artifact(run_id: str, name: str) -> Path | None:
    """One of the run's own files as a local path, or None when the run has none (a monitoring pass's tables, say)."""
    return _artifact(run_id, name)


def predictions(run_id: str) -> pd.DataFrame:
    """The run's test predictions: row, y, score, score_raw, time (if any), segment columns and a value stage's columns."""
    tags = get(run_id).tags
    path = _artifact(run_id, "predictions.parquet")
    if path is None:
        raise RegistryError(f"Run {run_id} finished without predictions.parquet; it was not made by this workbench's training job.")
    frame = diagnose.read_predictions(path)  # segment text as categoricals: 2-4x faster at 1M rows
    if "score_raw" not in frame:  # runs without calibration keep one score
        frame["score_raw"] = frame["score"]
    named = json.loads(tags.get("wb.value_horizons") or "[]") or [tags.get("wb.value_column") or ""]
    frame.attrs["value_columns"] = [c for c in named if c in frame]  # not segments (diagnose.segment_columns)
    return frame


def explanation(run_id: str) -> pd.DataFrame | None:
    """The run's SHAP sample (shap.parquet), or None when the family has none (Run.shap_note says why)."""
    path = _artifact(run_id, "shap.parquet")
    return pd.read_parquet(path) if path is not None else None


def value_metrics(run_id: str) -> pd.DataFrame | None:
    """The run's value_metrics.parquet (horizon, metric, value, lo, hi, rows, mature_share, note), or None without a value stage."""
    path = _artifact(run_id, "value_metrics.parquet")
    return pd.read_parquet(path) if path is not None else None


def learning_curve(run_id: str) -> pd.DataFrame | None:
    """The run's learning curve (learning_curve.parquet: fraction, train_rows, fold, part and the five metrics), or None
    when it was trained without one."""
    path = _artifact(run_id, "learning_curve.parquet")
    return pd.read_parquet(path) if path is not None else None


@tracking.guarded
def save_threshold(
    run_id: str,
    threshold: float,
    value_tp: float,
    cost_fp: float,
    cost_fn: float,
    capacity: float | None,
    policy: dict | None = None,
    cost_per_action: float | None = None,
) -> list[str]:
    """Tags the run, and every registered version made from it, with the cut, its value settings, its policy and its mode.

    `policy` (core.diagnostics.threshold.policy) says how the cut was chosen so a retrain can choose its own; None means a cut
    fixed by hand. `cost_per_action` is given in value mode (COST_PER_ACTION_TAG). Returns the versions tagged, as "name/version".
    """
    get(run_id)
    chosen = thresholds.policy("fixed", threshold=threshold) if policy is None else thresholds.policy(policy["kind"], **policy["params"])
    values = {"threshold": threshold, "value_tp": value_tp, "cost_fp": cost_fp, "cost_fn": cost_fn, "capacity": capacity}
    tags = {THRESHOLD_TAGS[k]: "" if v is None else repr(float(v)) for k, v in values.items()}
    tags[POLICY_TAG] = json.dumps(chosen)
    tags[COST_PER_ACTION_TAG] = "" if cost_per_action is None else repr(float(cost_per_action))
    client = tracking.client()
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    tagged = []
    for version in client.search_model_versions(f"run_id = '{run_id}'"):  # run_id checked to be hex by get()
        for key, value in tags.items():
            client.set_model_version_tag(version.name, version.version, key, value)
        tagged.append(f"{version.name}/{version.version}")
    return tagged


def saved_threshold(tags: dict) -> dict | None:
    """The saved threshold and value settings from run or version tags, or None if none was saved."""
    if not tags.get(THRESHOLD_TAGS["threshold"]):
        return None
    return {k: float(tags[t]) if tags.get(t) else None for k, t in THRESHOLD_TAGS.items()}


def saved_policy(tags: dict) -> dict | None:
    """The saved threshold policy from run or version tags; a cut saved without one is a fixed cut; None without a cut."""
    saved = saved_threshold(tags)
    if saved is None:
        return None
    if not tags.get(POLICY_TAG):
        return thresholds.policy("fixed", threshold=saved["threshold"])
    try:
        found = json.loads(tags[POLICY_TAG])
        return thresholds.policy(found["kind"], **found.get("params", {}))
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise RegistryError(
            f"The tag {POLICY_TAG} ({tags[POLICY_TAG][:80]!r}) is not a threshold policy ({err}); save the threshold again."
        ) from None


def saved_cost_per_action(tags: dict) -> float | None:
    """The cost per action a cut was saved with in value mode; None when saved with one constant value per true positive."""
    return float(tags[COST_PER_ACTION_TAG]) if tags.get(COST_PER_ACTION_TAG) else None


@tracking.guarded
def registered_versions() -> pd.DataFrame:
    """Every registered model version with its run. Columns: model, version, run_id, aliases."""
    client = tracking.client()
    rows = []
    for model in client.search_registered_models():
        aliases = {}
        for alias, version in (model.aliases or {}).items():  # search_model_versions leaves aliases empty (MLflow #9783)
            aliases.setdefault(str(version), []).append(alias)
        for version in client.search_model_versions(f"name = '{model.name.replace(chr(39), '')}'"):
            rows.append((model.name, int(version.version), version.run_id, ", ".join(sorted(aliases.get(str(version.version), [])))))
    frame = pd.DataFrame(rows, columns=["model", "version", "run_id", "aliases"])
    return frame.sort_values(["model", "version"], ascending=[True, False]).reset_index(drop=True)


def version_run(model: str, version: str) -> str:
    """The run a registered version (a number or an alias such as champion) was made from."""
    client = tracking.client()
    try:
        found = client.get_model_version(model, version) if str(version).isdigit() else client.get_model_version_by_alias(model, version)
    except mlflow.exceptions.MlflowException:
        raise RegistryError(f"No version {version!r} of registered model {model!r}; check the name in the Registry page.") from None
    return found.run_id


def segment_values(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of a segment column as sorted text, missing left out: the filter's choices.

    Only the distinct values become text, so a categorical column (diagnose.prepared) costs a pass over its codes."""
    return sorted({str(v) for v in pd.unique(frame[column].dropna())})


def subset(frame: pd.DataFrame, filters) -> pd.DataFrame:
    """The prediction rows that pass every (column, op, value) filter on its segment columns."""
    keep = pd.Series(True, index=frame.index)
    for column, op, value in filters:
        if column not in frame:
            raise RegistryError(f"The filter column {column!r} is not among this run's segment columns; clear the filter.")
        text = frame[column].astype("string")
        values = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        if op == "=":
            keep &= text.eq(values[0]).fillna(False)
        elif op == "!=":
            keep &= text.ne(values[0]).fillna(True)
        elif op == "in":
            keep &= text.isin(values).fillna(False)
        elif op == "not in":
            keep &= ~text.isin(values).fillna(False)
        elif op == "is null":
            keep &= text.isna()
        elif op == "is not null":
            keep &= text.notna()
        else:
            raise RegistryError(f"Diagnostics filters segments with =, !=, in, not in, is null; {op!r} is not one of them.")
    return frame[keep.to_numpy(dtype=bool)]


@tracking.guarded
def run_tags(run_id: str) -> dict:
    """A run's tags as they are now."""
    return dict(tracking.client().get_run(run_id).data.tags)

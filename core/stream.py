"""Streaming training (hashed_sgd): DuckDB record batches in, joblib checkpoints out.

The table is never in memory: checks run on a sample, the split is decided per batch (time cut
points computed in DuckDB, or a seeded draw), the model learns batch by batch, and every
`checkpoint_every` batches its state is saved to the run so `--resume RUN_ID` continues there.

It stays at core/stream.py, outside core/training/: logged hashed_sgd models pickle ScoreCalibrated by this
module path, and moving it would stop registered models from loading.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from core import data
from core.errors import JobError
from models import hashed_sgd
from models.imbalance import PriorCorrection, undersample

CHECK_ROWS = 200_000
CHECKPOINT = "checkpoint.joblib"


class ScoreCalibrated:
    """A model whose probabilities pass through a calibrator fitted on (valid score, valid y)."""

    def __init__(self, model, method: str):
        self.model = model
        self.method = method
        self.classes_ = np.array([0, 1])

    def fit(self, score: np.ndarray, y: np.ndarray) -> ScoreCalibrated:
        if self.method == "isotonic":
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, y)
        else:
            self.calibrator_ = LogisticRegression().fit(_logit(score)[:, None], y)
        return self

    def calibrate(self, score: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.calibrator_.predict(score)
        return self.calibrator_.predict_proba(_logit(score)[:, None])[:, 1]

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrate(self.model.predict_proba(X)[:, 1])
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _labels(batch: pd.DataFrame, spec, cuts, index: int) -> np.ndarray:
    """train / valid / test for the rows of one batch."""
    labels = np.full(len(batch), "train", dtype=object)
    if spec.split.kind == "temporal":
        # One clock for zone-aware and naive times (naive ones read as UTC on both sides).
        time = pd.to_datetime(batch[spec.time_column], utc=True).dt.tz_localize(None).to_numpy()
        valid_from, test_from = pd.to_datetime(pd.Series(cuts), utc=True).dt.tz_localize(None).to_numpy()
        labels[time >= valid_from] = "valid"
        labels[time >= test_from] = "test"
        return labels
    draw = np.random.default_rng([spec.seed, index]).random(len(batch))
    labels[draw >= 1 - spec.split.valid_fraction - spec.split.test_fraction] = "valid"
    labels[draw >= 1 - spec.split.test_fraction] = "test"
    return labels


def _resume_state(run_id: str) -> dict:
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"checkpoint/{CHECKPOINT}")
    except (mlflow.exceptions.MlflowException, OSError):
        raise JobError(f"Run {run_id} has no checkpoint to resume from; only hashed_sgd jobs save one.") from None
    return joblib.load(path)


def sample_spec(spec):
    """The spec the checks run on: a sample of at most CHECK_ROWS rows."""
    return dataclasses.replace(spec, sample_rows=min(spec.sample_rows or CHECK_ROWS, CHECK_ROWS))


def fit_streaming(con, spec, params: dict, prep, log, folder: Path, resume: bool = False) -> tuple:
    """Fits hashed SGD batch by batch. Returns (scores, predictions, importance, final, example, rows)."""
    columns = [*prep.features, *([spec.time_column] if spec.time_column else []), *[c for c in prep.segments if c not in prep.features]]
    numeric = [c for c in prep.features if pd.api.types.is_float_dtype(prep.frame[c])]
    cuts = None
    if spec.split.kind == "temporal":
        ends = [1 - spec.split.valid_fraction - spec.split.test_fraction, 1 - spec.split.test_fraction]
        cuts = data.quantiles(con, spec.dataset, spec.time_column, ends, spec.filter)

    def batches():
        stream = data.training_batches(con, spec.dataset, spec.target, columns, spec.filter, spec.positive_value, params["batch_rows"])
        for index, batch in enumerate(stream):
            yield index, batch, _labels(batch, spec, cuts, index)

    estimator = hashed_sgd.build(params, spec, numeric)
    start = (0, -1)  # (epoch, last batch learned)
    if resume:
        state = _resume_state(mlflow.active_run().info.run_id)
        estimator, start = state["model"], (state["epoch"], state["batch"])
        log(f"resuming after epoch {start[0] + 1} batch {start[1] + 1}")
    rows = {"train": 0, "valid": 0, "test": 0}
    undersampling = spec.imbalance.method == "undersample"
    for epoch in range(start[0], params["epochs"]):
        for index, batch, labels in batches():
            if epoch == start[0]:
                for part in rows:
                    rows[part] += int((labels == part).sum())
            if (epoch, index) <= start:
                continue
            y = batch["__target"].to_numpy()
            keep = labels == "train"
            if undersampling:
                keep &= undersample(y, spec.imbalance.undersample_rate, spec.seed + index)
            if keep.any():
                estimator.partial_fit(batch.loc[keep, prep.features], y[keep])
            if (index + 1) % params["checkpoint_every"] == 0:
                joblib.dump({"model": estimator, "epoch": epoch, "batch": index}, folder / CHECKPOINT)
                mlflow.log_artifact(str(folder / CHECKPOINT), "checkpoint")
            log(
                f"epoch {epoch + 1}/{params['epochs']} batch {index + 1}: {int(keep.sum()):,} training rows",
                0.2 + 0.5 * (epoch + 1) / params["epochs"],
            )
    if not hasattr(estimator, "model_"):
        raise JobError("No training rows reached the model; check the filter and split fractions.")
    model = estimator
    if undersampling:
        model = PriorCorrection(estimator, spec.imbalance.undersample_rate)
        model.classes_ = estimator.classes_

    kept_columns = [c for c in columns if c in prep.segments or c == spec.time_column]
    valid_y, valid_raw, test_parts, offset = [], [], [], 0
    for _, batch, labels in batches():
        valid, test = labels == "valid", labels == "test"
        first, offset = offset, offset + len(batch)
        if valid.any():
            valid_y.append(batch.loc[valid, "__target"].to_numpy())
            valid_raw.append(model.predict_proba(batch.loc[valid, prep.features])[:, 1])
        if test.any():
            kept = batch.loc[test, kept_columns].copy()
            kept["row"] = first + np.flatnonzero(test)  # position in the data, as the non-streamed runs key rows
            kept["y"] = batch.loc[test, "__target"].to_numpy()
            kept["score_raw"] = model.predict_proba(batch.loc[test, prep.features])[:, 1]
            test_parts.append(kept)
    if not valid_y or not test_parts:
        raise JobError("The valid or test split is empty; use more data or other split fractions.")
    valid_y, valid_raw = np.concatenate(valid_y), np.concatenate(valid_raw)
    test = pd.concat(test_parts, ignore_index=True)
    final, valid_score, test_score = model, valid_raw, test["score_raw"].to_numpy()
    if spec.calibration != "none":
        final = ScoreCalibrated(model, spec.calibration).fit(valid_raw, valid_y)
        valid_score, test_score = final.calibrate(valid_raw), final.calibrate(test_score)
    predictions = pd.DataFrame(
        {"row": test["row"].to_numpy(), "y": test["y"].to_numpy(), "score": test_score, "score_raw": test["score_raw"].to_numpy()}
    )
    if spec.time_column:
        predictions["time"] = pd.to_datetime(test[spec.time_column]).to_numpy()
    for column in prep.segments:
        predictions[column] = test[column].to_numpy()
    importance = estimator.column_weights(prep.frame[prep.features]).rename_axis("feature").reset_index(name="importance")
    mlflow.set_tag(
        "wb.shap", "none: hashed tokens of different columns share weights (collisions), so per-column SHAP values are not defined"
    )
    scores = {"valid": (valid_y, valid_score), "test": (predictions["y"].to_numpy(), test_score)}
    return scores, predictions, importance, final, prep.frame[prep.features].head(5), rows

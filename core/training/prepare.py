"""A job's data before any fit: the feature plan, the training frame, its split and the data checks."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import data, demo
from core.diagnostics.explain import ROW_KEY
from core.errors import DataError, SpecError
from core.progress import Log
from core.spec import TrainSpec
from core.sql import is_nested, is_numeric, is_temporal
from core.training.split import split_labels
from core.training.validate import dropped, validate

SEGMENT_MAX_LEVELS = 50
# Names the run's files give their own columns: `row` keys predictions and SHAP rows, the others are prediction columns.
PREDICTION_COLUMNS = (ROW_KEY, "y", "score", "score_raw", "time")


@dataclass
class Prepared:
    frame: pd.DataFrame  # features (and time, segments) in their raw types
    y: np.ndarray
    labels: np.ndarray  # train / valid / test per row
    features: list[str]
    segments: list[str]
    checks: pd.DataFrame
    types: dict[str, str] = dataclasses.field(default_factory=dict)  # feature -> DuckDB type, for the model signature
    values: pd.DataFrame | None = None  # the value stage's columns (spec.value.columns()), row-aligned with frame; never features


def plan_columns(cols: dict[str, str], spec: TrainSpec) -> list[str]:
    """Features: `include`, else every column but the target, time columns and `exclude`."""
    missing = [c for c in [*spec.features.include, *spec.features.exclude, *(spec.categorical or [])] if c not in cols]
    if spec.time_column and spec.time_column not in cols:
        missing.insert(0, spec.time_column)
    if missing:
        raise DataError(f"Unknown column {missing[0]!r} in {spec.dataset}; columns are: {', '.join(cols)}.")
    if spec.features.include:
        features = [c for c in spec.features.include if c not in spec.features.exclude]
        unusable = [c for c in features if is_nested(cols[c]) or c == ROW_KEY]
        if unusable:
            kind = cols[unusable[0]]
            why = f"holds {kind} values, which no model reads" if is_nested(kind) else "is the name the run's files key rows by"
            raise DataError(f"Feature {unusable[0]!r} {why}: leave it out of the features (or rename it in the file).")
    else:  # lists and structs are not features, nor is a column named like the row key (a row number, usually)
        features = [
            c
            for c, kind in cols.items()
            if c not in spec.features.exclude and not is_temporal(kind) and not is_nested(kind) and c != ROW_KEY
        ]
    features = [c for c in features if c not in (spec.target, spec.time_column, *spec.value.columns())]
    if not features:
        raise SpecError("No features are left; include some columns or exclude fewer.")
    return features


def prepare(con, spec: TrainSpec, log: Log) -> Prepared:
    """Loads the columns the run needs, splits them and runs the checks."""
    cols = data.columns(con, spec.dataset)
    if spec.target not in cols:
        raise DataError(f"Unknown target column {spec.target!r} in {spec.dataset}; columns are: {', '.join(cols)}.")
    features = plan_columns(cols, spec)
    if spec.time_column:
        data.check_time_column(con, spec.dataset, spec.time_column)
    taken = [c for c in spec.segment_columns or [] if c in PREDICTION_COLUMNS]
    if taken:
        raise DataError(f"Segment column {taken[0]!r} has a name predictions.parquet uses ({', '.join(PREDICTION_COLUMNS)}); pick others.")
    value_columns = value_columns_of(cols, spec)
    extra = [c for c in (spec.segment_columns or []) if c not in features and c != spec.time_column and c not in value_columns]
    wanted = [*features, *([spec.time_column] if spec.time_column else []), *extra]
    frame = data.training_frame(
        con, spec.dataset, spec.target, [*wanted, *value_columns], spec.filter, spec.positive_value, spec.sample_rows, spec.seed
    )
    y = frame.pop("__target").to_numpy(dtype=int)
    values = frame[value_columns].copy() if value_columns else None
    if value_columns:
        frame = frame.drop(columns=[c for c in value_columns if c not in wanted])
    log(f"loaded {len(frame):,} rows × {len(features)} features from {spec.dataset}", 0.1)
    time_values = frame[spec.time_column] if spec.time_column else None
    labels = split_labels(y, time_values, spec.split.kind, spec.split.valid_fraction, spec.split.test_fraction, spec.seed)
    checks = validate(frame, y, labels, features, spec.target, spec.time_column)
    features = [c for c in features if c not in dropped(checks)]
    if spec.segment_columns is not None:
        segments = list(spec.segment_columns)
    else:
        segments = [
            c for c in features if not is_numeric(cols[c]) and c not in PREDICTION_COLUMNS and frame[c].nunique() <= SEGMENT_MAX_LEVELS
        ]
    for column in features:  # infinities are missing values to every family
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].replace([np.inf, -np.inf], np.nan)
    return Prepared(frame, y, labels, features, segments, checks, {c: cols[c] for c in features}, values)


def value_columns_of(cols: dict[str, str], spec: TrainSpec) -> list[str]:
    """The value stage's columns, checked to exist and be numeric (DataError naming the first that is not)."""
    named = spec.value.columns()
    for column in named:
        if column not in cols:
            raise DataError(f"Unknown value column {column!r} in {spec.dataset}; columns are: {', '.join(cols)}.")
        if not is_numeric(cols[column]) or cols[column].upper() == "BOOLEAN":
            raise DataError(f"Value column {column!r} holds {cols[column]} values; give a numeric revenue column.")
        if column in (*PREDICTION_COLUMNS, "expected_value", "value_if_converted"):
            raise DataError(f"Value column {column!r} has a name predictions.parquet uses for its own columns; rename it in the file.")
    return named


def connect_and_prepare(spec: TrainSpec, log: Log) -> tuple:
    con = data.connect()
    return con, prepare(con, spec, log)


PREVIEW_ROWS = 50_000


def preview_checks(con, spec: TrainSpec, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The data checks on a sample of at most `rows` rows, as the Train page shows them before launch."""
    sample = min(spec.sample_rows or rows, rows)
    return prepare(con, dataclasses.replace(spec, sample_rows=sample), Log(stream=io.StringIO())).checks


def suggested_exclusions(checks: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns the checks call a leak or an id, and the demo's answer key: analysts leave these out."""
    flagged = checks.loc[checks["check"].isin(["leak", "id-like"]), "column"].tolist()
    return [c for c in columns if c in flagged or c in demo.NOT_FEATURES]

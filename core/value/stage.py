"""Fitting the value stage on a run's converters, and what the run records of it: value predictions and metrics."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.errors import DataError
from core.progress import Log
from core.spec import TrainSpec
from core.training.prepare import Prepared
from core.value.metrics import REGRESSION, regression_table
from models.value import EXPECTED_VALUE, LogValueRegressor, ValueModel, regressor

HORIZON_DAYS = re.compile(r"_d(\d+)$")
MIN_CONVERTERS = 20  # fewer training converters than this cannot fit a regressor worth logging
VALUE_IF_CONVERTED = "value_if_converted"
METRIC_COLUMNS = ["horizon", "metric", "value", "lo", "hi", "rows", "mature_share", "note"]


def horizon_days(column: str) -> int | None:
    """The days a cumulative value column covers, from a `_d<N>` suffix (revenue_d7 -> 7); None without one."""
    found = HORIZON_DAYS.search(column)
    return int(found.group(1)) if found else None


def maturity(spec: TrainSpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per value column, whether each row's horizon has passed by the data's last time (as windows are mature).

    Without a time column or a `_d<N>` suffix every row counts as mature; a row without a time never does."""
    out = {}
    times = pd.to_datetime(frame[spec.time_column]) if spec.time_column else None
    last = times.max() if times is not None else None
    for column in spec.value.columns():
        days = horizon_days(column)
        if times is None or days is None or pd.isna(last):
            out[column] = np.ones(len(frame), dtype=bool)
        else:
            out[column] = (times <= last - pd.Timedelta(days=days)).to_numpy()
    return out


def stage_targets(spec: TrainSpec, values: pd.DataFrame) -> dict[str, np.ndarray]:
    """What each stage learns per row: the first column's value, then each horizon's increment over the one before
    (negative increments, refunds, as 0: a later horizon never predicts less)."""
    out, previous = {}, None
    for column in spec.value.columns():
        current = values[column].to_numpy(dtype=float)
        out[column] = current if previous is None else np.clip(current - previous, 0.0, None)
        previous = current
    return out


def stage_rows(spec: TrainSpec, prep: Prepared) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per value column, (train, valid) masks of the converters whose value is known and mature: what each stage fits
    on. Checked before any fit, so a value stage that cannot fit fails the run at once (DataError)."""
    columns = spec.value.columns()
    converted = prep.y == 1
    negative = converted & (prep.values[columns[0]].to_numpy(dtype=float) < 0)
    if negative.any():
        raise DataError(
            f"Value column {columns[0]!r} is negative on {int(negative.sum()):,} converting rows; the value stage models "
            "log1p(value): filter refunds out or clip them at 0."
        )
    mature = maturity(spec, prep.frame)
    targets = stage_targets(spec, prep.values)
    out = {}
    for column in columns:
        usable = converted & np.isfinite(targets[column]) & mature[column]
        train, valid = usable & (prep.labels == "train"), usable & (prep.labels == "valid")
        if train.sum() < MIN_CONVERTERS:
            raise DataError(
                f"Only {int(train.sum())} training converters have a known, mature {column!r}; the value stage needs "
                f"{MIN_CONVERTERS}. Use a shorter horizon, more data, or no value stage."
            )
        out[column] = (train, valid)
    return out


def fit_value_stage(spec: TrainSpec, prep: Prepared, log: Log, rows: dict | None = None) -> list[LogValueRegressor]:
    """One fitted regressor per value column on its stage_rows (early stopping and the smearing factor on the valid
    split's converters)."""
    rows = rows or stage_rows(spec, prep)
    targets = stage_targets(spec, prep.values)
    stages = []
    for column, (train, valid) in rows.items():
        log(f"value stage: fitting {spec.value.family} on {int(train.sum()):,} converters for {column}")
        model = regressor(spec.value.family, spec.categorical, spec.seed, int(train.sum()))
        X_train, X_valid = prep.frame.loc[train, prep.features], prep.frame.loc[valid, prep.features]
        stages.append(LogValueRegressor(model).fit(X_train, targets[column][train], eval_set=(X_valid, targets[column][valid])))
    return stages


def value_model(spec: TrainSpec, final, stages: list[LogValueRegressor]) -> ValueModel:
    """The model a value run logs: the calibrated classifier with its value stages."""
    return ValueModel(final, stages, spec.value.columns(), spec.value.column)


def value_columns(spec: TrainSpec, model: ValueModel, X: pd.DataFrame, score: np.ndarray, prep: Prepared, rows) -> dict:
    """The predictions.parquet columns of a value run for `rows` (a mask over prep.frame) scored `score`: each value
    column's actual value, value_if_converted and expected_value, and per horizon the same with `.<h>` and mature.<h>."""
    predicted = model.value_if_converted(X)
    mature = maturity(spec, prep.frame)
    out = {column: prep.values.loc[rows, column].to_numpy(dtype=float) for column in spec.value.columns()}
    headline = predicted[spec.value.column].to_numpy()
    out[VALUE_IF_CONVERTED], out[EXPECTED_VALUE] = headline, score * headline
    for column in model.horizons:
        out[f"{VALUE_IF_CONVERTED}.{column}"] = predicted[column].to_numpy()
        out[f"{EXPECTED_VALUE}.{column}"] = score * predicted[column].to_numpy()
        out[f"mature.{column}"] = mature[column][np.asarray(rows)]
    return out


def value_metrics(spec: TrainSpec, columns: dict, y: np.ndarray, mature: dict, resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """Regression metrics per value column on converters with a known value, mature ones when any are.

    `columns`: value_columns' output for rows labelled `y`; `mature`: maturity() of those rows. Columns: horizon,
    metric, value, lo, hi, rows, mature_share, note."""
    frames = []
    single = len(spec.value.columns()) == 1
    for column in spec.value.columns():
        predicted = columns[VALUE_IF_CONVERTED if single else f"{VALUE_IF_CONVERTED}.{column}"]
        actual = columns[column]
        known = (y == 1) & np.isfinite(actual)
        ripe = known & mature[column]
        share = float(ripe.sum() / known.sum()) if known.any() else float("nan")
        note = ""
        if not known.any():
            empty = [(column, metric, np.nan, np.nan, np.nan, 0, share, "no converters with a known value") for metric in REGRESSION]
            frames.append(pd.DataFrame(empty, columns=METRIC_COLUMNS))
            continue
        if not ripe.any():
            ripe = known
            note = f"immature: no converter here is {_days(column)} older than the data's last day, so actual values are still accruing"
        elif share < 1:
            note = f"on the {share:.0%} of converters whose {_days(column)} have passed"
        table = regression_table(actual[ripe], predicted[ripe], resamples, seed)
        table.insert(0, "horizon", column)
        frames.append(table.assign(rows=int(ripe.sum()), mature_share=share, note=note))
    return pd.concat(frames, ignore_index=True)[METRIC_COLUMNS]


def _days(column: str) -> str:
    days = horizon_days(column)
    return f"{days} day" if days == 1 else f"{days} days"


def metric_values(table: pd.DataFrame, spec: TrainSpec, part: str) -> dict[str, float]:
    """MLflow metrics from a value_metrics table: <part>_value_<metric> for the headline column, and per horizon
    <part>_value_<metric>.<h>."""
    out = {}
    for row in table.itertuples():
        if row.horizon == spec.value.column:
            out[f"{part}_value_{row.metric}"] = row.value
        if len(spec.value.columns()) > 1:
            out[f"{part}_value_{row.metric}.{row.horizon}"] = row.value
    return {name: float(value) for name, value in out.items() if np.isfinite(value)}

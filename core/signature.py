"""The logged model's input contract: which raw columns it takes, and how strictly MLflow checks their types.

A model must accept the rows it was trained on as pandas (`read_csv`, `read_parquet`) and DuckDB (`.df()`) give them.
Those readers agree on floating and text columns, so those are declared `double` and `string` and MLflow checks them.
They disagree on integer and boolean columns (int64, Int64 with gaps, float64 when a CSV column has gaps, object),
and MLflow refuses int64 for `double` ("Can not safely convert"), so those are declared `Any` and the model converts
them itself. The column types the model was trained on (DuckDB's) travel in the model's metadata under INPUT_TYPES,
so batch scoring still refuses a text column where the model was trained on numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

from core.sql import is_numeric, is_temporal

INPUT_TYPES = "wb_input_types"  # metadata key: input column -> DuckDB type at training
CHECKED = {"DOUBLE": DataType.double, "FLOAT": DataType.double, "REAL": DataType.double, "VARCHAR": DataType.string}


def input_schema(types: dict[str, str]) -> Schema:
    """One named column per input: `double` or `string` where every reader agrees, else `Any` (the model converts)."""
    return Schema([ColSpec(CHECKED.get(sql_type.upper(), AnyType()), name) for name, sql_type in types.items()])


def model_signature(types: dict[str, str], example: pd.DataFrame, output) -> ModelSignature:
    """The signature to log: the input schema of `types` and the output inferred from the model's answer on `example`."""
    return ModelSignature(inputs=input_schema(types), outputs=infer_signature(example, output).outputs)


def _kind(sql_type: str) -> str:
    upper = sql_type.upper()
    if upper == "BOOLEAN":
        return "boolean"
    if is_numeric(upper):
        return "number"
    if is_temporal(upper):
        return "time"
    return "text" if upper.startswith(("VARCHAR", "ENUM")) else upper


def fits(signature_type: str, sql_type: str, trained_type: str | None = None) -> bool:
    """Whether a dataset column of `sql_type` can feed an input declared `signature_type` (trained on `trained_type`)."""
    kind = signature_type.lower()
    if kind in ("double", "float", "long", "integer"):
        return _kind(sql_type) == "number"
    if kind == "string":
        return _kind(sql_type) == "text"
    if kind == "boolean":
        return sql_type.upper() == "BOOLEAN"
    if kind == "datetime":
        return _kind(sql_type) == "time"
    if trained_type is not None:  # `Any`: the model converts, but not text into numbers
        return _kind(sql_type) == _kind(trained_type)
    return True


def positive_scores(model, frame: pd.DataFrame) -> np.ndarray:
    """P(positive) per row from a loaded pyfunc model whose inputs the caller has checked: its scikit-learn model's
    predict_proba when it has one (MLflow's check of an `Any` column walks it value by value, ~1.3 µs a value), else
    the pyfunc model's predict (its second column)."""
    try:
        raw = model.get_raw_model()
    except NotImplementedError:
        raw = None
    out = raw.predict_proba(frame) if hasattr(raw, "predict_proba") else model.predict(frame)
    out = np.asarray(out.to_numpy() if isinstance(out, pd.DataFrame | pd.Series) else out, dtype="float64")
    return out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(len(frame))


EXPECTED_VALUE = "expected_value"  # what a value model's predict returns beside probability (models.value.ValueModel)


def value_model(pyfunc_model):
    """The unwrapped scikit-learn model when it has a value stage (a `value_if_converted` method), else None."""
    try:
        raw = pyfunc_model.get_raw_model()
    except (NotImplementedError, AttributeError):
        return None
    return raw if hasattr(raw, "value_if_converted") else None


def expected_value_columns(metadata) -> list[str]:
    """The expected-value columns a logged model returns, from its output signature (read without unpickling the
    model): expected_value, then expected_value.<h> per horizon; [] for a model without a value stage."""
    schema = metadata.get_output_schema() if metadata is not None else None
    if schema is None or not schema.has_input_names():
        return []
    return [n for n in schema.input_names() if n == EXPECTED_VALUE or str(n).startswith(f"{EXPECTED_VALUE}.")]


def expected_values(raw, frame: pd.DataFrame, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Output column -> score × E[value | converted] per row, as the value model's predict computes it: expected_value
    for its headline value column, expected_value.<h> per horizon."""
    predicted = raw.value_if_converted(frame)
    out = {EXPECTED_VALUE: scores * predicted[raw.value_column].to_numpy(dtype="float64")}
    for column in raw.horizons:
        out[f"{EXPECTED_VALUE}.{column}"] = scores * predicted[column].to_numpy(dtype="float64")
    return out

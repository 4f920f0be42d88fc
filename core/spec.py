"""TrainSpec: everything a training job needs, as a validated structure with a YAML round trip."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from core.errors import SpecError
from core.sql import Filter, make_filter, parse_filter

SPLITS = ("temporal", "stratified", "random")
CALIBRATIONS = ("none", "sigmoid", "isotonic")
OVERSAMPLING = ("smote", "borderline_smote", "adasyn")  # imbalanced-learn's samplers, on the training rows only
IMBALANCE = ("none", "class_weight", "scale_pos_weight", "undersample", *OVERSAMPLING)
VALIDATIONS = ("holdout", "kfold", "timeseries")
SEARCH_METRICS = ("roc_auc", "pr_auc", "log_loss")
ENGINES = ("local", "dask")
DASK_FAMILIES = ("gbdt",)  # families the dask engine trains
VALUE_FAMILIES = ("gbdt", "linear")  # regressors of the value stage


@dataclass
class Features:
    include: list[str] = field(default_factory=list)  # empty: every column but target, time and excluded
    exclude: list[str] = field(default_factory=list)


@dataclass
class Split:
    kind: str = "temporal"  # temporal needs a time column; without one, stratified is used
    valid_fraction: float = 0.15
    test_fraction: float = 0.15


@dataclass
class Model:
    family: str = "gbdt"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Search:
    n_trials: int = 0
    timeout_s: float | None = None
    metric: str = "roc_auc"


@dataclass
class Imbalance:
    method: str = "none"
    undersample_rate: float = 0.2  # share of negatives kept by `undersample`


@dataclass
class Validation:
    kind: str = "holdout"  # holdout: the valid split; kfold: stratified folds of train+valid; timeseries: expanding window
    folds: int = 5
    gap: bool = True  # timeseries: leave WB_CONVERSION_DAYS out between a fold's training rows and its block


@dataclass
class Value:
    """The value (revenue) stage: a regressor of the value column on converters, fitted after the classifier."""

    column: str | None = None  # None: no value stage; with horizons, one of them (default the last)
    horizons: list[str] = field(default_factory=list)  # cumulative value columns, shortest horizon first (revenue_d1, revenue_d7, …)
    family: str = "gbdt"

    def columns(self) -> list[str]:
        """Every value column the stage reads: the horizons in order, or the one column."""
        return list(self.horizons) or ([self.column] if self.column else [])


@dataclass
class TrainSpec:
    dataset: str
    target: str
    positive_value: str | None = None
    features: Features = field(default_factory=Features)
    categorical: list[str] | None = None  # None: every text or boolean column
    time_column: str | None = None
    filter: list[Filter] = field(default_factory=list)
    split: Split = field(default_factory=Split)
    model: Model = field(default_factory=Model)
    search: Search = field(default_factory=Search)
    imbalance: Imbalance = field(default_factory=Imbalance)
    calibration: str | None = None  # None: isotonic when oversampling (it distorts probabilities), else none
    validation: Validation = field(default_factory=Validation)
    learning_curve: bool = False  # metrics against training-set size, logged as learning_curve.parquet
    sample_rows: int | None = None
    seed: int = 0
    segment_columns: list[str] | None = None  # None: every low-cardinality categorical
    experiment: str = "workbench"
    engine: str = "local"  # local: pandas on this machine; dask: a dask.distributed cluster (the scheduler is a setting)
    value: Value = field(default_factory=Value)  # optional revenue stage: expected value = p(convert) x E[value | convert]

    def __post_init__(self) -> None:
        check(self)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["filter"] = [list(f) if not isinstance(f[2], tuple) else [f[0], f[1], list(f[2])] for f in self.filter]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainSpec:
        return _build(cls, raw, "")

    @classmethod
    def from_yaml(cls, text: str) -> TrainSpec:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SpecError(f"The spec is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise SpecError("The spec must be a YAML mapping with at least `dataset` and `target`.")
        return cls.from_dict(raw)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainSpec:
        try:
            return cls.from_yaml(Path(path).read_text())
        except OSError as err:
            raise SpecError(f"Cannot read spec file {path}: {err.strerror}") from None


_NESTED = {
    "features": Features,
    "split": Split,
    "model": Model,
    "search": Search,
    "imbalance": Imbalance,
    "validation": Validation,
    "value": Value,
}


def _build(kind: type, raw: Any, where: str):
    """A dataclass from a mapping; an unknown key, a missing key or a wrong type is a SpecError."""
    if not isinstance(raw, dict):
        raise SpecError(f"`{where.rstrip('.') or 'spec'}` must be a mapping, not {type(raw).__name__}.")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError(f"Unknown key `{where}{unknown[0]}` in the spec; known keys: {', '.join(sorted(known))}.")
    values = {}
    for name, value in raw.items():
        if name in _NESTED and kind is TrainSpec:
            value = _build(_NESTED[name], value or {}, f"{name}.")
        elif name == "filter":
            value = [_filter(item) for item in (value or [])]
        values[name] = value
    try:
        return kind(**values)
    except TypeError as err:
        raise SpecError(f"The spec is missing a required key: {err}") from None


def _filter(item: Any) -> Filter:
    if isinstance(item, str):
        return parse_filter(item)
    if isinstance(item, list | tuple) and len(item) in (2, 3):
        value = item[2] if len(item) == 3 else None
        return make_filter(item[0], item[1], tuple(value) if isinstance(value, list) else value)
    raise SpecError(f"Filter {item!r} must be 'column op value' or [column, op, value].")


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check(spec: TrainSpec) -> None:
    """Raises SpecError naming the first key whose value cannot be used."""
    if spec.calibration is None:
        spec.calibration = "isotonic" if spec.imbalance.method in OVERSAMPLING else "none"
    rules = [
        ("dataset", isinstance(spec.dataset, str) and spec.dataset.strip(), "a dataset name"),
        ("target", isinstance(spec.target, str) and spec.target.strip(), "a column name"),
        ("features.include", _is_names(spec.features.include), "a list of column names"),
        ("features.exclude", _is_names(spec.features.exclude), "a list of column names"),
        ("categorical", spec.categorical is None or _is_names(spec.categorical), "a list of column names"),
        ("segment_columns", spec.segment_columns is None or _is_names(spec.segment_columns), "a list of column names"),
        ("time_column", spec.time_column is None or isinstance(spec.time_column, str), "a column name"),
        ("split.kind", spec.split.kind in SPLITS, f"one of {', '.join(SPLITS)}"),
        ("split.valid_fraction", _fraction(spec.split.valid_fraction), "a number between 0 and 0.5"),
        ("split.test_fraction", _fraction(spec.split.test_fraction), "a number between 0 and 0.5"),
        ("model.family", isinstance(spec.model.family, str), "a model family name"),
        ("model.params", isinstance(spec.model.params, dict), "a mapping of parameter names to values"),
        ("search.n_trials", isinstance(spec.search.n_trials, int) and spec.search.n_trials >= 0, "a whole number ≥ 0"),
        ("search.timeout_s", spec.search.timeout_s is None or _positive(spec.search.timeout_s), "a number of seconds > 0"),
        ("search.metric", spec.search.metric in SEARCH_METRICS, f"one of {', '.join(SEARCH_METRICS)}"),
        ("imbalance.method", spec.imbalance.method in IMBALANCE, f"one of {', '.join(IMBALANCE)}"),
        ("imbalance.undersample_rate", _fraction(spec.imbalance.undersample_rate, 1.0), "a number between 0 and 1"),
        ("calibration", spec.calibration in CALIBRATIONS, f"one of {', '.join(CALIBRATIONS)}"),
        ("sample_rows", spec.sample_rows is None or (isinstance(spec.sample_rows, int) and spec.sample_rows > 0), "a whole number > 0"),
        ("seed", isinstance(spec.seed, int), "a whole number"),
        ("experiment", isinstance(spec.experiment, str) and spec.experiment.strip(), "an experiment name"),
        ("engine", spec.engine in ENGINES, f"one of {', '.join(ENGINES)}"),
        ("validation.kind", spec.validation.kind in VALIDATIONS, f"one of {', '.join(VALIDATIONS)}"),
        ("validation.folds", _whole(spec.validation.folds) and 2 <= spec.validation.folds <= 20, "a whole number from 2 to 20"),
        ("validation.gap", isinstance(spec.validation.gap, bool), "true or false"),
        ("learning_curve", isinstance(spec.learning_curve, bool), "true or false"),
        ("value.column", spec.value.column is None or (isinstance(spec.value.column, str) and spec.value.column.strip()), "a column name"),
        (
            "value.horizons",
            _is_names(spec.value.horizons) and len(set(spec.value.horizons)) == len(spec.value.horizons),
            "a list of distinct column names",
        ),
        ("value.family", spec.value.family in VALUE_FAMILIES, f"one of {', '.join(VALUE_FAMILIES)}"),
    ]
    for key, ok, expected in rules:
        if not ok:
            raise SpecError(f"`{key}` must be {expected}; got {_value_of(spec, key)!r}.")
    if spec.engine == "dask" and spec.model.family not in DASK_FAMILIES:
        raise SpecError(
            f"The dask engine trains {', '.join(DASK_FAMILIES)} only; use engine local for {spec.model.family} (or family gbdt)."
        )
    if spec.engine == "dask" and (spec.search.n_trials or spec.search.timeout_s):
        raise SpecError("The dask engine has no parameter search; set search.n_trials to 0 (and no timeout) or use engine local.")
    if spec.validation.kind == "timeseries" and not spec.time_column:
        raise SpecError("Time-series validation needs a time column; set time_column or use validation kfold.")
    if (spec.validation.kind != "holdout" or spec.learning_curve) and spec.engine == "dask":
        raise SpecError(
            "The dask engine validates on the holdout split only; use engine local for k-fold, time-series CV or learning curves."
        )
    if spec.imbalance.method in OVERSAMPLING and spec.engine == "dask":  # the cluster's partitions are never in one frame
        raise SpecError(f"The dask engine does not oversample; use engine local for {spec.imbalance.method}, or undersample.")
    _check_value(spec)
    if spec.split.kind == "temporal" and not spec.time_column:
        spec.split.kind = "stratified"


def _check_value(spec: TrainSpec) -> None:
    """The value stage's rules: a column among the horizons, never a feature or the target, local engine."""
    value = spec.value
    if value.horizons and value.column is None:
        value.column = value.horizons[-1]
    if not value.column:
        return
    if value.horizons and value.column not in value.horizons:
        raise SpecError(f"`value.column` {value.column!r} must be one of value.horizons ({', '.join(value.horizons)}), or left out.")
    named = set(value.columns())
    if spec.target in named:
        raise SpecError(f"The value column {spec.target!r} is the target; give the revenue column as value.column.")
    if named & set(spec.features.include):
        raise SpecError(
            f"Value column {sorted(named & set(spec.features.include))[0]!r} is known only after the outcome; remove it from features."
        )
    if spec.engine != "local":
        raise SpecError("The value stage runs on the local engine only; use engine local, or drop value.column.")
    if spec.model.family == "hashed_sgd":
        raise SpecError("The value stage needs the training rows in memory; hashed_sgd streams them. Use another family.")


def _fraction(value: Any, upper: float = 0.5) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < upper


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _value_of(spec: TrainSpec, key: str) -> Any:
    value: Any = spec
    for part in key.split("."):
        value = getattr(value, part)
    return value


def flatten(spec: TrainSpec) -> dict[str, str]:
    """The spec as flat `a.b` keys with text values, for MLflow params."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            out[prefix.rstrip(".")] = str(value)[:500]

    walk("", spec.to_dict())
    return out

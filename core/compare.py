"""Challenger against champion on the same rows: paired scores, paired bootstrap differences, the promotion gate.

Both registered versions score the same holdout: the challenger run's test split, rebuilt from its spec.yaml,
or a chosen dataset and filter. The gate reads the comparison and its limits come from settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlflow
import numpy as np
import pandas as pd
from scipy import sparse

import models
from core import data, runs, scorer, settings, signature, tracking
from core.diagnostics import metrics
from core.diagnostics.metrics import EPS, HEADLINE, binary_arrays, scores
from core.errors import DataError, RegistryError
from core.spec import TrainSpec
from core.sql import Filter
from core.training.split import split_labels
from core.value import compare as value_compare
from core.value.stage import horizon_days

COMPARE_COLUMNS = ["metric", "challenger", "champion", "diff", "diff_lo", "diff_hi"]
GATE_COLUMNS = ["rule", "value", "limit", "passed"]
VALUE_RULE = "Value RMSLE not worse than the champion's by more than delta"
BLOCK_WEIGHTS = 4_000_000  # Poisson weights held at once (resamples per block × rows): ~32 MB
STREAM_ROWS = 200_000


def registered_model(model: str) -> mlflow.entities.model_registry.RegisteredModel:
    """The registered model (with its tags and aliases), or a RegistryError that says what to fix."""
    client = tracking.client()
    try:
        return client.get_registered_model(model)
    except mlflow.exceptions.MlflowException:
        raise RegistryError(
            f"No registered model {model!r} in {client.tracking_uri}; register a run first "
            f"(python -m core.registry register --run RUN_ID --model {model})."
        ) from None


def version_of(model: str, version) -> mlflow.entities.model_registry.ModelVersion:
    """A registered version by number or alias, or a RegistryError that says what to fix."""
    registered_model(model)
    client = tracking.client()
    text = str(version).strip()
    try:
        return client.get_model_version(model, text) if text.isdigit() else client.get_model_version_by_alias(model, text)
    except mlflow.exceptions.MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name = '{model.replace(chr(39), '')}'"))
        what = f"version {text}" if text.isdigit() else f"alias {text!r}"
        raise RegistryError(f"Registered model {model!r} has no {what}; its versions are {', '.join(map(str, known)) or 'none'}.") from None


def run_spec(run_id: str) -> TrainSpec:
    """The TrainSpec a run was trained with (its spec.yaml artifact)."""
    client = tracking.client()
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="spec.yaml", tracking_uri=client.tracking_uri)
    except (mlflow.exceptions.MlflowException, OSError):
        raise RegistryError(f"Run {run_id} has no spec.yaml; it was not made by this workbench's training job.") from None
    return TrainSpec.from_file(path)


def holdout(
    run_id: str, columns: Sequence[str], dataset: str | None = None, filters: Sequence[Filter] = ()
) -> tuple[pd.DataFrame, np.ndarray]:
    """(model input, y): the run's test split rebuilt as core.train made it, or every row of `dataset` with a target.

    The test split is rebuilt from the run's spec: the same rows (filter, sample) through split_labels, or for a
    streamed family the rows its predictions.parquet names. It is checked against the run's predictions, so data that
    changed since training is an error, not a silently different holdout.
    """
    spec = run_spec(run_id)
    con = data.connect()
    extra = [spec.time_column] if spec.time_column and spec.time_column not in columns and dataset is None else []
    wanted = [*columns, *extra]
    if dataset is not None:
        frame = data.training_frame(con, dataset, spec.target, wanted, filters, spec.positive_value)
        return _model_input(frame.drop(columns="__target")), frame["__target"].to_numpy(dtype=int)
    recorded = runs.predictions(run_id)
    if getattr(models.family(spec.model.family), "STREAMING", False):
        frame = _stream_rows(con, spec, wanted, recorded["row"].to_numpy())
    else:
        frame = data.training_frame(con, spec.dataset, spec.target, wanted, spec.filter, spec.positive_value, spec.sample_rows, spec.seed)
        time_values = frame[spec.time_column] if spec.time_column else None
        sp = spec.split
        labels = split_labels(frame["__target"].to_numpy(dtype=int), time_values, sp.kind, sp.valid_fraction, sp.test_fraction, spec.seed)
        frame = frame[labels == "test"]
    y = frame.pop("__target").to_numpy(dtype=int)
    if len(y) != len(recorded) or not np.array_equal(y, recorded["y"].to_numpy(dtype=int)):
        raise RegistryError(
            f"Dataset {spec.dataset!r} changed since run {run_id} trained ({len(y):,} test rows now, {len(recorded):,} then), "
            "so its test split cannot be rebuilt; compare on a chosen dataset instead."
        )
    return _model_input(frame.drop(columns=extra).reset_index(drop=True)), y


def _stream_rows(con, spec: TrainSpec, wanted: list[str], rows: np.ndarray) -> pd.DataFrame:
    """The rows at the given positions of the unsampled data, read batch by batch (a streamed run's test split)."""
    parts, first, rows = [], 0, np.sort(rows)
    for batch in data.training_batches(con, spec.dataset, spec.target, wanted, spec.filter, spec.positive_value, STREAM_ROWS):
        inside = rows[(rows >= first) & (rows < first + len(batch))] - first
        parts.append(batch.iloc[inside])
        first += len(batch)
        if len(rows) and first > rows[-1]:
            break
    return pd.concat(parts, ignore_index=True)


def _model_input(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:  # infinities are missing values to every family, as in training
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].replace([np.inf, -np.inf], np.nan)
    return frame


def _inputs(model) -> list[str] | None:
    schema = model.metadata.get_input_schema()
    return schema.input_names() if schema is not None else None


def _positive_scores(model, frame: pd.DataFrame) -> np.ndarray:
    names = _inputs(model)
    return signature.positive_scores(model, frame[names] if names else frame)


def paired_scores(model: str, challenger, champion=None, data: str | None = None, filters: Sequence[Filter] = ()) -> pd.DataFrame:
    """Both versions' scores on the same rows. Columns: y, challenger, champion (NaN without a champion).

    Rows: the challenger run's test split, or every row of dataset `data` with a target (after `filters`). When either
    version has a value stage, also: value (the actual value column, NaN where missing), value_mature (its horizon,
    a `_d<N>` suffix, has passed by the rows' last time; all True without one), value_challenger and
    value_champion (each model's value_if_converted for that column, NaN for a side without it); attrs["value_column"]
    names the column (the challenger's headline, else the champion's) and attrs["value_note"] says why a side is NaN.
    """
    found = {"challenger": version_of(model, challenger)}
    if champion is not None:
        found["champion"] = version_of(model, champion)
    for version in found.values():
        scorer.require_stored_here(version)  # loading a model runs its code: only this store's own
    loaded = {role: mlflow.pyfunc.load_model(f"models:/{model}/{v.version}") for role, v in found.items()}
    names = [_inputs(m) for m in loaded.values()]
    if any(n is None for n in names):  # a model without a signature gets every column
        columns = _dataset_columns(found["challenger"].run_id, data)
    else:
        columns = list(dict.fromkeys(c for n in names for c in n))
    valued = {role: signature.value_model(m) for role, m in loaded.items()}
    column = next((v.value_column for v in valued.values() if v is not None), None)
    read, note = _value_reads(found["challenger"].run_id, data, column) if column is not None else ([], "")
    frame, y = holdout(found["challenger"].run_id, [*columns, *(c for c in read if c not in columns)], data, filters)
    kept = {c: frame.pop(c) if c not in columns else frame[c] for c in read}
    out = pd.DataFrame({"y": y, "challenger": _positive_scores(loaded["challenger"], frame), "champion": np.nan})
    if "champion" in loaded:
        out["champion"] = _positive_scores(loaded["champion"], frame)
    if column is None:
        return out
    out["value"] = kept[column].to_numpy(dtype=float) if column in kept else np.nan
    out["value_mature"] = _mature(column, kept[read[1]] if len(read) > 1 else None, len(y))
    for role in ("challenger", "champion"):
        predicted, why = _value_if_converted(valued.get(role), loaded.get(role), frame, column)
        out[f"value_{role}"] = predicted
        note = note or (f"the {role} {why}" if why and role in loaded else "")
    out.attrs.update(value_column=column, value_note=note)
    return out


def _value_if_converted(value_model, pyfunc_model, frame: pd.DataFrame, column: str) -> tuple[np.ndarray, str]:
    """(the model's E[column | converted] per row, or NaN and why not)."""
    if value_model is None:
        return np.full(len(frame), np.nan), "has no value stage"
    names = _inputs(pyfunc_model)
    predicted = value_model.value_if_converted(frame[names] if names else frame)
    if column not in predicted.columns:
        return np.full(len(frame), np.nan), f"predicts {', '.join(predicted.columns)}, not {column}"
    return predicted[column].to_numpy(dtype=float), ""


def _value_reads(run_id: str, dataset: str | None, column: str) -> tuple[list[str], str]:
    """(the value column and, when the data has it, the run's time column (for maturity); or [] and why not)."""
    spec, con = run_spec(run_id), data.connect()
    dataset = dataset or spec.dataset
    have = data.columns(con, dataset)
    if column not in have:
        return [], f"dataset {dataset!r} has no column {column!r}, so value is not compared"
    return [column, *([spec.time_column] if spec.time_column and spec.time_column in have else [])], ""


def _mature(column: str, times: pd.Series | None, rows: int) -> np.ndarray:
    """Whether each row's horizon (a `_d<N>` suffix) has passed by the compared rows' last time, as core.value.stage
    marks a run's rows; every row without a suffix or a time column."""
    days = horizon_days(column)
    if days is None or times is None:
        return np.ones(rows, dtype=bool)
    times = pd.to_datetime(times)
    return (times <= times.max() - pd.Timedelta(days=days)).to_numpy()


def _dataset_columns(run_id: str, dataset: str | None) -> list[str]:
    spec = run_spec(run_id)
    con = data.connect()
    return [c for c in data.columns(con, dataset or spec.dataset) if c != spec.target]


class _Weighted:
    """One score's cells and the sparse row → (cell, label) map that turns row weights into cell weights.

    Cells are the distinct scores, or past `cells` of them metrics' equal-mass pools (cut at the ECE bin edges), with
    each metric's draws shifted by (exact value − pooled value), as metrics.headline does.
    """

    def __init__(self, y: np.ndarray, score: np.ndarray, cells: int):
        score = np.clip(score, EPS, 1 - EPS)  # as metrics.scores() clips
        distinct, pos, neg = metrics._distinct(y, score)
        exact = metrics._pool(distinct, pos, neg, np.arange(len(distinct)))
        starts = np.arange(len(distinct)) if len(distinct) <= cells else metrics._equal_mass_starts(distinct, pos + neg, cells)
        self.cells = exact if len(starts) == len(distinct) else metrics._pool(distinct, pos, neg, starts)
        value, pooled = (metrics._statistics(c, c.pos[None, :], c.neg[None, :]) for c in (exact, self.cells))
        self.shift = {m: value[m][0] - pooled[m][0] for m in HEADLINE}
        cell = np.searchsorted(starts, np.searchsorted(distinct, score), side="right") - 1
        self.k = len(starts)
        column = cell + self.k * (y == 0)  # positives in the first k columns, negatives in the next k
        self.map = sparse.csr_array((np.ones(len(y)), (np.arange(len(y)), column)), shape=(len(y), 2 * self.k))

    def statistics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        by_cell = weights @ self.map
        drawn = metrics._statistics(self.cells, by_cell[:, : self.k], by_cell[:, self.k :])
        return {m: drawn[m] + self.shift[m] for m in HEADLINE}


def paired_bootstrap(
    y, challenger, champion=None, resamples: int = 200, seed: int = 0, *, block: int = BLOCK_WEIGHTS, cells: int = metrics.BOOTSTRAP_CELLS
) -> pd.DataFrame:
    """Metrics of both scores on the same rows and the difference with a 95% interval.

    Columns: metric, challenger, champion, diff (challenger − champion), diff_lo, diff_hi; rows roc_auc, pr_auc,
    log_loss, brier, ece. Values are metrics.scores() (scikit-learn). The interval is a paired percentile bootstrap:
    each resample gives every row one Poisson(1) weight shared by both scores, and each score's metrics are weighted
    sums over its cells (metrics' cell statistics; ties as scikit-learn counts them), so a block of resamples is one
    sparse product per score and a few array operations, never a scikit-learn call per resample. Up to `cells` distinct
    scores the draws are exact; past that they pool as metrics.headline's do (bounds move by a small fraction of the
    interval's width, tested). Cost is the Poisson draws and the products, ~resamples × rows: ~3 s at 150k rows on two
    cores. Resamples left with one class are dropped from that metric's interval. Without a champion its columns are NaN.
    """
    if resamples < 1:
        raise DataError(f"The bootstrap needs at least one resample, not {resamples}.")
    y, a = binary_arrays(y, challenger)
    b = None if champion is None or np.isnan(np.asarray(champion, dtype=float)).all() else binary_arrays(y, champion)[1]
    point = {"challenger": scores(y, a), "champion": scores(y, b) if b is not None else {}}
    lo = hi = {m: np.nan for m in HEADLINE}
    if b is not None:
        drawn = bootstrap_draws(y, {"challenger": a, "champion": b}, resamples, seed, block=block, cells=cells)
        bounds = {m: _percentiles(drawn["challenger"][m] - drawn["champion"][m]) for m in HEADLINE}
        lo, hi = ({m: v[i] for m, v in bounds.items()} for i in (0, 1))
    rows = []
    for m in HEADLINE:
        first, second = point["challenger"][m], point["champion"].get(m, np.nan)
        rows.append((m, first, second, first - second, lo[m], hi[m]))
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    table.attrs["rows"] = len(y)
    return table


def bootstrap_draws(
    y, named: dict, resamples: int = 200, seed: int = 0, *, block: int = BLOCK_WEIGHTS, cells: int = metrics.BOOTSTRAP_CELLS
) -> dict[str, dict[str, np.ndarray]]:
    """Name -> metric -> `resamples` bootstrap values of each named score on the same rows of `y`.

    Every resample gives each row one Poisson(1) weight (seeded) shared by all the scores, so differences of the
    draws are paired; see paired_bootstrap. NaN where a resample left one class.
    """
    sides = {name: _Weighted(y, np.asarray(score, dtype=float), cells) for name, score in named.items()}
    rng = np.random.default_rng(seed)
    per_block = max(1, block // len(y))
    drawn = {name: {m: [] for m in HEADLINE} for name in sides}
    for start in range(0, resamples, per_block):
        weights = rng.poisson(1.0, (min(per_block, resamples - start), len(y))).astype(float)
        for name, side in sides.items():
            for m, values in side.statistics(weights).items():
                drawn[name][m].append(values)
    return {name: {m: np.concatenate(v) for m, v in by.items()} for name, by in drawn.items()}


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    kept = values[np.isfinite(values)]
    return tuple(float(v) for v in np.percentile(kept, [2.5, 97.5])) if len(kept) else (np.nan, np.nan)


def compare(
    model: str, challenger, champion=None, data: str | None = None, filters: Sequence[Filter] = (), resamples: int = 200, seed: int = 0
) -> pd.DataFrame:
    """Challenger against champion on the same rows (see paired_scores). Columns: metric, challenger, champion, diff, diff_lo, diff_hi.

    With a value stage on either side, rows value_rmse, value_mae, value_r2 and value_rmsle follow (see
    core.value.compare), on the same rows' converters with a known, mature value; attrs value_rows, value_column,
    value_note, value_maturity.
    """
    paired = paired_scores(model, challenger, champion, data, filters)
    table = paired_bootstrap(paired["y"], paired["challenger"], paired["champion"], resamples, seed)
    if "value" not in paired:
        return table
    values = value_compare.value_comparison(
        paired["y"], paired["value"], paired["value_challenger"], paired["value_champion"], resamples, seed, paired["value_mature"]
    )
    both = pd.concat([table, values], ignore_index=True)
    column = paired.attrs["value_column"]
    maturity = value_compare.maturity_note(values.attrs["mature_share"], horizon_days(column))
    both.attrs = {**table.attrs, "value_rows": values.attrs["rows"], "value_maturity": maturity, **paired.attrs}
    return both


def gate(comparison: pd.DataFrame, has_champion: bool) -> pd.DataFrame:
    """The promotion gate's rules on a comparison. Columns: rule, value, limit, passed.

    "ROC AUC ≥ floor" and "ECE ≤ ceiling" read the challenger's values; with a champion, "not worse than the champion
    by more than delta" reads the paired ROC AUC difference's point estimate against −delta. The point estimate, not an
    interval bound: on a few thousand holdout rows the 95% interval of the difference is wider than delta, so asking its
    lower bound to clear −delta would fail most retrains of an equally good model (and the upper bound would pass
    clearly worse ones). The interval stays in the comparison for a person to read before promoting.

    When the comparison has value rows and a champion: "value RMSLE not worse than the champion's by more than delta"
    reads the RMSLE difference's point estimate against +gate_max_rmsle_increase, for the same reason; when a side has
    no value stage the rule is skipped, and a passing row says so and why (attrs["value_note"]).
    """
    by = comparison.set_index("metric")
    rules = [
        ("ROC AUC ≥ floor", by.loc["roc_auc", "challenger"], settings.get("gate_min_roc_auc"), np.greater_equal),
        ("ECE ≤ ceiling", by.loc["ece", "challenger"], settings.get("gate_max_ece"), np.less_equal),
    ]
    if has_champion:
        rules.append(
            (
                "ROC AUC not worse than the champion by more than delta",
                by.loc["roc_auc", "diff"],
                -settings.get("gate_max_drop"),
                np.greater_equal,
            )
        )
    skipped = []
    if has_champion and f"{value_compare.PREFIX}rmsle" in by.index:
        rmsle, limit = by.loc[f"{value_compare.PREFIX}rmsle"], settings.get("gate_max_rmsle_increase")
        if np.isfinite(rmsle["challenger"]) and np.isfinite(rmsle["champion"]) or not comparison.attrs.get("value_note"):
            rules.append((VALUE_RULE, rmsle["diff"], limit, np.less_equal))
        else:
            skipped.append((f"{VALUE_RULE}: skipped, {comparison.attrs['value_note']}", np.nan, float(limit), True))
    rows = [(rule, float(value), float(limit), bool(np.isfinite(value) and test(value, limit))) for rule, value, limit, test in rules]
    return pd.DataFrame(rows + skipped, columns=GATE_COLUMNS)

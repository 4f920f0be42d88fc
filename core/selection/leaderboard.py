"""A leaderboard of model families trained on the same splits or folds: rank, spread, paired test against the best.

With k-fold or time-series validation the mean and std are over each run's cv.parquet folds and the test is a
paired t-test over folds; with a holdout, the mean is the test metric, the std its bootstrap std, and the test a
paired bootstrap on the shared test rows (core.selection.paired).
"""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd

import models
from core import runs, tracking
from core.diagnostics.metrics import scores
from core.errors import DataError, RegistryError, SpecError
from core.selection.paired import RESAMPLES, holdout_tests, t_test_p
from core.spec import SEARCH_METRICS, TrainSpec

METRICS = SEARCH_METRICS  # what a leaderboard ranks by
LOWER_IS_BETTER = ("log_loss",)
KIND = "leaderboard"  # the parent run's wb.kind tag
DEFAULT_FAMILIES = ("gbdt", "linear", "forest")
LISTING_COLUMNS = ["run_id", "name", "status", "progress", "started", "families", "metric", "validation", "best_run", "error"]
SHOWN_COLUMNS = ["rank", "family", "run_id", "score", "p_value_vs_best", "diagnostics"]
METRIC_LABELS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "log_loss": "log loss"}


def family_specs(spec: TrainSpec, families: list[str]) -> dict[str, TrainSpec]:
    """Family -> the spec with only its model changed. The spec's parameters go to every family that has them."""
    unknown = [f for f in families if f not in models.families()]
    if unknown:
        raise SpecError(f"Unknown model family {unknown[0]!r}; use one of: {', '.join(models.families())}.")
    if len(set(families)) != len(families):
        raise SpecError("Name each family once.")
    if len(families) < 2:
        raise SpecError("A leaderboard compares at least two families; give two or more to --families.")
    names = {f: {p.name for p in models.family(f).PARAMS} for f in families}
    orphans = [k for k in spec.model.params if not any(k in n for n in names.values())]
    if orphans:
        raise SpecError(f"Parameter {orphans[0]!r} belongs to none of {', '.join(families)}.")
    out = {}
    for f in families:
        raw = spec.to_dict()
        raw["model"] = {"family": f, "params": {k: v for k, v in spec.model.params.items() if k in names[f]}}
        out[f] = TrainSpec.from_dict(raw)
        if getattr(models.family(f), "STREAMING", False) and (
            spec.validation.kind != "holdout" or spec.search.n_trials or spec.search.timeout_s
        ):
            raise SpecError(f"{f} streams its data: it takes part with holdout validation and no search only.")
    return out


def columns(metric: str) -> list[str]:
    """The leaderboard's columns for `metric`: family, run_id, <metric>_mean, <metric>_std, p_value_vs_best."""
    return ["family", "run_id", f"{metric}_mean", f"{metric}_std", "p_value_vs_best"]


def _order(values: pd.Series, metric: str) -> np.ndarray:
    """Positions best first (stable: ties keep the families' given order)."""
    key = values.to_numpy(dtype=float)
    return np.argsort(key if metric in LOWER_IS_BETTER else -key, kind="stable")


def ranked(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`frame` sorted best first by `<metric>_mean` (log loss ascending, the others descending), index 0..n-1."""
    if metric not in METRICS:
        raise DataError(f"Unknown leaderboard metric {metric!r}; use one of: {', '.join(METRICS)}.")
    return frame.iloc[_order(frame[f"{metric}_mean"], metric)].reset_index(drop=True)


def from_folds(folds: dict[str, pd.DataFrame], run_ids: dict[str, str], metric: str) -> pd.DataFrame:
    """Ranked leaderboard from each family's per-fold metrics (cv.parquet: fold, roc_auc, ...). Columns: see columns().

    Mean and sample std (ddof=1, as cv_summary) over the folds; p_value_vs_best is the paired t-test over folds
    against the best family, NaN for the best (None in records()).
    """
    by_fold = {family: frame.set_index("fold")[metric].sort_index() for family, frame in folds.items()}
    rows = [(f, run_ids[f], float(v.mean()), float(v.std(ddof=1)), np.nan) for f, v in by_fold.items()]
    table = ranked(pd.DataFrame(rows, columns=columns(metric)), metric)
    best = by_fold[table["family"].iloc[0]]
    for i, family in enumerate(table["family"].iloc[1:], start=1):
        other = by_fold[family]
        if not best.index.equals(other.index):
            raise DataError(f"{family} was validated on folds {list(other.index)}, the best on {list(best.index)}; they must be the same.")
        table.at[i, "p_value_vs_best"] = t_test_p(best.to_numpy(), other.to_numpy())
    return table


def from_holdout(
    predictions: dict[str, pd.DataFrame], run_ids: dict[str, str], metric: str, resamples: int = RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Ranked leaderboard from each family's test predictions (predictions.parquet: row, y, score). Columns: see columns().

    The families' predictions are joined on `row`; the mean is the metric on those rows, the std and the p-value
    against the best come from one paired bootstrap shared by all (core.selection.paired.holdout_tests).
    """
    first = next(iter(predictions))
    joined = predictions[first][["row", "y"]]
    for family, frame in predictions.items():
        joined = joined.merge(frame[["row", "y", "score"]].rename(columns={"score": family, "y": f"y.{family}"}), on="row")
        if len(joined) != len(frame) or len(frame) != len(predictions[first]) or not (joined["y"] == joined[f"y.{family}"]).all():
            raise DataError(f"{family} was tested on other rows than {first}; a leaderboard needs the same test rows for every family.")
    y = joined["y"].to_numpy(dtype=int)
    named = {family: joined[family].to_numpy(dtype=float) for family in predictions}
    point = pd.Series({family: scores(y, score)[metric] for family, score in named.items()})
    best = point.index[_order(point, metric)[0]]
    tested = holdout_tests(y, named, metric, best, resamples, seed)
    rows = [(family, run_ids[family], *tested[family][:2], np.nan if tested[family][2] is None else tested[family][2]) for family in named]
    return ranked(pd.DataFrame(rows, columns=columns(metric)), metric)


def p_text(p: float) -> str:
    """A p-value as shown: "best" for the best itself (NaN), "< 0.001" below that, else three decimals."""
    if math.isnan(p):
        return "best"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def shown(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The leaderboard as the Train page shows it. Columns: rank (1 = best), family, run_id, score ("mean ± std", four
    decimals), p_value_vs_best (as p_text), diagnostics (the run's Diagnostics link)."""
    return pd.DataFrame(
        {
            "rank": range(1, len(table) + 1),
            "family": table["family"],
            "run_id": table["run_id"],
            "score": [f"{m:.4f} ± {s:.4f}" for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"], strict=True)],
            "p_value_vs_best": [p_text(p) for p in table["p_value_vs_best"].astype(float)],
            "diagnostics": "/diagnostics?run=" + table["run_id"],
        }
    )


def records(table: pd.DataFrame) -> list[dict]:
    """The leaderboard as JSON-ready dicts, best first; a missing p-value (the best's) is None."""
    out = []
    for row in table.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return out


def _artifact_frame(run_id: str, name: str) -> pd.DataFrame:
    path = runs._artifact(run_id, name)
    if path is None:
        raise RegistryError(f"Run {run_id} has no {name}; did it finish?")
    return pd.read_parquet(path)


def collect(run_ids: dict[str, str], metric: str, validation: str, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Ranked leaderboard of finished family runs (family -> run id) from their cv.parquet or predictions.parquet."""
    if validation == "holdout":
        found = {family: _artifact_frame(run_id, "predictions.parquet") for family, run_id in run_ids.items()}
        return from_holdout(found, run_ids, metric, resamples, seed)
    return from_folds({family: _artifact_frame(run_id, "cv.parquet") for family, run_id in run_ids.items()}, run_ids, metric)


@tracking.guarded
def stored(run_id: str) -> pd.DataFrame:
    """A finished leaderboard run's table (its leaderboard.parquet), best first. Columns: see columns()."""
    return _artifact_frame(run_id, "leaderboard.parquet")


@tracking.guarded
def listing() -> pd.DataFrame:
    """Leaderboard runs, newest first. Columns: run_id, name, status, progress, started, families, metric, validation,
    best_run, error."""
    tracking.client()
    found = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.`wb.kind` = '{KIND}'", order_by=["attributes.start_time DESC"]
    )
    if found.empty:
        return pd.DataFrame(columns=LISTING_COLUMNS)
    return pd.DataFrame(
        {
            "run_id": found["run_id"],
            "name": found.get("tags.mlflow.runName"),
            "status": found["status"],
            "progress": found.get("metrics.progress", pd.Series(0.0, index=found.index)).fillna(0.0),
            "started": pd.to_datetime(found["start_time"], utc=True),
            "families": found.get("tags.wb.families"),
            "metric": found.get("tags.wb.metric"),
            "validation": found.get("tags.wb.validation"),
            "best_run": found.get("tags.wb.best_run", pd.Series("", index=found.index)).fillna(""),
            "error": found.get("tags.wb.error", pd.Series("", index=found.index)).fillna(""),
        }
    ).reset_index(drop=True)

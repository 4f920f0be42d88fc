"""What a monitoring pass found, as the Monitor page shows it: the pass's tables, the alert headline, one window's drift."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core import runs, tracking
from core.errors import RegistryError

TABLES = ("monitor.parquet", "drift.parquet", "histograms.parquet", "alerts.parquet")
DRIFT_COLUMNS = ["feature", "kind", "psi", "unseen_share", "missing_reference", "missing_current", "missing_change", "rows"]


@dataclass(frozen=True)
class MonitorPass:
    """One finished monitoring pass: its tags and the tables it logged."""

    run_id: str
    tags: dict
    windows: pd.DataFrame  # monitor.parquet: core.diagnostics.rolling.COLUMNS + max_feature_psi, top_feature, alerts
    drift: pd.DataFrame  # drift.parquet: DriftCounts.window_drift
    histograms: pd.DataFrame  # histograms.parquet: feature, bin, order, reference_share, current_share, period
    alerts: pd.DataFrame  # alerts.parquet: rule, window_start, value, limit, feature, estimated


@tracking.guarded
def load(run_id: str) -> MonitorPass:
    """A finished pass's tables; a RegistryError when the pass is still running, failed, or lacks one of its files."""
    run = tracking.client().get_run(run_id)
    if run.info.status != "FINISHED":
        reason = run.data.tags.get("wb.error") or "it has not finished"
        raise RegistryError(f"Monitoring pass {run_id[:8]} is {run.info.status}, so it has no results: {reason}")
    frames = []
    for name in TABLES:
        path = runs.artifact(run_id, name)
        if path is None:
            raise RegistryError(f"Monitoring pass {run_id[:8]} finished without {name}; run the pass again.")
        frames.append(pd.read_parquet(path))
    return MonitorPass(run_id, dict(run.data.tags), *frames)


def headline(alerts: pd.DataFrame) -> str:
    """One sentence: how many alerts, and per rule (and feature) the first window it fired in and in how many windows."""
    if alerts.empty:
        return "No alerts: every window is within its limits."
    keyed = alerts.assign(feature=alerts["feature"].fillna(""), estimated=alerts["estimated"].fillna(False).astype(bool))
    groups = (
        keyed.groupby(["rule", "feature"], sort=False)
        .agg(first=("window_start", "min"), windows=("window_start", "nunique"), estimated=("estimated", "all"))
        .reset_index()
        .sort_values(["first", "windows"], ascending=[True, False], kind="stable")
    )
    parts = [
        f"{g.rule}{f' ({g.feature})' if g.feature else ''}{' estimated' if g.estimated else ''} since {g.first:%Y-%m-%d}"
        f" in {g.windows} window{'s' if g.windows != 1 else ''}"
        for g in groups.itertuples()
    ]
    return f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}: " + "; ".join(parts)


def window_drift(drift: pd.DataFrame, start) -> pd.DataFrame:
    """The drift of the window starting at `start`, highest PSI first. Columns: DRIFT_COLUMNS."""
    rows = drift[drift["start"] == pd.Timestamp(start)]
    return rows.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)[DRIFT_COLUMNS]


def version_choices(versions: pd.DataFrame, model: str) -> dict[str, str]:
    """What can be monitored for `model` in runs.registered_versions: its aliases first, then every version number,
    each with a label ("champion (version 3)", "version 2")."""
    mine = versions[versions["model"] == model]
    aliased = {}
    for row in mine.itertuples():
        for alias in filter(None, str(row.aliases).split(", ")):
            aliased[alias] = f"{alias} (version {row.version})"
    ordered = dict(sorted(aliased.items(), key=lambda item: (item[0] != "champion", item[0])))
    return ordered | {str(v): f"version {v}" for v in mine["version"]}


def chosen_version(versions: pd.DataFrame, model: str, which: str) -> tuple[int, str]:
    """(version number, its run id) for a choice of `version_choices`: an alias or a version number."""
    mine = versions[versions["model"] == model]
    if which.isdigit():
        row = mine[mine["version"] == int(which)]
    else:
        row = mine[mine["aliases"].str.split(", ").apply(lambda aliases: which in aliases)]
    if row.empty:
        raise RegistryError(f"Registered model {model!r} has no {'version ' + which if which.isdigit() else 'alias ' + repr(which)}.")
    return int(row["version"].iloc[0]), str(row["run_id"].iloc[0])


def first_unfitted_day(predictions: pd.DataFrame):
    """The first day of a run's test predictions (rows its model never fitted on), or None without times: the Monitor
    page's default Since, so its windows are out of sample."""
    if "time" not in predictions or predictions["time"].isna().all():
        return None
    return pd.Timestamp(predictions["time"].min()).date()

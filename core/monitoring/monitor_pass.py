"""One monitoring pass: a registered model scores new rows in chunks; windows, feature drift and alerts go to one MLflow run."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd

from core import data, runs, settings, tracking
from core.diagnostics import rolling
from core.errors import DataError, RegistryError, WorkbenchError
from core.monitoring import drift as drifts
from core.monitoring.alerts import Limits, alerts
from core.monitoring.passes import HISTORY_COLUMNS, KIND, MODEL_NAME, alert_records, history, log_pass, set_tags
from core.score import Progress, plan, positive_scores, read_ahead, scoring_batches
from core.scorer import Scorer, resolve
from core.signature import INPUT_TYPES
from core.spec import TrainSpec
from core.sql import Filter, compile_filters, ident, is_temporal, positive_condition

MONITOR_COLUMNS = [*rolling.COLUMNS, "max_feature_psi", "top_feature", "alerts"]
__all__ = [
    "HISTORY_COLUMNS",
    "KIND",
    "MONITOR_COLUMNS",
    "Log",
    "alert_records",
    "experiment_name",
    "history",
    "model_uri",
    "monitor",
    "window_table",
]
REALISED = [
    "positives", "base_rate", "base_rate_lo", "base_rate_hi", "roc_auc", "roc_auc_lo", "roc_auc_hi", "pr_auc", "ece",
    "calibration_ratio", "calibration_ratio_lo", "calibration_ratio_hi", "precision", "recall",
]  # fmt: skip
DEFAULT_THRESHOLD = 0.5
PROGRESS_EVERY_S = 1.0


def experiment_name(model: str) -> str:
    return f"monitor/{model}"


class Log(Progress):
    """Progress lines to stderr (at most one a second unless forced), kept for the run's train.log."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self.lines: list[str] = []

    def __call__(self, message: str, force: bool = True) -> None:
        if force or time.monotonic() - self.last >= self.every_s:
            self.lines.append(f"[{time.monotonic() - self.began:7.1f}s] {message}")
        super().__call__(message, force)


def model_uri(model: str, version_or_alias: str | int | None) -> str:
    """models:/NAME/N for a version number, else models:/NAME@ALIAS (champion by default)."""
    if not MODEL_NAME.match(model or ""):
        raise RegistryError(f"Model name {model!r} must be letters, digits, '.', '_' or '-'; give a registered model's name.")
    text = str(version_or_alias if version_or_alias not in (None, "") else "champion").strip()
    return f"models:/{model}/{text}" if text.isdigit() else f"models:/{model}@{text}"


def _run_spec(run_id: str) -> TrainSpec:
    """The spec the version's run was trained with (as core.compare.run_spec, which would import scikit-learn here, before
    the model's own loading imports it in a thread)."""
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="spec.yaml", tracking_uri=tracking.client().tracking_uri)
    except (mlflow.exceptions.MlflowException, OSError):
        raise RegistryError(f"Run {run_id} has no spec.yaml; it was not made by this workbench's training job.") from None
    return TrainSpec.from_file(path)


def _moment(text, flag: str) -> pd.Timestamp | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        moment = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise DataError(f"{flag} {text!r} is not a date or time; give one like 2026-10-01 or '2026-10-01 12:00'.") from None
    # Times are compared as wall clock in the session's zone (UTC), as the windows show them.
    return moment.tz_convert("UTC").tz_localize(None) if moment.tz is not None else moment


def _time_expr(column: str) -> str:
    """The time as int64 ns of wall-clock time (a zoned column in the session's zone, as the windows show it)."""
    return f"epoch_ns(CAST({ident(column)} AS TIMESTAMP))"


def _span(con, ds, cols, time_column: str, filters: Sequence[Filter]) -> tuple[int, int | None, int | None]:
    """(rows, first time ns, last time ns) of the rows passing `filters`."""
    where, params = compile_filters(filters, cols)
    src, src_params = data.source(ds)
    expr = _time_expr(time_column)
    sql = f"SELECT count(*), min({expr}), max({expr}) FROM {src} WHERE {where}"
    try:
        rows, first, last = con.execute(sql, [*src_params, *params]).fetchone()
    except Exception as err:  # duckdb.Error: a file that cannot be read
        raise DataError(f"Cannot read dataset {ds.name!r}: {str(err).strip().splitlines()[0]}") from None
    return int(rows), first, last


def _checked_time(cols: dict[str, str], time_column: str | None, dataset: str) -> str:
    if not time_column:
        raise DataError("Give --time-column: the model's run has no time column to default to.")
    if time_column not in cols:
        raise DataError(f"Dataset {dataset} has no column {time_column!r}; its columns are: {', '.join(cols)}.")
    if not is_temporal(cols[time_column]):
        raise DataError(f"Time column {time_column!r} of {dataset} is {cols[time_column]}, not a timestamp or date; pick one that is.")
    return time_column


def _threshold(scorer: Scorer) -> tuple[float, str]:
    """The version's saved cut, else 0.5 and why."""
    try:
        return scorer.threshold()
    except RegistryError as err:
        return DEFAULT_THRESHOLD, f"default {DEFAULT_THRESHOLD:g}: {str(err).splitlines()[0]}"


def _reference_scores(run_id: str, log) -> tuple[np.ndarray | None, pd.Timestamp | None]:
    """The version's test scores (the score PSI's reference) and its first test time (training rows lie before it)."""
    try:
        predictions = runs.predictions(run_id)
    except RegistryError as err:
        log(f"no test predictions ({err}); score PSI compares each window with the first")
        return None, None
    first = predictions["time"].min() if "time" in predictions else None
    return predictions["score"].to_numpy(dtype=float), (None if pd.isna(first) else first)


def _reference(con, spec, scorer: Scorer, cols: dict[str, str], log) -> tuple[dict, np.ndarray | None, pd.Timestamp | None]:
    """(feature references, test scores, first test time): the version's references, read from its signature so that
    this can run while the model itself loads."""
    info = mlflow.models.get_model_info(scorer.load_uri)
    names = info.signature.inputs.input_names() if info.signature is not None and info.signature.inputs.has_input_names() else []
    trained = (info.metadata or {}).get(INPUT_TYPES) or {}
    reference_scores, before = _reference_scores(scorer.run_id, log)
    features = {c: trained.get(c) or cols[c] for c in names if c in cols}
    refs = drifts.reference_profile(con, spec, features, before)
    log(f"training reference of {len(refs)} features from {spec.dataset}" + (f" before {before}" if before is not None else ""))
    return refs, reference_scores, before


def monitor(
    model: str,
    version_or_alias: str | int | None = "champion",
    dataset: str | None = None,
    time_column: str | None = None,
    since=None,
    window_days: float = 7,
    step_days: float = 1,
    filters: Sequence[Filter] = (),
    now=None,
    run_id: str | None = None,
    log: Progress | None = None,
) -> dict:
    """Scores `dataset` with the version and logs windows, drift and alerts as a run of `monitor/<model>`; the CLI's JSON."""
    log = log or Log()
    began = time.perf_counter()
    try:
        return _monitor(model, version_or_alias, dataset, time_column, since, window_days, step_days, filters, now, run_id, log, began)
    except BaseException as err:
        run_id = getattr(err, "run_id", run_id)
        if run_id and isinstance(err, WorkbenchError):
            tracking.fail(run_id, str(err).strip().splitlines()[0])
        elif run_id and isinstance(err, SystemExit | KeyboardInterrupt):  # a scheduler's SIGTERM, or Ctrl-C
            _stopped(run_id)
        if run_id and isinstance(err, Exception):
            err.run_id = run_id  # the CLI's crash report logs the traceback into the run
        raise


def _stopped(run_id: str) -> None:
    client = tracking.client()
    if client.get_run(run_id).info.status in ("RUNNING", "SCHEDULED"):
        client.set_tag(run_id, "wb.error", "Stopped before the pass finished.")
        client.set_terminated(run_id, "KILLED")


def _monitor(model, version_or_alias, dataset, time_column, since, window_days, step_days, filters, now, run_id, log, began):
    if not (window_days > 0 and step_days > 0):
        raise DataError(f"--window-days {window_days:g} and --step-days {step_days:g} must both be positive.")
    since, as_of = _moment(since, "--since"), _moment(now, "--now")
    as_of = as_of if as_of is not None else pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    scorer = resolve(model_uri(model, version_or_alias))
    spec = _run_spec(scorer.run_id) if scorer.run_id else None
    if spec is None:
        raise RegistryError(f"Version {scorer.version} of {model!r} has no training run, so its features' reference is unknown.")
    dataset = dataset or spec.dataset
    time_column = time_column or spec.time_column
    con = data.connect()
    ds = data.resolve(con, dataset)
    cols = data.columns(con, ds)
    time_column = _checked_time(cols, time_column, ds.name)
    chosen = [*filters, (time_column, "is not null", None), *([(time_column, ">=", since.to_pydatetime())] if since is not None else [])]
    rows, first, last = _span(con, ds, cols, time_column, chosen)
    if not rows:
        raise DataError(_no_rows(con, ds, cols, time_column, filters, since))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-load") as pool:
        loading = pool.submit(scorer.load)  # unpickling holds the GIL for a second or two; the reference's SQL runs in DuckDB
        try:
            refs, reference_scores, before = _reference(con, spec, scorer, cols, log)
        finally:
            loading.result()
    inputs, _ = plan(cols, scorer, [], ds.name)
    cut, cut_from = _threshold(scorer)
    labelled = spec.target in cols
    computed = [(_time_expr(time_column), [])]
    if labelled:
        expr, params = positive_condition(spec.target, cols[spec.target], spec.positive_value)
        computed.append((f"COALESCE(CAST(({expr}) AS TINYINT), 0)", params))  # no label yet: not converted yet

    client = tracking.client()
    tags = {
        "wb.kind": KIND, "wb.model": model, "wb.version": str(scorer.version), "wb.model_run": scorer.run_id,
        "wb.dataset": ds.name, "wb.time_column": time_column, "wb.since": "" if since is None else since.isoformat(),
        "wb.now": as_of.isoformat(), "wb.pid": str(os.getpid()), "wb.host": socket.gethostname(),
        "wb.threshold": repr(cut), "wb.threshold_from": cut_from,
    }  # fmt: skip
    if run_id is None:
        run_name = f"monitor · {model} v{scorer.version} · {ds.name}"
        run_id = client.create_run(tracking.experiment_id(experiment_name(model)), run_name=run_name, tags=tags).info.run_id
    else:
        set_tags(client, run_id, tags)
    try:
        client.log_metric(run_id, "progress", 0.0)
        log(f"monitoring {ds.name} ({rows:,} rows) with {model} v{scorer.version}, threshold {cut:g} ({cut_from}); run {run_id}")
        if not labelled:
            log(f"{ds.name} has no target column {spec.target!r}: realised metrics are unavailable, only estimates")
        origin = pd.Timestamp(first).floor("D").value
        times, y, scores, counts = _score(con, ds, scorer, inputs, chosen, computed, refs, origin, rows, run_id, client, log)
        if not labelled:
            y = np.zeros(len(scores), np.int8)
        frame = pd.DataFrame({"time": times.view("datetime64[ns]"), "y": y, "score": scores}, copy=False)
        del times, y, scores
        windows = rolling.windows(
            frame, window_days, step_days, cut, settings.get("conversion_days"), as_of, reference_scores=reference_scores
        )
        del frame
        if not labelled:
            windows = _unlabelled(windows, spec.target)
        drift = counts.window_drift(windows["start"], windows["end"])
        limits = Limits.from_settings()
        fired = alerts(windows, drift, limits)
        table = window_table(windows, drift, fired)
        histograms = pd.concat(
            [
                counts.histogram(_ns(windows["start"].iloc[0]), _ns(windows["end"].iloc[-1])).assign(period="all"),
                counts.histogram(_ns(windows["start"].iloc[-1]), _ns(windows["end"].iloc[-1])).assign(period="last window"),
            ],
            ignore_index=True,
        )
        log(f"{len(table)} windows, {len(fired)} alerts; logging the run", force=True)
        client.log_metric(run_id, "progress", 0.95)
        frames = {
            "monitor.parquet": table,
            "drift.parquet": drift,
            "histograms.parquet": histograms,
            "alerts.parquet": fired,
            "reference.parquet": drifts.reference_frame(refs),
        }
        log_pass(client, run_id, table, fired, frames)
    except BaseException as err:  # a SIGTERM's SystemExit too: monitor() marks the run KILLED
        err.run_id = run_id
        raise
    seconds = time.perf_counter() - began
    log(f"done in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    client.log_text(run_id, "\n".join(getattr(log, "lines", [])) + "\n", "train.log")
    client.log_metric(run_id, "progress", 1.0)
    client.set_terminated(run_id, "FINISHED")
    return {
        "model": model,
        "version": scorer.version,
        "run_id": run_id,
        "windows": len(table),
        "alerts": alert_records(fired),
        "status": "FINISHED",
        "dataset": ds.name,
        "rows": rows,
        "threshold": cut,
        "threshold_from": cut_from,
        "seconds": round(seconds, 3),
    }


def _score(con, ds, scorer, inputs, filters, computed, refs, origin, total, run_id, client, log):
    """(time ns, y, score, DriftCounts): the one read of the rows, scored chunk by chunk while the next chunk is read.

    Drift is counted in a second thread while the model scores the same chunk (both mostly release the GIL)."""
    counts = drifts.DriftCounts(refs, origin)
    times, labels, scores = [], [], []
    done, logged = 0, time.monotonic()
    chunk_rows = settings.get("score_chunk_rows")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-drift") as pool:
        for key_table, features in read_ahead(scoring_batches(con, ds, inputs, filters, chunk_rows, computed=computed)):
            chunk_times = key_table.column(0).to_numpy()
            counted = pool.submit(counts.add, features, chunk_times)  # reads `features`, which scoring does not change
            try:
                scores.append(positive_scores(scorer, features))
            finally:
                counted.result()  # one chunk at a time: add() is not safe to run twice at once
            times.append(chunk_times)
            labels.append(key_table.column(1).to_numpy().astype(np.int8, copy=False) if key_table.num_columns > 1 else None)
            done += len(chunk_times)
            log(f"scored {done:,} of {total:,} rows", force=False)
            if time.monotonic() - logged >= PROGRESS_EVERY_S:
                logged = time.monotonic()
                client.log_metric(run_id, "progress", 0.05 + 0.85 * done / total)
    log(f"scored {done:,} rows", force=True)
    y = np.concatenate(labels) if labels and labels[0] is not None else np.zeros(done, np.int8)
    return np.concatenate(times).astype(np.int64, copy=False), y, np.concatenate(scores), counts


def _ns(stamp) -> int:
    stamp = pd.Timestamp(stamp)
    return (stamp.tz_localize(None) if stamp.tz is not None else stamp).as_unit("ns").value


def _unlabelled(windows: pd.DataFrame, target: str) -> pd.DataFrame:
    """Without a target column the realised metrics are unknown, not zero: NaN, and the note says why."""
    windows = windows.copy()
    windows[REALISED] = np.nan
    windows["drift"] = False
    note = f"no target column {target!r} in these rows: realised metrics unknown, read the est_* columns"
    windows["note"] = [f"{text}; {note}" if text else note for text in windows["note"]]
    return windows


def _no_rows(con, ds, cols, time_column: str, filters, since) -> str:
    if since is None:
        return f"No rows of {ds.name} have a {time_column}{' after the filters' if filters else ''}; loosen the filters."
    rows, first, last = _span(con, ds, cols, time_column, [*filters, (time_column, "is not null", None)])
    if not rows:
        return f"No rows of {ds.name} have a {time_column}{' after the filters' if filters else ''}; loosen the filters."
    span = f"{pd.Timestamp(first)} to {pd.Timestamp(last)}"
    return f"No rows of {ds.name} since {since} ({time_column} runs from {span}); give an earlier --since."


def window_table(windows: pd.DataFrame, drift: pd.DataFrame, fired: pd.DataFrame) -> pd.DataFrame:
    """The window table with each window's worst feature and alert count. Columns: MONITOR_COLUMNS."""
    table = windows.copy()
    if len(drift):
        worst = drift.dropna(subset=["psi"]).sort_values(["start", "psi"], ascending=[True, False]).drop_duplicates("start")
        by_start = worst.set_index("start")
        table["max_feature_psi"] = table["start"].map(by_start["psi"]).astype(float)
        table["top_feature"] = table["start"].map(by_start["feature"]).astype(object)
    else:
        table["max_feature_psi"], table["top_feature"] = np.nan, None
    per_window = fired.groupby("window_start").size() if len(fired) else pd.Series(dtype=int)
    table["alerts"] = table["start"].map(per_window).fillna(0).astype(int)
    return table[MONITOR_COLUMNS]

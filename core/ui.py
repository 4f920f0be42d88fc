"""Streamlit wiring shared by pages: a cursor per call over one sandboxed database, caching by data fingerprint, errors."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from contextlib import contextmanager

import duckdb
import pandas as pd
import streamlit as st

from core import catalog, data, jobs, runs, settings, sqlbox, upload
from core.diagnostics import diagnose, explain
from core.errors import WorkbenchError


@st.cache_resource(show_spinner=False)
def _connection(root: str) -> duckdb.DuckDBPyConnection:
    # Shared by every session and thread, so never queried itself: a connection serves one call at a time and
    # refuses a second (ResourceInUseException). Each call takes a cursor of its own (`cursor`), which keeps the
    # locked sandbox settings, the views and the root macro.
    return data.connect(root)


def root() -> str:
    return str(settings.get("data_root"))


@contextmanager
def cursor(base: str | None = None):
    """A DuckDB cursor of this call's own over the process's sandboxed database for the data root."""
    with _connection(base or root()).cursor() as own:
        yield own


@st.cache_data(show_spinner=False, max_entries=256)
def _call(module: str, name: str, key: str, root: str, args: tuple, kwargs: dict):
    # `key` is the data fingerprint: it is part of the cache key, never read here.
    fn = getattr(importlib.import_module(module), name)
    with cursor(root) as own:
        return fn(own, *args, **kwargs)


def cached(fn: Callable, dataset: str, *args, **kwargs):
    """`fn(con, dataset, *args)`, cached until the dataset's files change."""
    return cached_for(dataset, fn, dataset, *args, **kwargs)


def cached_for(dataset: str, fn: Callable, *args, **kwargs):
    """`fn(con, *args)` from core, cached until the files of `dataset` change."""
    base = root()
    key = catalog.resolve(dataset, base).fingerprint  # files only: no DuckDB call before the cache answers
    return _call(fn.__module__, fn.__name__, key, base, args, kwargs)


def datasets() -> pd.DataFrame:
    """The dataset list, recounted only when a file under the data root changes."""
    base = root()
    key = hashlib.sha1("".join(ds.fingerprint for ds in catalog.discover(base)).encode()).hexdigest()
    return _call("core.data", "datasets", key, base, (), {})


@contextmanager
def shown_errors():
    """Shows a WorkbenchError as st.error and skips the rest of the block; other errors are bugs."""
    try:
        yield
    except WorkbenchError as err:
        st.error(str(err))


def or_stop(fn: Callable, *args, **kwargs):
    """`fn(*args)`, or show its WorkbenchError and stop the page: what follows needs the result."""
    try:
        return fn(*args, **kwargs)
    except WorkbenchError as err:
        st.error(str(err))
        st.stop()


def watched_job(key: str) -> tuple[str, pd.Series] | None:
    """The run id the session holds under `key` and its job-board row, or None (nothing launched, or not listed yet)."""
    run_id = st.session_state.get(key)
    if not run_id:
        return None
    board = or_stop(jobs.list_jobs).set_index("run_id")
    return (run_id, board.loc[run_id]) if run_id in board.index else None


def run_sql(query: str, dataset: str | None = None, filters: tuple = ()) -> pd.DataFrame:
    """The SQL box's query on a cursor of its own, optionally over the dataset's filtered rows (never cached)."""
    with cursor() as own:
        return sqlbox.run_sql(own, query, dataset=dataset, filters=filters)


def save_upload(uploaded, overwrite: bool, to_parquet: bool):
    """Stores a file from st.file_uploader under the data root (core.upload); returns the Upload."""
    with cursor() as own:
        return upload.save_upload(uploaded, uploaded.name, con=own, root=root(), overwrite=overwrite, to_parquet=to_parquet)


def choice(label: str, options: list, default, key: str, **kwargs):
    """A selectbox whose value lives in session state (so other pages can preset it) and
    falls back to `default` when the options no longer hold it."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else (options[0] if options else None)
    return st.selectbox(label, options, key=key, **kwargs)


def param_widget(param, key: str, container=st):
    """A widget for one hyperparameter of a model family's table."""
    if param.choices:
        return container.selectbox(param.name, param.choices, index=param.choices.index(param.default), key=key, help=param.help)
    if param.type is bool:
        return container.checkbox(param.name, value=param.default, key=key, help=param.help)
    if param.type is str:
        return container.text_input(param.name, value=param.default, key=key, help=param.help)
    if param.type is int:
        return container.number_input(
            param.name, min_value=param.low, max_value=param.high, value=param.default, step=1, key=key, help=param.help
        )
    return container.number_input(
        param.name,
        min_value=float(param.low),
        max_value=float(param.high),
        value=float(param.default),
        key=key,
        help=param.help,
        format="%g",
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def run_predictions(run_id: str) -> pd.DataFrame:
    """A finished run's predictions, read once per process (artifacts of a finished run do not change) and prepared for
    the tabs (`diagnose.prepared`: in score order, segments as categoricals); do not mutate."""
    return diagnose.prepared(runs.predictions(run_id))


@st.cache_resource(show_spinner=False, max_entries=16)
def run_subset(run_id: str, filters: tuple) -> pd.DataFrame:
    """The run's predictions that pass the page filter; do not mutate."""
    return runs.subset(run_predictions(run_id), filters)


@st.cache_resource(show_spinner=False, max_entries=256)
def _on_run(module: str, name: str, run_id: str, filters: tuple, args: tuple, kwargs: tuple):
    fn = getattr(importlib.import_module(module), name)
    return fn(run_subset(run_id, filters), *args, **dict(kwargs))


def on_run(fn: Callable, run_id: str, filters: tuple, *args, **kwargs):
    """`fn(predictions, *args)` on the run's filtered predictions, computed once per input (results are shared: do not mutate)."""
    return _on_run(fn.__module__, fn.__name__, run_id, tuple(filters), args, tuple(sorted(kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=4)
def run_explanation(run_id: str) -> pd.DataFrame | None:
    """A finished run's SHAP sample (or None), read once per process; do not mutate."""
    return runs.explanation(run_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def run_joined(run_id: str) -> pd.DataFrame:
    """The SHAP sample with the time and segment columns of its prediction rows; do not mutate."""
    predictions = run_predictions(run_id)
    extra = [c for c in predictions.columns if c not in ("row", "y", "score", "score_raw")]
    return explain.joined(run_explanation(run_id), predictions, extra)


@st.cache_resource(show_spinner=False, max_entries=16)
def run_shap_subset(run_id: str, filters: tuple) -> pd.DataFrame:
    """The SHAP sample rows that pass the page filter (filters on columns the sample lacks are skipped); do not mutate."""
    joined = run_joined(run_id)
    return runs.subset(joined, [f for f in filters if f[0] in joined])


@st.cache_resource(show_spinner=False, max_entries=128)
def _on_shap(module: str, name: str, run_id: str, filters: tuple, args: tuple):
    return getattr(importlib.import_module(module), name)(run_shap_subset(run_id, filters), *args)


def on_shap(fn: Callable, run_id: str, filters: tuple, *args):
    """`fn(shap_sample, *args)` on the run's filtered SHAP sample, computed once per input (shared: do not mutate)."""
    return _on_shap(fn.__module__, fn.__name__, run_id, tuple(filters), args)


@st.cache_resource(show_spinner=False, max_entries=8)
def paired(model: str, challenger: int, champion: int) -> pd.DataFrame:
    """Both versions' scores on the challenger's test rows (versions do not change, so this is read once); do not mutate."""
    from core import compare  # loads models: only on the Registry page

    return compare.paired_scores(model, challenger, champion)


@st.cache_resource(show_spinner=False, max_entries=8)
def monitor_pass(run_id: str):
    """A finished monitoring pass's tables (core.monitoring.summary.load), read once per process; do not mutate."""
    from core.monitoring import summary

    return summary.load(run_id)

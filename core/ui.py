"""Streamlit wiring shared by pages: the one connection, caching by data fingerprint, errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import contextmanager

import duckdb
import pandas as pd
import streamlit as st

from core import catalog, data, settings
from core.errors import WorkbenchError


@st.cache_resource(show_spinner=False)
def _connection(root: str) -> duckdb.DuckDBPyConnection:
    return data.connect(root)


def root() -> str:
    return str(settings.get("data_root"))


def connection() -> duckdb.DuckDBPyConnection:
    """The process's sandboxed DuckDB connection for the current data root."""
    return _connection(root())


@st.cache_data(show_spinner=False, max_entries=256)
def _call(name: str, key: str, root: str, args: tuple, kwargs: dict):
    # `key` is the data fingerprint: it is part of the cache key, never read here.
    with _connection(root).cursor() as cursor:
        return getattr(data, name)(cursor, *args, **kwargs)


def cached(fn: Callable, dataset: str, *args, **kwargs):
    """`fn(con, dataset, *args)` from core.data, cached until the dataset's files change."""
    base = root()
    key = data.fingerprint(_connection(base), dataset)
    return _call(fn.__name__, key, base, (dataset, *args), kwargs)


def datasets() -> pd.DataFrame:
    """The dataset list, recounted only when a file under the data root changes."""
    base = root()
    key = hashlib.sha1("".join(ds.fingerprint for ds in catalog.discover(base)).encode()).hexdigest()
    return _call("datasets", key, base, (), {})


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


def run_sql(query: str) -> pd.DataFrame:
    """The SQL box's query on a cursor of its own (never cached: the user asked to run it)."""
    with connection().cursor() as cursor:
        return data.run_sql(cursor, query)

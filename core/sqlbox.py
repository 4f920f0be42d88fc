"""The SQL box: one view per dataset and read-only user SQL over them, optionally under the page's filters.

A dataset DuckDB cannot read gets no view; a query naming it is refused with the reason, and the
other datasets keep working.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import duckdb
import pandas as pd

from core import catalog, settings
from core.catalog import Dataset
from core.data import columns, first_line, resolve, root_of, source
from core.errors import DataError, QueryError
from core.sql import Filter, compile_filters, ident, literal

_views_lock = threading.Lock()


def register_views(con: duckdb.DuckDBPyConnection, found: Sequence[Dataset]) -> dict[str, str]:
    """One view per readable dataset, named as the dataset (`FROM "demo"`); returns {name: reason} for the others."""
    broken = {}
    with _views_lock:
        for ds in found:
            try:
                src, params = source(ds)
                body = src.replace("?", literal(params[0]), 1)
                con.execute(f"CREATE OR REPLACE VIEW {ident(ds.name)} AS SELECT * FROM {body}")
            except (duckdb.Error, DataError) as err:
                broken[ds.name] = first_line(err)
                # A file that broke since its view was made must not be read through the old view.
                con.execute(f"DROP VIEW IF EXISTS {ident(ds.name)}")
    return broken


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _refuse_statement(statement) -> QueryError:
    first = statement.query.split(None, 1)[0].upper() if statement.query.strip() else ""
    kind = first if first.isalpha() else statement.type.name
    return QueryError(
        f"This is {_article(kind)} {kind} statement; only read-only SELECT queries run here "
        '(write one SELECT … FROM "dataset", or WITH … SELECT).'
    )


def _unreadable(name: str, reason: str) -> QueryError:
    return QueryError(f"Dataset {name!r} cannot be read, so it has no view: {reason} Fix or replace that file; the other datasets work.")


def _named_broken(con, body: str, broken: dict[str, str]) -> None:
    if not broken:
        return
    try:
        named = con.get_table_names(body)
    except duckdb.Error:  # the query itself fails to bind: running it gives the better message
        named = set()
    for name in sorted(named & set(broken)):
        raise _unreadable(name, broken[name])


def filter_cte(con: duckdb.DuckDBPyConnection, dataset: str | Dataset, filters: Sequence[Filter]) -> tuple[str, list, str]:
    """A WITH clause that shadows the dataset's view by its filtered rows: SQL with `?`, its params, and a readable copy."""
    ds = resolve(con, dataset)
    where, params = compile_filters(filters, columns(con, ds))
    cte = f"WITH {ident(ds.name)} AS (SELECT * FROM {ident(ds.name)} WHERE {where})"
    shown = iter(params)
    # For reading only (the query runs with the values bound): each `?` outside a quoted name shows its value.
    readable = re.sub(r'"(?:[^"]|"")*"|\?', lambda m: m.group() if m.group() != "?" else literal(next(shown)), cte)
    readable = readable.replace("WHERE TRUE AND ", "WHERE ")
    return cte, params, readable


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    limit: int | None = None,
    timeout_s: float | None = None,
    dataset: str | Dataset | None = None,
    filters: Sequence[Filter] = (),
) -> pd.DataFrame:
    """One read-only SELECT over the dataset views, at most `limit` rows, stopped after `timeout_s`.

    With `dataset` and `filters`, the query reads that dataset's filtered rows under its usual name.
    `frame.attrs["truncated"]` says whether more rows existed. Anything else is a QueryError.
    """
    limit = limit or settings.get("sql_row_limit")
    timeout_s = timeout_s or settings.get("sql_timeout_s")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(f"The SQL does not parse: {first_line(err)}") from None
    if len(statements) != 1:
        raise QueryError(f"Run exactly one statement at a time; this SQL holds {len(statements)}.")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise _refuse_statement(statement)
    broken = register_views(con, catalog.discover(root_of(con)))
    body = statement.query.strip().rstrip(";")
    _named_broken(con, body, broken)
    prefix, params = "", []
    if dataset is not None and filters:
        try:
            prefix, params, _ = filter_cte(con, dataset, filters)
        except DataError as err:
            raise QueryError(str(err)) from None
    cursor = con.cursor()
    timer = threading.Timer(timeout_s, cursor.interrupt)
    timer.start()
    try:
        frame = cursor.execute(f"{prefix}\nSELECT * FROM (\n{body}\n) AS query LIMIT ?", [*params, limit + 1]).df()
    except duckdb.InterruptException:
        raise QueryError(f"The query was stopped after {timeout_s:g} s (WB_SQL_TIMEOUT_S); filter or aggregate more.") from None
    except duckdb.PermissionException as err:
        raise QueryError(f"Refused: the query reads outside the data root. {first_line(err)}") from None
    except duckdb.Error as err:
        raise QueryError(first_line(err)) from None
    finally:
        timer.cancel()
        cursor.close()
    truncated = len(frame) > limit
    frame = frame.head(limit)
    frame.attrs["truncated"] = truncated
    return frame

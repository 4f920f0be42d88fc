"""The SQL box: one view per dataset and read-only user SQL over them, optionally under the page's filters.

A dataset DuckDB cannot read gets no view; a query naming it is refused with the reason, and the
other datasets keep working.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence

import duckdb
import pandas as pd

from core import catalog, settings
from core.catalog import Dataset
from core.data import columns, first_line, resolve, root_of, source, spill_parent
from core.errors import DataError, QueryError
from core.sql import Filter, compile_filters, ident, literal

_views_lock = threading.Lock()

# Table functions a query may read through: files (DuckDB checks each path against the sandbox) and generators.
# Everything else is refused: DuckDB's own catalogue and settings, SQL built from text (query, query_table,
# json_execute_serialized_sql), Python objects by address (arrow_scan, pandas_scan), logging and checkpoints.
TABLE_FUNCTIONS = frozenset({
    "read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json", "read_json_auto", "read_ndjson",
    "read_ndjson_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson_objects", "read_text", "read_blob",
    "glob", "sniff_csv", "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
    "range", "generate_series", "unnest", "repeat", "json_each", "json_tree",
})  # fmt: skip
# Scalar functions that read the configuration (it names the sandbox's folders) or the environment.
REFUSED_FUNCTIONS = frozenset({"current_setting", "getenv", "getvariable"})
# Views DuckDB keeps over its own catalogue and settings (pg_settings, duckdb_tables, information_schema.*).
SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
# Query parts that only read. DuckDB also parses `WITH x AS (COPY … / INSERT … / DELETE …) SELECT …` as one
# SELECT statement that writes, so every other kind of part is refused.
READ_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})


def register_views(con: duckdb.DuckDBPyConnection, found: Sequence[Dataset]) -> dict[str, str]:
    """One view per readable dataset, named as the dataset (`FROM "demo"`); returns {name: reason} for the others."""
    broken = {}
    with _views_lock:
        for ds in found:
            try:
                src, params = source(ds)
                body = src.replace("?", literal(params[0]), 1)
                con.execute(f"CREATE OR REPLACE VIEW {ident(ds.name)} AS SELECT * FROM {body}")
                columns(con, ds)  # a CSV whose lines disagree on their fields reads as one column: no view for it
            except (duckdb.Error, DataError) as err:
                broken[ds.name] = first_line(err)
                # A file that broke since its view was made must not be read through the old view.
                con.execute(f"DROP VIEW IF EXISTS {ident(ds.name)}")
    return broken


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIO" or (word[:1].upper() == "U" and word.upper() != "USE") else "a"


def _statement_body(query: str) -> str:
    """The statement without its closing `;` and any comment after it (DuckDB keeps both in the statement's text)."""
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    if tokens and tokens[-1][1] == duckdb.token_type.operator and query[tokens[-1][0]] == ";":
        return query[: tokens[-1][0]].strip()
    return query.strip()


def _refuse_statement(statement) -> QueryError:
    first = statement.query.split(None, 1)[0].upper() if statement.query.strip() else ""
    kind = first if first.isalpha() else statement.type.name
    return QueryError(
        f"This is {_article(kind)} {kind} statement; only read-only SELECT queries run here "
        '(write one SELECT … FROM "dataset", or WITH … SELECT).'
    )


def _not_here(what: str) -> QueryError:
    return QueryError(
        f'{what} is not available in the SQL box: it reads the datasets (FROM "name") and files under the data root, '
        "not DuckDB's settings, catalogue or temporary files."
    )


def _nodes(tree):
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _system_views(con) -> set[str]:
    """DuckDB's own views a query can name without a schema (duckdb_tables, pg_settings, sqlite_master, …)."""
    found = con.execute("SELECT view_name FROM duckdb_views() WHERE internal AND schema_name <> 'information_schema'")
    return {name.lower() for (name,) in found.fetchall()}


def _refuse_unsafe(con, body: str) -> None:
    """Refuses a SELECT that calls a function, or names a view or file, outside what the SQL box may read.

    The check reads DuckDB's own parse of the query, so quoting, comments, `schema.` prefixes and
    `x.f()` call syntax cannot hide a name; the folder DuckDB spills into is refused by its name too,
    since DuckDB adds its temp folder to the readable ones.
    """
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [body]).fetchall()[0][0])
    if tree.get("error"):
        raise QueryError(f"The SQL does not parse: {tree.get('error_message', 'unknown error')}")
    system_views = None
    for node in _nodes(tree["statements"]):
        kind = str(node.get("type", ""))
        if kind.endswith("_NODE") and kind not in READ_NODES:
            word = kind.removesuffix("_NODE").removesuffix("_QUERY")
            raise QueryError(
                f"This query holds {_article(word)} {word} inside a WITH; only read-only SELECT queries run here "
                '(write one SELECT … FROM "dataset", or WITH … SELECT).'
            )
        if kind == "TABLE_FUNCTION":
            name = str(node["function"]["function_name"]).lower()
            if name not in TABLE_FUNCTIONS:
                raise _not_here(f"Table function {name}()")
        elif node.get("class") == "FUNCTION" and str(node.get("function_name")).lower() in REFUSED_FUNCTIONS:
            raise _not_here(f"{str(node['function_name']).lower()}()")
        elif kind == "BASE_TABLE":
            name, schema = str(node.get("table_name", "")).lower(), str(node.get("schema_name", "")).lower()
            system_views = _system_views(con) if system_views is None else system_views
            if schema in SYSTEM_SCHEMAS or str(node.get("catalog_name", "")).lower() == "system" or name in system_views:
                raise _not_here(f"DuckDB's view {name}")
    if spill_parent().name.lower() in body.lower():
        raise _not_here("DuckDB's temporary folder")


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
    body = _statement_body(statement.query)
    _refuse_unsafe(con, body)
    broken = register_views(con, catalog.discover(root_of(con)))
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
        raise QueryError(first_line(err).replace(str(spill_parent()), "<DuckDB's temporary folder>")) from None
    finally:
        timer.cancel()
        cursor.close()
    truncated = len(frame) > limit
    frame = frame.head(limit)
    frame.attrs["truncated"] = truncated
    return frame

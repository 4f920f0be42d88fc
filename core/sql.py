"""Writing SQL safely: one identifier-quoting helper, filters and targets with bound parameters.

A filter is a tuple `(column, op, value)`. Values never enter SQL text; they are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from core.errors import DataError

Filter = tuple[str, str, object]

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "between", "is null", "is not null")
LIST_OPS = ("in", "not in")
NULL_OPS = ("is null", "is not null")
TRUTHY = ("1", "1.0", "true", "t", "yes", "y")
FALSY = ("0", "0.0", "false", "f", "no", "n")
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip


def ident(name: str) -> str:
    """A column or view name quoted for DuckDB (double quotes doubled inside)."""
    return '"' + str(name).replace('"', '""') + '"'


def is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC)


def is_temporal(sql_type: str) -> bool:
    return sql_type.upper().startswith(("DATE", "TIMESTAMP"))


def is_nested(sql_type: str) -> bool:
    """LIST, array, STRUCT, MAP and UNION columns: values no model family reads."""
    return sql_type.upper().endswith("]") or sql_type.upper().startswith(("STRUCT", "MAP", "UNION"))


def _split_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, Iterable) else [value]


def make_filter(column: str, op: str, value: object = None) -> Filter:
    """A checked filter tuple; text values for `in` are split on commas, `between` on comma or 'and'."""
    op = " ".join(str(op).lower().split())
    if op not in OPS:
        raise DataError(f"Unknown filter operator {op!r}; use one of: {', '.join(OPS)}.")
    if op in NULL_OPS:
        return (column, op, None)
    if op in LIST_OPS:
        values = _split_list(value)
        if not values:
            raise DataError(f"Filter '{column} {op}' needs at least one value (comma-separated).")
        return (column, op, tuple(values))
    if op == "between":
        bounds = re.split(r"\s*,\s*|\s+and\s+", value.strip(), flags=re.I) if isinstance(value, str) else _split_list(value)
        if len(bounds) != 2 or "" in bounds:
            raise DataError(f"Filter '{column} between' needs two values, like '1, 5'.")
        return (column, op, tuple(bounds))
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"Filter '{column} {op}' needs a value.")
    return (column, op, value.strip() if isinstance(value, str) else value)


_FILTER_TEXT = re.compile(
    r'^\s*("(?:[^"]|"")+"|\S+)\s+(is\s+not\s+null|is\s+null|not\s+in|in|between|!=|<=|>=|=|<|>)(?:\s+(.*?))?\s*$',
    re.I,
)


def parse_filter(text: str) -> Filter:
    """A filter from text such as `country = US`, `hour between 9 and 17`, `"my col" in a, b`."""
    match = _FILTER_TEXT.match(text or "")
    if not match:
        raise DataError(f"Cannot read filter {text!r}; write it as 'column op value', e.g. 'country = US'.")
    column, op, value = match.groups()
    if column.startswith('"'):
        column = column[1:-1].replace('""', '"')
    return make_filter(column, op, value)


def describe_filter(item: Filter) -> str:
    """A filter as one readable line."""
    column, op, value = item
    if op in NULL_OPS:
        return f"{column} {op}"
    if op == "between":
        return f"{column} between {value[0]} and {value[1]}"
    if op in LIST_OPS:
        return f"{column} {op} ({', '.join(map(str, value))})"
    return f"{column} {op} {value}"


def compile_filters(filters: Sequence[Filter], columns: Mapping[str, str]) -> tuple[str, list]:
    """A WHERE clause (`TRUE` when empty) and its parameters; unknown columns are a DataError."""
    clauses, params = ["TRUE"], []
    for item in filters:
        column, op, value = make_filter(*item)
        if column not in columns:
            raise DataError(f"Unknown column {column!r} in filter; columns are: {', '.join(columns)}.")
        col = ident(column)
        if op in NULL_OPS:
            clauses.append(f"{col} {op.upper()}")
        elif op in LIST_OPS:
            clauses.append(f"{col} {op.upper()} ({', '.join('?' * len(value))})")
            params += list(value)
        elif op == "between":
            clauses.append(f"{col} BETWEEN ? AND ?")
            params += list(value)
        else:
            clauses.append(f"{col} {op} ?")
            params.append(value)
    return " AND ".join(clauses), params


def positive_condition(target: str, sql_type: str, positive_value: object = None) -> tuple[str, list]:
    """A SQL condition true where the target is positive (NULL where it is missing), and its params.

    The positive value is matched as text, case-insensitively: `true`, `yes` and `1` all mean
    true; None means true/1/yes. Bool, numeric and text targets are accepted.
    """
    col = ident(target)
    text = None if positive_value is None else str(positive_value).strip().lower()
    upper = sql_type.upper()
    if upper == "BOOLEAN":
        if text is None or text in TRUTHY:
            return col, []
        if text in FALSY:
            return f"NOT {col}", []
        raise DataError(f"Target {target!r} is true/false; positive value {positive_value!r} is neither.")
    if is_numeric(upper):
        if text is None or text in TRUTHY:
            number = 1
        elif text in FALSY:
            number = 0
        else:
            try:
                number = float(text)
            except ValueError:
                raise DataError(f"Target {target!r} is numeric; positive value {positive_value!r} is not a number.") from None
            number = int(number) if number.is_integer() else number  # an integer compares without casting the column
        return f"{col} = ?", [number]
    if upper.startswith("VARCHAR"):
        values = list(TRUTHY) if text is None or text in TRUTHY else [text]
        return f"lower(trim({col})) IN ({', '.join('?' * len(values))})", values
    raise DataError(f"Target {target!r} has type {sql_type}; pick a 0/1, true/false or text column.")


def literal(text: str) -> str:
    """A string quoted as a SQL literal, for DDL that cannot take parameters (view bodies)."""
    return "'" + str(text).replace("'", "''") + "'"

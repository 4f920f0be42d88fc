import json

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataError
from core.sql import compile_filters, describe_filter, ident, make_filter, parse_filter, positive_condition

COLUMNS = {"country": "VARCHAR", "hour": "INTEGER", "my col": "DOUBLE"}


def test_ident_quotes_and_doubles_inner_quotes():
    assert ident("a") == '"a"'
    assert ident('we"ird') == '"we""ird"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country = US", ("country", "=", "US")),
        ("hour >= 9", ("hour", ">=", "9")),
        ("hour between 9 and 17", ("hour", "between", ("9", "17"))),
        ("hour BETWEEN 9, 17", ("hour", "between", ("9", "17"))),
        ("country in US, GB ,DE", ("country", "in", ("US", "GB", "DE"))),
        ("country not in US", ("country", "not in", ("US",))),
        ("country is null", ("country", "is null", None)),
        ("country IS NOT NULL", ("country", "is not null", None)),
        ('"my col" < 2.5', ("my col", "<", "2.5")),
    ],
)
def test_parse_filter(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", ["country", "country ~ US", "hour between 9", "country in", "country ="])
def test_parse_filter_refuses_what_it_cannot_read(text):
    with pytest.raises(DataError):
        parse_filter(text)


def test_compile_binds_every_value():
    where, params = compile_filters(
        [("country", "in", ["US", "GB"]), ("hour", "between", (9, 17)), ("my col", "is null", None), ("country", "!=", "x' OR 1=1 --")],
        COLUMNS,
    )
    assert where == 'TRUE AND "country" IN (?, ?) AND "hour" BETWEEN ? AND ? AND "my col" IS NULL AND "country" != ?'
    assert params == ["US", "GB", 9, 17, "x' OR 1=1 --"]


def test_compile_refuses_unknown_columns_and_ops():
    with pytest.raises(DataError, match="Unknown column 'nope'"):
        compile_filters([("nope", "=", 1)], COLUMNS)
    with pytest.raises(DataError, match="Unknown filter operator"):
        compile_filters([("hour", "like", 1)], COLUMNS)


def test_describe_filter():
    assert describe_filter(make_filter("hour", "between", "9, 17")) == "hour between 9 and 17"
    assert describe_filter(make_filter("country", "in", "US, GB")) == "country in (US, GB)"
    assert describe_filter(make_filter("country", "is null")) == "country is null"


def test_positive_condition_by_type():
    assert positive_condition("b", "BOOLEAN") == ('"b"', [])
    assert positive_condition("b", "BOOLEAN", "no") == ('NOT "b"', [])
    assert positive_condition("y", "TINYINT", "Yes") == ('"y" = ?', [1])
    assert positive_condition("y", "BIGINT", "0") == ('"y" = ?', [0])
    assert positive_condition("y", "DOUBLE", "2.5") == ('"y" = ?', [2.5])
    sql, params = positive_condition("s", "VARCHAR", " Bought ")
    assert sql == 'lower(trim("s")) IN (?)' and params == ["bought"]
    with pytest.raises(DataError, match="not a number"):
        positive_condition("y", "INTEGER", "maybe")
    with pytest.raises(DataError, match="has type DATE"):
        positive_condition("d", "DATE")


# Property: whatever text a filter's column name or values hold, the compiled SQL is one SELECT over that one column
# whose values are all parameters, and it picks the rows pandas picks.
ANY_TEXT = st.text(max_size=10)
PICKS = {
    "=": lambda s, v: s == v[0],
    "!=": lambda s, v: s.notna() & (s != v[0]),
    "<": lambda s, v: s.notna() & (s < v[0]),
    "<=": lambda s, v: s.notna() & (s <= v[0]),
    ">": lambda s, v: s.notna() & (s > v[0]),
    ">=": lambda s, v: s.notna() & (s >= v[0]),
    "in": lambda s, v: s.isin(v),
    "not in": lambda s, v: s.notna() & ~s.isin(v),
    "between": lambda s, v: s.notna() & (s >= v[0]) & (s <= v[1]),
    "is null": lambda s, v: s.isna(),
    "is not null": lambda s, v: s.notna(),
}


def _nodes(tree):
    if isinstance(tree, dict):
        yield tree
        yield from (node for value in tree.values() for node in _nodes(value))
    elif isinstance(tree, list):
        yield from (node for value in tree for node in _nodes(value))


@pytest.fixture(scope="module")
def plain_con():
    return duckdb.connect()


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=10).filter(lambda n: n.lower() != "__k"),
    op=st.sampled_from(sorted(PICKS)),
    text=ANY_TEXT,
    listed=st.lists(ANY_TEXT, min_size=1, max_size=3),
    as_list=st.booleans(),
    others=st.lists(ANY_TEXT, max_size=4),
)
def test_any_name_and_value_stay_a_name_and_values(plain_con, name, op, text, listed, as_list, others):
    raw = listed if as_list and op in ("in", "not in", "between") else text  # list operators also split text
    try:
        column, op, value = make_filter(name, op, raw)
    except DataError:
        return  # a blank value, or a between without two values: refused before any SQL is written
    values = [] if value is None else list(value) if isinstance(value, tuple) else [value]
    where, params = compile_filters([(column, op, value)], {name: "VARCHAR"})
    assert params == values
    sql = f"SELECT __k FROM frame WHERE {where} ORDER BY __k"
    statements = plain_con.extract_statements(sql)
    assert [s.type for s in statements] == [duckdb.StatementType.SELECT]
    tree = json.loads(plain_con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    nodes = list(_nodes(tree["statements"]))
    assert sum(node.get("class") == "PARAMETER" for node in nodes) == len(params)
    assert {tuple(node["column_names"]) for node in nodes if node.get("class") == "COLUMN_REF"} <= {(name,), ("__k",)}
    assert not [node for node in nodes if node.get("class") == "CONSTANT" and node["literal"].get("kind") == "STRING"]
    frame = pd.DataFrame({name: [*values, *others, None], "__k": range(len(values) + len(others) + 1)})
    plain_con.register("frame", frame)
    try:
        got = plain_con.execute(sql, params).fetchall()
    finally:
        plain_con.unregister("frame")
    assert [k for (k,) in got] == frame.loc[PICKS[op](frame[name], values), "__k"].tolist()

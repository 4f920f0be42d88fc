import pytest

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

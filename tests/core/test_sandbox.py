"""The SQL box reads, and only reads, inside the sandbox: one test per escape."""

import os

import duckdb
import pytest

from core import data, sqlbox
from core.errors import QueryError


@pytest.fixture
def root(tiny_root):
    return tiny_root


def test_a_select_over_a_dataset_view(tiny_con):
    frame = sqlbox.run_sql(
        tiny_con, 'SELECT channel, sum(converted) AS positives FROM "tiny.parquet" GROUP BY ALL ORDER BY channel NULLS LAST;'
    )
    assert frame["channel"].tolist()[:3] == ["email", "search", "social"]
    assert frame["positives"].tolist() == [0, 2, 2, 1]
    assert frame.attrs["truncated"] is False


def test_row_limit_truncates_and_says_so(tiny_con):
    frame = sqlbox.run_sql(tiny_con, 'SELECT * FROM "events" -- a trailing comment', limit=4)
    assert len(frame) == 4
    assert frame.attrs["truncated"] is True


def test_copy_into_the_data_root_is_refused(tiny_con, root):
    target = root / "leak.csv"
    with pytest.raises(QueryError, match="COPY"):
        sqlbox.run_sql(tiny_con, f"COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE TABLE t AS SELECT 1", "a CREATE"),
        ("INSERT INTO t VALUES (1)", "an INSERT"),
        ("ATTACH 'other.db' AS other", "an ATTACH"),
        ("-- a comment first\nINSTALL httpfs", "an INSTALL"),
        ("LOAD httpfs", "a LOAD"),
        ("SET enable_external_access = true", "a SET"),
        ("PRAGMA version", "a PRAGMA"),
        ('DROP VIEW "tiny.parquet"', "a DROP"),
        ("EXPORT DATABASE 'dump'", "an EXPORT"),
        ("UPDATE t SET a = 1", "an UPDATE"),
    ],
)
def test_statements_other_than_select_are_refused(tiny_con, sql, kind):
    with pytest.raises(QueryError) as refused:
        sqlbox.run_sql(tiny_con, sql)
    assert str(refused.value) == (
        f'This is {kind} statement; only read-only SELECT queries run here (write one SELECT … FROM "dataset", or WITH … SELECT).'
    )


def test_more_than_one_statement_is_refused(tiny_con):
    with pytest.raises(QueryError, match="holds 2"):
        sqlbox.run_sql(tiny_con, 'SELECT 1; DROP VIEW "tiny.parquet"')
    assert len(sqlbox.run_sql(tiny_con, 'SELECT * FROM "tiny.parquet"')) == 10


def test_reading_outside_the_root_is_refused(tiny_con):
    with pytest.raises(QueryError, match="outside the data root"):
        sqlbox.run_sql(tiny_con, "SELECT * FROM read_csv('/etc/passwd')")


def test_a_link_inside_the_root_to_outside_is_refused(tmp_path):
    os.symlink("/etc", tmp_path / "etc")
    con = data.connect(tmp_path)
    with pytest.raises(QueryError, match="outside the data root"):
        sqlbox.run_sql(con, f"SELECT * FROM read_csv('{tmp_path}/etc/passwd')")


def test_a_copy_hidden_in_query_is_refused(tiny_con, root):
    with pytest.raises(QueryError):
        sqlbox.run_sql(tiny_con, f"SELECT * FROM query('COPY (SELECT 1) TO ''{root}/x.csv''')")
    assert not (root / "x.csv").exists()


def test_a_slow_query_is_stopped_and_the_connection_lives_on(tiny_con):
    with pytest.raises(QueryError, match="stopped after 0.3 s"):
        sqlbox.run_sql(tiny_con, "SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.range * b.range = 7", timeout_s=0.3)
    assert sqlbox.run_sql(tiny_con, "SELECT 42 AS answer")["answer"].tolist() == [42]


def test_syntax_and_catalog_errors_are_query_errors(tiny_con):
    with pytest.raises(QueryError, match="does not parse"):
        sqlbox.run_sql(tiny_con, "SELEC 1")
    with pytest.raises(QueryError, match="nope"):
        sqlbox.run_sql(tiny_con, "SELECT * FROM nope")


def test_the_configuration_is_locked(tiny_con):
    with pytest.raises(duckdb.Error):
        tiny_con.execute("SET enable_external_access = true")


@pytest.fixture
def root_with_broken_files(tmp_path):
    """Good datasets beside a truncated parquet file and a folder with one truncated partition."""
    from tests.conftest import TINY

    TINY.to_parquet(tmp_path / "good.parquet", index=False)
    TINY.to_csv(tmp_path / "good.csv", index=False)
    whole = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    for month in ("01", "02"):
        (tmp_path / "ev" / f"m={month}").mkdir(parents=True)
        TINY.to_parquet(tmp_path / "ev" / f"m={month}" / "p.parquet", index=False)
    (tmp_path / "ev" / "m=02" / "p.parquet").write_bytes(whole[:100])
    return tmp_path


def test_a_truncated_file_leaves_the_other_datasets_queryable(root_with_broken_files):
    con = data.connect(root_with_broken_files)
    listing = data.datasets(con).set_index("name")
    assert listing.loc["good.parquet", "rows"] == 10 and listing.loc["good.csv", "rows"] == 10
    assert "No magic bytes found at end of file" in listing.loc["cut.parquet", "error"]
    assert "m=02/p.parquet" in listing.loc["ev", "error"]
    assert sqlbox.run_sql(con, 'SELECT count(*) AS n FROM "good.parquet"')["n"].tolist() == [10]
    joined = sqlbox.run_sql(con, 'SELECT count(*) AS n FROM "good.parquet" JOIN "good.csv" USING (hour)')
    assert joined["n"].tolist() == [10]


@pytest.mark.parametrize(("name", "file"), [("cut.parquet", "cut.parquet"), ("ev", "m=02/p.parquet")])
def test_a_query_naming_an_unreadable_dataset_says_which_and_why(root_with_broken_files, name, file):
    con = data.connect(root_with_broken_files)
    with pytest.raises(QueryError) as refused:
        sqlbox.run_sql(con, f'WITH x AS (SELECT * FROM "{name}") SELECT count(*) FROM x')
    message = str(refused.value)
    assert message.startswith(f"Dataset '{name}' cannot be read, so it has no view: Invalid Input Error: No magic bytes")
    assert file in message and message.endswith("Fix or replace that file; the other datasets work.")


def test_a_file_that_breaks_after_its_view_was_made_is_refused_too(tmp_path):
    from tests.conftest import TINY

    TINY.to_parquet(tmp_path / "once.parquet", index=False)
    con = data.connect(tmp_path)
    assert sqlbox.run_sql(con, 'SELECT count(*) AS n FROM "once.parquet"')["n"].tolist() == [10]
    (tmp_path / "once.parquet").write_bytes(b"PAR1 no longer parquet")
    with pytest.raises(QueryError, match="Dataset 'once.parquet' cannot be read"):
        sqlbox.run_sql(con, 'SELECT count(*) AS n FROM "once.parquet"')


def test_sidebar_filters_apply_as_a_visible_cte_with_bound_values(tiny_con):
    filters = [("channel", "in", ("search", "social")), ("hour", ">=", "10")]
    cte, params, readable = sqlbox.filter_cte(tiny_con, "tiny.parquet", filters)
    assert cte == 'WITH "tiny.parquet" AS (SELECT * FROM "tiny.parquet" WHERE TRUE AND "channel" IN (?, ?) AND "hour" >= ?)'
    assert params == ["search", "social", "10"]
    assert (
        readable == """WITH "tiny.parquet" AS (SELECT * FROM "tiny.parquet" WHERE "channel" IN ('search', 'social') AND "hour" >= '10')"""
    )
    frame = sqlbox.run_sql(tiny_con, 'SELECT count(*) AS n FROM "tiny.parquet"', dataset="tiny.parquet", filters=filters)
    assert frame["n"].tolist() == [5]  # hours 10, 11, 12, 14, 17 in search or social
    assert sqlbox.run_sql(tiny_con, 'SELECT count(*) AS n FROM "tiny.parquet"', dataset="tiny.parquet")["n"].tolist() == [10]
    injected = sqlbox.run_sql(
        tiny_con, 'SELECT count(*) AS n FROM "tiny.parquet"', dataset="tiny.parquet", filters=[("channel", "=", "x' OR 1=1 --")]
    )
    assert injected["n"].tolist() == [0]

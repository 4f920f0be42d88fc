"""The SQL box reads, and only reads, inside the sandbox: one test per escape."""

import os

import duckdb
import pytest

from core import data
from core.errors import QueryError


@pytest.fixture
def root(tiny_root):
    return tiny_root


def test_a_select_over_a_dataset_view(tiny_con):
    frame = data.run_sql(
        tiny_con, 'SELECT channel, sum(converted) AS positives FROM "tiny.parquet" GROUP BY ALL ORDER BY channel NULLS LAST;'
    )
    assert frame["channel"].tolist()[:3] == ["email", "search", "social"]
    assert frame["positives"].tolist() == [0, 2, 2, 1]
    assert frame.attrs["truncated"] is False


def test_row_limit_truncates_and_says_so(tiny_con):
    frame = data.run_sql(tiny_con, 'SELECT * FROM "events" -- a trailing comment', limit=4)
    assert len(frame) == 4
    assert frame.attrs["truncated"] is True


def test_copy_into_the_data_root_is_refused(tiny_con, root):
    target = root / "leak.csv"
    with pytest.raises(QueryError, match="COPY"):
        data.run_sql(tiny_con, f"COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("ATTACH 'other.db' AS other", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ('DROP VIEW "tiny.parquet"', "DROP"),
        ("EXPORT DATABASE 'dump'", "EXPORT"),
    ],
)
def test_statements_other_than_select_are_refused(tiny_con, sql, kind):
    with pytest.raises(QueryError, match=f"this is a {kind}"):
        data.run_sql(tiny_con, sql)


def test_more_than_one_statement_is_refused(tiny_con):
    with pytest.raises(QueryError, match="holds 2"):
        data.run_sql(tiny_con, 'SELECT 1; DROP VIEW "tiny.parquet"')
    assert len(data.run_sql(tiny_con, 'SELECT * FROM "tiny.parquet"')) == 10


def test_reading_outside_the_root_is_refused(tiny_con):
    with pytest.raises(QueryError, match="outside the data root"):
        data.run_sql(tiny_con, "SELECT * FROM read_csv('/etc/passwd')")


def test_a_link_inside_the_root_to_outside_is_refused(tmp_path):
    os.symlink("/etc", tmp_path / "etc")
    con = data.connect(tmp_path)
    with pytest.raises(QueryError, match="outside the data root"):
        data.run_sql(con, f"SELECT * FROM read_csv('{tmp_path}/etc/passwd')")


def test_a_copy_hidden_in_query_is_refused(tiny_con, root):
    with pytest.raises(QueryError):
        data.run_sql(tiny_con, f"SELECT * FROM query('COPY (SELECT 1) TO ''{root}/x.csv''')")
    assert not (root / "x.csv").exists()


def test_a_slow_query_is_stopped_and_the_connection_lives_on(tiny_con):
    with pytest.raises(QueryError, match="stopped after 0.3 s"):
        data.run_sql(tiny_con, "SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.range * b.range = 7", timeout_s=0.3)
    assert data.run_sql(tiny_con, "SELECT 42 AS answer")["answer"].tolist() == [42]


def test_syntax_and_catalog_errors_are_query_errors(tiny_con):
    with pytest.raises(QueryError, match="does not parse"):
        data.run_sql(tiny_con, "SELEC 1")
    with pytest.raises(QueryError, match="nope"):
        data.run_sql(tiny_con, "SELECT * FROM nope")


def test_the_configuration_is_locked(tiny_con):
    with pytest.raises(duckdb.Error):
        tiny_con.execute("SET enable_external_access = true")

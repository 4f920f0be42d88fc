"""The SQL box reads, and only reads, inside the sandbox: a table of escape attempts, each a QueryError."""

import os
from pathlib import Path

import duckdb
import pytest

from core import data, sqlbox
from core.errors import DataError, QueryError
from core.sql import parse_filter


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


OUTSIDE = "Refused: the query reads outside the data root."
NOT_HERE = "is not available in the SQL box"
ONLY_SELECT = '; only read-only SELECT queries run here (write one SELECT … FROM "dataset", or WITH … SELECT).'

# (id, SQL with {root} {link} {spill} filled in, what the QueryError says). {link} is a folder link inside the root
# that points out of it; {spill} is this process's DuckDB temp folder, which DuckDB itself makes readable.
ESCAPES = [
    ("copy-into-root", "COPY (SELECT 1) TO '{root}/leak.csv'", "This is a COPY statement"),
    ("copy-out", """COPY "tiny.parquet" TO '/tmp/wb-leak.parquet' (FORMAT parquet)""", "This is a COPY statement"),
    ("export-into-root", "EXPORT DATABASE '{root}/dump'", "This is an EXPORT statement"),
    ("copy-in-cte", "WITH x AS (COPY (SELECT 1) TO '{root}/cte.csv') SELECT * FROM x", "This query holds a COPY inside a WITH"),
    ("insert-in-cte", "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", "This query holds an INSERT inside a WITH"),
    ("delete-in-cte", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "This query holds a DELETE inside a WITH"),
    ("copy-in-query", "SELECT * FROM query('COPY (SELECT 1) TO ''{root}/q.csv''')", "query() " + NOT_HERE),
    ("attach-file", "ATTACH '{root}/other.db' AS other", "This is an ATTACH statement"),
    ("attach-memory", "ATTACH ':memory:' AS m", "This is an ATTACH statement"),
    ("detach", "DETACH memory", "This is a DETACH statement"),
    ("use", "USE system", "This is a USE statement"),
    ("install", "INSTALL httpfs", "This is an INSTALL statement"),
    ("install-url", "INSTALL httpfs FROM 'http://example.com'", "This is an INSTALL statement"),
    ("load-after-comment", "-- a comment first\nLOAD httpfs", "This is a LOAD statement"),
    ("load-file", "LOAD '{root}/evil.duckdb_extension'", "This is a LOAD statement"),
    ("set", "SET enable_external_access = true", "This is a SET statement"),
    ("set-variable", "SET VARIABLE x = 1", "This is a SET statement"),
    ("reset", "RESET allowed_directories", "This is a RESET statement"),
    ("pragma", "PRAGMA version", "This is a PRAGMA statement"),
    ("call", "CALL pragma_version()", "This is a CALL statement"),
    ("pragma-function", "SELECT * FROM pragma_database_size()", "pragma_database_size() " + NOT_HERE),
    ("pragma-view", "SELECT * FROM pragma_database_list", "view pragma_database_list " + NOT_HERE),
    ("create-macro", "CREATE MACRO m() AS 1", "This is a CREATE statement"),
    ("create-table", "CREATE TABLE t AS SELECT 1", "This is a CREATE statement"),
    ("create-secret", "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", "This is a CREATE statement"),
    ("replace-view", 'CREATE OR REPLACE VIEW "tiny.parquet" AS SELECT 1', "This is a CREATE statement"),
    ("insert", "INSERT INTO t VALUES (1)", "This is an INSERT statement"),
    ("update", "UPDATE t SET a = 1", "This is an UPDATE statement"),
    ("drop", 'DROP VIEW "tiny.parquet"', "This is a DROP statement"),
    ("prepare", "PREPARE p AS SELECT 1", "This is a PREPARE statement"),
    ("checkpoint", "SELECT * FROM checkpoint()", "checkpoint() " + NOT_HERE),
    ("logging", "SELECT * FROM enable_logging()", "enable_logging() " + NOT_HERE),
    ("read-csv-absolute", "SELECT * FROM read_csv('/etc/passwd')", OUTSIDE),
    ("read-text-passwd", "SELECT * FROM read_text('/etc/passwd')", OUTSIDE),
    ("read-blob", "SELECT * FROM read_blob('/etc/hostname')", OUTSIDE),
    ("read-json", "SELECT * FROM read_json('/etc/x.json')", OUTSIDE),
    ("glob-absolute", "SELECT * FROM glob('/etc/*')", OUTSIDE),
    ("read-parquet-dotdot", "SELECT * FROM read_parquet('{root}/../x.parquet')", OUTSIDE),
    ("wildcard-dotdot", "SELECT * FROM read_parquet('{root}/*/../../../etc/passwd')", OUTSIDE),
    ("home", "SELECT * FROM read_text('~/.bashrc')", OUTSIDE),
    ("environ", "SELECT * FROM read_text('/proc/self/environ')", OUTSIDE),
    ("stdin", "SELECT * FROM read_text('/dev/stdin')", OUTSIDE),
    ("file-url", "SELECT * FROM read_text('file:///etc/passwd')", OUTSIDE),
    ("list-with-outside", "SELECT * FROM read_csv(['{root}/tiny.csv', '/etc/passwd'])", OUTSIDE),
    ("link-read", "SELECT * FROM read_csv('{link}/secret.csv')", OUTSIDE),
    ("link-bare-path", "SELECT * FROM '{link}/secret.csv'", OUTSIDE),
    ("link-glob", "SELECT * FROM glob('{link}/*')", OUTSIDE),
    ("outside-in-cte", "WITH c AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM c", OUTSIDE),
    ("http", "SELECT * FROM read_csv('http://example.com/x.csv')", OUTSIDE),
    ("https-json", "SELECT * FROM read_json('https://example.com/x.json')", OUTSIDE),
    ("s3", "SELECT * FROM read_parquet('s3://bucket/x.parquet')", OUTSIDE),
    ("two-statements", 'SELECT 1; DROP VIEW "tiny.parquet"', "this SQL holds 2"),
    ("block-comment-then-second", 'SELECT 1 /* */; DROP VIEW "tiny.parquet"', "this SQL holds 2"),
    ("dollar-quote-then-second", 'SELECT $$;$$; DROP VIEW "tiny.parquet"', "this SQL holds 2"),
    ("getenv", "SELECT getenv('HOME')", "getenv() " + NOT_HERE),
    ("getenv-in-path", "SELECT * FROM read_text(getenv('HOME') || '/.bashrc')", "getenv() " + NOT_HERE),
    ("current-setting", "SELECT current_setting('temp_directory')", "current_setting() " + NOT_HERE),
    ("current-setting-method", "SELECT 'allowed_directories'.current_setting()", "current_setting() " + NOT_HERE),
    ("current-setting-qualified", "SELECT system.main.current_setting('temp_directory')", "current_setting() " + NOT_HERE),
    ("settings", "SELECT * FROM duckdb_settings()", "duckdb_settings() " + NOT_HERE),
    ("settings-in-subquery", "SELECT (SELECT value FROM duckdb_settings() WHERE name = 'temp_directory')", NOT_HERE),
    ("pg-settings", "SELECT * FROM pg_settings", "view pg_settings " + NOT_HERE),
    ("information-schema", "SELECT * FROM information_schema.tables", NOT_HERE),
    ("catalog-view", "SELECT * FROM system.main.duckdb_tables", NOT_HERE),
    ("secrets", "SELECT * FROM duckdb_secrets()", "duckdb_secrets() " + NOT_HERE),
    ("which-secret", "SELECT * FROM which_secret('s3://bucket/x', 's3')", "which_secret() " + NOT_HERE),
    ("temporary-files", "SELECT * FROM duckdb_temporary_files()", NOT_HERE),
    ("query", "SELECT * FROM query('SELECT 1')", "query() " + NOT_HERE),
    ("query-quoted", """SELECT * FROM "QUERY"('SELECT 1')""", "query() " + NOT_HERE),
    ("query-table", "SELECT * FROM query_table('tiny.parquet')", "query_table() " + NOT_HERE),
    ("serialized-sql", "SELECT * FROM json_execute_serialized_sql('{{}}')", "json_execute_serialized_sql() " + NOT_HERE),
    ("python-pointer", "SELECT * FROM arrow_scan(1, 2, 3)", "arrow_scan() " + NOT_HERE),
    ("spill-read", "SELECT * FROM read_text('{spill}/planted.txt')", "DuckDB's temporary folder " + NOT_HERE),
    ("spill-glob", "SELECT * FROM glob('{spill}/*')", "DuckDB's temporary folder " + NOT_HERE),
    ("spill-bare-path", "SELECT * FROM '{spill}/planted.csv'", "DuckDB's temporary folder " + NOT_HERE),
    ("old-temp-default", "SELECT * FROM glob('.tmp/*')", OUTSIDE),
]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A root with the tiny table, a link in it to an outside folder, and files planted in DuckDB's temp folder."""
    from tests.conftest import TINY

    root, outside = tmp_path_factory.mktemp("box_root"), tmp_path_factory.mktemp("outside")
    TINY.to_parquet(root / "tiny.parquet", index=False)
    TINY.to_csv(root / "tiny.csv", index=False)
    (outside / "secret.csv").write_text("secret\nhunter2\n")
    os.symlink(outside, root / "link")
    spill = data.spill_parent()
    (spill / "planted.txt").write_text("hunter2")
    (spill / "planted.csv").write_text("secret\nhunter2\n")
    return {"con": data.connect(root), "root": root, "link": root / "link", "spill": spill}


def tree(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.mark.parametrize(("sql", "says"), [pytest.param(sql, says, id=name) for name, sql, says in ESCAPES])
def test_an_escape_is_refused(box, sql, says):
    before = tree(box["root"])
    with pytest.raises(QueryError) as refused:
        sqlbox.run_sql(box["con"], sql.format(**box))
    message = str(refused.value)
    if says.startswith("This is"):
        assert message == says + ONLY_SELECT
    else:
        assert says in message
    assert "hunter2" not in message and str(box["spill"]) not in message
    assert tree(box["root"]) == before  # nothing written under the data root
    assert not os.path.exists("/tmp/wb-leak.parquet")
    assert len(sqlbox.run_sql(box["con"], 'SELECT * FROM "tiny.parquet"')) == 10  # the views are intact


def test_the_table_holds_many_distinct_escapes():
    assert len(ESCAPES) >= 25 and len({name for name, _, _ in ESCAPES}) == len({sql for _, sql, _ in ESCAPES}) == len(ESCAPES)


# Tricks that look like a second statement but are one SELECT: they run, as what they are.
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 AS v; -- DROP VIEW x", 1),
        ("SELECT 1 AS v; /* DROP VIEW x */", 1),
        ("SELECT 1 AS v /* ; DROP VIEW x */", 1),
        ("SELECT 'a;DROP VIEW x' AS v", "a;DROP VIEW x"),
        ("SELECT 'a'';DROP VIEW x' AS v", "a';DROP VIEW x"),
        ("SELECT $$;COPY (SELECT 1) TO 'x'$$ AS v", ";COPY (SELECT 1) TO 'x'"),
        ("SELECT $tag$ ; ATTACH $tag$ AS v", " ; ATTACH "),
        ("SELECT count(*) AS v FROM read_parquet('{root}/tiny.parquet')", 10),
        ("SELECT count(*) AS v FROM glob('{root}/*.parquet')", 1),
        ('WITH c AS MATERIALIZED (SELECT * FROM "tiny.csv") SELECT count(*) AS v FROM c', 10),
    ],
)
def test_a_lookalike_is_one_harmless_select(box, sql, expected):
    assert sqlbox.run_sql(box["con"], sql.format(**box))["v"].tolist() == [expected]
    assert len(sqlbox.run_sql(box["con"], 'SELECT * FROM "tiny.parquet"')) == 10


def test_duckdb_spills_into_a_private_folder_that_it_makes_readable(box):
    # Why the SQL box refuses to name the temp folder: DuckDB adds it to the readable folders itself.
    allowed = box["con"].execute("SELECT current_setting('allowed_directories')").fetchone()[0]
    spill = box["spill"]
    assert [d for d in allowed if d.startswith(f"{spill}/c")] and f"{Path.cwd()}/.tmp/" not in allowed
    assert os.stat(spill).st_mode & 0o777 == 0o700
    assert not spill.is_relative_to(box["root"]) and not spill.is_relative_to(Path.cwd())
    assert box["con"].execute("SELECT current_setting('temp_directory')").fetchone()[0].startswith(f"{spill}/c")


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


# Filters reach SQL through core.sql: names are quoted by one helper, values are bound. Hostile text in a column
# name or an operator is refused; in a value it is only a value, so it matches no row (the tiny table's channels are
# search, social, email).
FILTER_ESCAPES = [
    ("name-or-true", ("channel\" = 'x' OR TRUE --", "=", "x"), "Unknown column"),
    ("name-closing-paren", ("channel\") FROM read_text('/etc/passwd') --", "is null", None), "Unknown column"),
    ("name-second-statement", ("channel\"; COPY (SELECT 1) TO '/tmp/wb-leak.csv'; --", "=", "x"), "Unknown column"),
    ("parsed-quoted-name", parse_filter('"channel"" OR TRUE --" = x'), "Unknown column"),
    ("op-or-true", ("channel", "= 'x' OR TRUE --", "x"), "Unknown filter operator"),
    ("op-subquery", ("channel", "in (SELECT * FROM read_text('/etc/passwd')) --", "x"), "Unknown filter operator"),
    ("number-with-statement", ("hour", ">=", '0; DROP VIEW "tiny.parquet"'), "Could not convert"),
]
VALUE_ESCAPES = [  # (id, filter, rows it matches: counted by hand on the tiny table)
    ("quote-or", ("channel", "=", "x' OR '1'='1"), 0),
    ("quote-comment", ("channel", "!=", "search' --"), 9),  # every row with a channel
    ("in-list-paren", ("channel", "in", "search') OR ('1'='1"), 0),
    ("concat-read-text", ("channel", "=", "' || (SELECT content FROM read_text('/etc/passwd')) || '"), 0),
    ("between-quotes", ("channel", "between", "a' OR 1=1 --, z"), 9),  # email, search, social sort between
    ("dollar-quote", ("channel", "=", "$$ OR TRUE $$"), 0),
    ("parsed-value-tail", parse_filter("channel = x' OR TRUE --"), 0),
    ("parsed-in-list", parse_filter("channel in search, social') --"), 3),  # the search rows; the rest is one value
]


@pytest.mark.parametrize(("item", "says"), [pytest.param(item, says, id=name) for name, item, says in FILTER_ESCAPES])
def test_a_hostile_filter_name_or_operator_is_refused(box, item, says):
    with pytest.raises(QueryError, match=says):
        sqlbox.run_sql(box["con"], 'SELECT count(*) AS n FROM "tiny.parquet"', dataset="tiny.parquet", filters=[item])
    with pytest.raises(DataError, match=says):
        data.segment_rates(box["con"], "tiny.parquet", "converted", ["device"], filters=[item])
    assert not os.path.exists("/tmp/wb-leak.csv")


@pytest.mark.parametrize(("item", "rows"), [pytest.param(item, rows, id=name) for name, item, rows in VALUE_ESCAPES])
def test_a_hostile_filter_value_is_only_a_value(box, item, rows):
    frame = sqlbox.run_sql(box["con"], 'SELECT count(*) AS n FROM "tiny.parquet"', dataset="tiny.parquet", filters=[item])
    assert frame["n"].tolist() == [rows]
    rates = data.segment_rates(box["con"], "tiny.parquet", "converted", ["device"], filters=[item])
    assert int(rates["rows"].sum()) == rows

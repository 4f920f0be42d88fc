"""DuckDB access: the sandboxed connection, the dataset list, profile, segment rates, rate over
time and training reads (the SQL box is core.sqlbox). Work stays in DuckDB; only small results come
back as DataFrames."""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from core import catalog, schemas, settings
from core.catalog import Dataset
from core.diagnostics.intervals import segment_table, with_wilson_interval
from core.errors import DataError
from core.sql import Filter, compile_filters, ident, is_numeric, is_temporal, literal, positive_condition

GRAINS = ("hour", "day", "week", "month")
MEMO_ENTRIES = 512
CHUNK_COLUMNS = 50
_memo: OrderedDict = OrderedDict()
_memo_lock = threading.Lock()
_roots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection or cursor -> its data root
_spill_lock = threading.Lock()
_spill_parent: list[Path] = []
_spill_count = itertools.count()


def spill_parent() -> Path:
    """This process's private folder (mode 0700, outside the working directory) under which DuckDB spills."""
    with _spill_lock:
        if not _spill_parent:
            _spill_parent.append(Path(tempfile.mkdtemp(prefix="wb-duckdb-")).resolve())
            atexit.register(shutil.rmtree, _spill_parent[0], True)
        return _spill_parent[0]


def connect(root: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read only the data root and the MLflow artifact root."""
    base = catalog.data_root(root)
    allowed = [f"{base}/", f"{settings.artifact_root()}/"]
    con = duckdb.connect(":memory:")
    # DuckDB spills to `<cwd>/.tmp` by default and lets the sandbox read its temp folder: each connection spills
    # into its own sub-folder of a private one instead, which the SQL box refuses to name (core.sqlbox).
    spill = spill_parent() / f"c{next(_spill_count)}"
    con.execute(f"SET temp_directory = {literal(str(spill))}")
    # Order matters: allowed_directories must be set before external access is switched off.
    con.execute(f"SET allowed_directories = [{', '.join(literal(d) for d in allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    # Parquet footers are read once, not on every query (DuckDB re-reads a file whose size or time changed): ~2 ms of
    # a 1M-row Explore cut over 56 daily files.
    con.execute("SET parquet_metadata_cache = true")
    con.execute("SET lock_configuration = true")
    # Cursors share the catalog, not Python attributes: the root travels as a macro.
    con.execute(f"CREATE MACRO workbench_data_root() AS {literal(str(base))}")
    return con


def root_of(con: duckdb.DuckDBPyConnection) -> Path:
    """The data root a connection (or a cursor of it) was made for (asked once per connection)."""
    if (root := _roots.get(con)) is None:
        root = _roots[con] = Path(con.execute("SELECT workbench_data_root()").fetchone()[0])
    return root


def resolve(con: duckdb.DuckDBPyConnection, dataset: str | Dataset) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else catalog.resolve(dataset, root_of(con))


def source(ds: Dataset, con: duckdb.DuckDBPyConnection | None = None) -> tuple[str, list]:
    """The table function that reads a dataset, and its parameters (given `con`, by name only if its files disagree)."""
    many = ""
    if ds.path.is_dir():
        many = ", hive_partitioning = true" + ("" if con is not None and schemas.one_schema(con, ds) else ", union_by_name = true")
    if ds.path.is_file() and ds.path.stat().st_size == 0:
        raise DataError(f"{ds.name} is an empty file (0 bytes): write the table into it again, or remove it.")
    if ds.format == "parquet":
        return f"read_parquet(?{many})", [ds.glob]
    encoding = catalog.csv_encoding(ds)  # one of a fixed few names, so it may sit in the SQL text
    return f"read_csv(?, auto_detect = true, encoding = {literal(encoding)}{many})", [ds.glob]


def first_line(err: Exception) -> str:
    """The first line of an error's message (DuckDB adds context lines the analyst does not need)."""
    return str(err).strip().splitlines()[0]


def query(con: duckdb.DuckDBPyConnection, ds: Dataset, sql: str, params: Sequence = (), arrow: bool = False) -> pd.DataFrame:
    """Runs SQL over a dataset; DuckDB's errors become DataErrors that name the dataset."""
    try:
        if arrow:  # about 3x faster than .df() for text columns; for callers that set the types they need
            with con.cursor() as cursor:
                return cursor.sql(sql, params=list(params)).to_arrow_table().to_pandas()
        return con.execute(sql, list(params)).df()
    except duckdb.ConversionException as err:
        raise DataError(f"A filter value does not fit its column in {ds.name}: {first_line(err)}") from None
    except duckdb.Error as err:
        raise DataError(f"Cannot read dataset {ds.name!r}: {first_line(err)}") from None


def remember(key: tuple, compute):
    # Keyed by data fingerprint, so a changed file is a new key; bounded so memory stays small. Sessions share it
    # from their own threads: the lock guards each look-up and store, and the computing runs outside it (two
    # sessions may compute one key at once; both get the same answer). The value is returned from a local, since
    # another thread may evict the key right after it is stored.
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    value = compute()
    with _memo_lock:
        _memo[key] = value
        while len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)
    return value


def column_chunks(items: list) -> list[list]:
    """Per-column SELECT items in groups of CHUNK_COLUMNS: DuckDB slows more than linearly with many DISTINCT or mode
    aggregates in one query (2,000 columns: minutes at once, seconds in chunks)."""
    return [items[i : i + CHUNK_COLUMNS] for i in range(0, len(items), CHUNK_COLUMNS)]


def columns(con: duckdb.DuckDBPyConnection, dataset: str | Dataset) -> dict[str, str]:
    """Column name -> DuckDB type, cached by the dataset's fingerprint."""
    ds = resolve(con, dataset)
    src, params = source(ds)

    def compute():
        frame = query(con, ds, f"DESCRIBE SELECT * FROM {src}", params)
        return dict(zip(frame["column_name"], frame["column_type"], strict=True))

    found = dict(remember(("columns", ds.glob, ds.fingerprint), compute))
    [first, *rest] = found
    if ds.format == "csv" and not rest and any(mark in first for mark in ",;\t|"):
        # DuckDB reads a CSV whose lines disagree on their number of fields as one text column named like the header.
        raise DataError(
            f"{ds.name} has lines with more or fewer fields than its header ({first!r}), so it reads as one column: "
            "give every line as many fields as the header (quote values that hold the delimiter)."
        )
    return found


def _require(cols: dict[str, str], names: Sequence[str], ds: Dataset, role: str) -> None:
    for name in names:
        if name not in cols:
            raise DataError(f"Unknown {role} column {name!r} in {ds.name}; columns are: {', '.join(cols)}.")


def datasets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Columns: name, path, format, rows, files, error (why a dataset cannot be read, else empty)."""
    found = catalog.discover(root_of(con))
    records = []
    for ds in found:
        try:
            src, params = source(ds)
            columns(con, ds)  # a file whose lines disagree on their fields counts rows but has no usable columns
            rows, error = int(query(con, ds, f"SELECT count(*) AS n FROM {src}", params)["n"].iloc[0]), ""
        except DataError as err:
            rows, error = None, str(err)
        records.append({"name": ds.name, "path": str(ds.path), "format": ds.format, "rows": rows, "files": len(ds.files), "error": error})
    frame = pd.DataFrame(records, columns=["name", "path", "format", "rows", "files", "error"])
    return frame.astype({"rows": "Int64", "files": "int64"})


def profile(con: duckdb.DuckDBPyConnection, dataset: str | Dataset) -> pd.DataFrame:
    """One scan. Columns: column, type, null_share, distinct, min, max, mean, top (most frequent)."""
    ds = resolve(con, dataset)
    cols = columns(con, ds)
    src, params = source(ds)
    parts = []
    for i, (name, sql_type) in enumerate(cols.items()):
        col = ident(name)
        simple = not sql_type.upper().endswith("]") and not sql_type.upper().startswith(("STRUCT", "MAP", "UNION"))
        mean = f"avg(CAST({col} AS DOUBLE))" if is_numeric(sql_type) or sql_type.upper() == "BOOLEAN" else "NULL"
        parts.append(", ".join([
            f"count({col}) AS c{i}_count",
            f"count(DISTINCT {col}) AS c{i}_distinct" if simple else f"NULL AS c{i}_distinct",
            f"CAST(min({col}) AS VARCHAR) AS c{i}_min" if simple else f"NULL AS c{i}_min",
            f"CAST(max({col}) AS VARCHAR) AS c{i}_max" if simple else f"NULL AS c{i}_max",
            f"{mean} AS c{i}_mean",
            f"CAST(mode({col}) AS VARCHAR) AS c{i}_top" if simple else f"NULL AS c{i}_top",
        ]))  # fmt: skip
    row = {}
    for chunk in column_chunks(parts):
        row |= query(con, ds, f"SELECT count(*) AS n, {', '.join(chunk)} FROM {src}", params).iloc[0].to_dict()
    n = int(row["n"])
    records = [
        {
            "column": name,
            "type": sql_type,
            "null_share": (n - int(row[f"c{i}_count"])) / n if n else float("nan"),
            "distinct": row[f"c{i}_distinct"],
            "min": row[f"c{i}_min"],
            "max": row[f"c{i}_max"],
            "mean": row[f"c{i}_mean"],
            "top": row[f"c{i}_top"],
        }
        for i, (name, sql_type) in enumerate(cols.items())
    ]
    frame = pd.DataFrame(records, columns=["column", "type", "null_share", "distinct", "min", "max", "mean", "top"])
    return frame.astype({"distinct": "Int64", "mean": "float64", "null_share": "float64"})


def _target(con, ds: Dataset, cols: dict[str, str], target: str, positive_value) -> tuple[str, list, bool]:
    """The positive condition for a target and its params after checking the target is binary, and whether any is missing."""
    _require(cols, [target], ds, "target")
    expr, params = positive_condition(target, cols[target], positive_value)
    src, src_params = source(ds)

    # Text targets match without regard to case or spaces, so 'Yes' and 'yes' are one value.
    value = f"lower(trim({ident(target)}))" if cols[target].upper() == "VARCHAR" else ident(target)

    def check():
        # NULL counts as a value here (NaN is a value, not a missing one): four tell "more than two" and "some missing".
        sql = (
            f"SELECT DISTINCT {value} AS value, CAST({expr} AS INTEGER) AS positive, {ident(target)} IS NULL AS missing FROM {src} LIMIT 4"
        )
        return query(con, ds, sql, [*params, *src_params])

    found = remember(("target", ds.glob, ds.fingerprint, target, str(positive_value)), check)
    values = found[~found["missing"].astype(bool)]
    shown = ", ".join(map(str, values["value"].tolist()))
    if len(values) > 2:
        # The values as the file spells them (the check compares text in lower case): asked only when refusing.
        spelled = query(con, ds, f"SELECT DISTINCT {ident(target)} AS v FROM {src} WHERE {ident(target)} IS NOT NULL LIMIT 3", src_params)
        shown = ", ".join(map(str, spelled["v"].tolist()))
        raise DataError(
            f"Target {target!r} is not binary: it has more than two values ({shown}, …). Pick a 0/1, true/false or two-valued column."
        )
    if len(values) == 2 and values["positive"].sum() == 0:
        raise DataError(f"No value of target {target!r} ({shown}) matches positive value {positive_value!r}; give one of them.")
    return expr, params, len(values) < len(found)


def _labelled(target: str, missing: bool) -> str:
    """The WHERE clause's test that a row has a target (left out when no row lacks one: cheaper)."""
    return f" AND {ident(target)} IS NOT NULL" if missing else ""


def segment_rates(con, dataset, target: str, by: Sequence[str], filters: Sequence[Filter] = (), positive_value=None) -> pd.DataFrame:
    """Target rate per segment (one or two columns), most rows first; rows with no target are left out.

    Columns: segment, <by columns>, rows, positives, rate, rate_lo, rate_hi (Wilson 95%), share.
    """
    by = list(by)
    ds = resolve(con, dataset)
    if not 1 <= len(by) <= 2:
        raise DataError("Split by one or two columns.")
    cols = columns(con, ds)
    _require(cols, by, ds, "segment")
    expr, expr_params, missing = _target(con, ds, cols, target, positive_value)
    where, where_params = compile_filters(filters, cols)
    src, src_params = source(ds, con)
    # Keys are aliased, so a column named like a result column (rows, share…) cannot clash; order is by position.
    keys = [f"k{i}" for i in range(len(by))]
    picked = ", ".join(f"{ident(c)} AS {k}" for c, k in zip(by, keys, strict=True))
    sql = f"""
        SELECT {picked}, count(*) AS rows, count(*) FILTER (WHERE {expr}) AS positives
        FROM {src} WHERE {where}{_labelled(target, missing)}
        GROUP BY ALL ORDER BY {len(by) + 1} DESC, {", ".join(str(i + 1) for i in range(len(by)))}"""
    return segment_table(query(con, ds, sql, [*expr_params, *src_params, *where_params]), keys, by)


def check_time_column(con, dataset, time_column: str) -> None:
    """A DataError unless the column holds dates: a date or timestamp type (or text that reads as one), not all missing."""
    ds = resolve(con, dataset)
    cols = columns(con, ds)
    _require(cols, [time_column], ds, "time")
    text = cols[time_column].upper() == "VARCHAR"
    if not (is_temporal(cols[time_column]) or text):
        raise DataError(f"Time column {time_column!r} has type {cols[time_column]}; pick a date or timestamp column.")
    src, params = source(ds)
    col = ident(time_column)

    def look():
        bad = f"min({col}) FILTER (WHERE TRY_CAST({col} AS TIMESTAMP) IS NULL)" if text else "NULL"
        row = query(con, ds, f"SELECT count({col}) AS filled, {bad} AS bad FROM {src}", params).iloc[0]
        return int(row["filled"]), None if pd.isna(row["bad"]) else str(row["bad"])

    filled, bad = remember(("time_column", ds.glob, ds.fingerprint, time_column), look)
    if bad is not None:
        raise DataError(
            f"Time column {time_column!r} holds text that is not a date, e.g. {bad!r}: write every date as YYYY-MM-DD "
            "(or YYYY-MM-DD HH:MM:SS) in the file, or pick another time column."
        )
    if not filled:
        raise DataError(f"Time column {time_column!r} has no values in {ds.name}; pick another time column, or none.")


def rate_over_time(
    con, dataset, target: str, time_column: str, grain: str = "day", filters: Sequence[Filter] = (), positive_value=None
) -> pd.DataFrame:
    """Target rate per period of the time column. Columns: period, rows, positives, rate, rate_lo, rate_hi."""
    if grain not in GRAINS:
        raise DataError(f"Unknown grain {grain!r}; use one of: {', '.join(GRAINS)}.")
    ds = resolve(con, dataset)
    cols = columns(con, ds)
    check_time_column(con, ds, time_column)
    expr, expr_params, missing = _target(con, ds, cols, target, positive_value)
    where, where_params = compile_filters(filters, cols)
    src, src_params = source(ds, con)
    time = ident(time_column)
    sql = f"""
        SELECT date_trunc(?, CAST({time} AS TIMESTAMP)) AS period, count(*) AS rows, count(*) FILTER (WHERE {expr}) AS positives
        FROM {src} WHERE {where}{_labelled(target, missing)} AND {time} IS NOT NULL
        GROUP BY ALL ORDER BY period"""
    frame = query(con, ds, sql, [grain, *expr_params, *src_params, *where_params])
    return with_wilson_interval(frame)


def overall_rate(table: pd.DataFrame) -> pd.DataFrame:
    """One row with the totals of a segment table. Columns: rows, positives, rate, rate_lo, rate_hi."""
    totals = pd.DataFrame({"rows": [table["rows"].sum()], "positives": [table["positives"].sum()]})
    return with_wilson_interval(totals)


def time_columns(cols: dict[str, str]) -> list[str]:
    """Date and timestamp columns, finest first (timestamps before dates)."""
    return sorted(
        (name for name, kind in cols.items() if is_temporal(kind)), key=lambda name: not cols[name].upper().startswith("TIMESTAMP")
    )


def training_query(
    con, dataset, target: str, columns_wanted: Sequence[str], filters: Sequence[Filter] = (), positive_value=None
) -> tuple[str, list, list[str]]:
    """SQL selecting the wanted columns plus `__target` (0/1) for rows with a target; its params and numeric columns."""
    ds = resolve(con, dataset)
    cols = columns(con, ds)
    _require(cols, list(columns_wanted), ds, "feature")
    if "__target" in columns_wanted:
        raise DataError(f"Column '__target' of {ds.name} has the name training gives the 0/1 target: exclude it, or rename it in the file.")
    expr, expr_params, _ = _target(con, ds, cols, target, positive_value)
    where, where_params = compile_filters(filters, cols)
    src, src_params = source(ds)
    picked = ", ".join(ident(c) for c in columns_wanted)
    sql = f"""
        SELECT {picked}{", " if picked else ""}CAST({expr} AS INTEGER) AS __target
        FROM {src} WHERE {where} AND {ident(target)} IS NOT NULL"""
    return sql, [*expr_params, *src_params, *where_params], [c for c in columns_wanted if is_numeric(cols[c])]


def _as_model_input(frame: pd.DataFrame, numeric: Sequence[str]) -> pd.DataFrame:
    # One numeric type for models: nullable integers with gaps would otherwise change type per batch.
    for name in numeric:
        frame[name] = frame[name].astype("float64")
    return frame


def training_frame(
    con,
    dataset,
    target: str,
    columns_wanted: Sequence[str],
    filters: Sequence[Filter] = (),
    positive_value=None,
    sample_rows: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The wanted columns plus `__target` (0/1) for rows with a target, filtered, optionally sampled.

    Numeric columns come back as float64 (missing as NaN), the types logged model signatures expect.
    """
    ds = resolve(con, dataset)
    sql, params, numeric = training_query(con, ds, target, columns_wanted, filters, positive_value)
    if sample_rows:
        # DuckDB samples before WHERE, so sample the filtered rows from outside. Both are ints.
        sql = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({int(seed)})"
    frame = _as_model_input(query(con, ds, sql, params, arrow=True), numeric)
    if frame.empty:
        raise DataError(f"No rows of {ds.name} have a target{' after the filter' if filters else ''}; loosen the filter.")
    return frame


def training_batches(
    con, dataset, target: str, columns_wanted: Sequence[str], filters: Sequence[Filter] = (), positive_value=None, batch_rows: int = 100_000
):
    """The rows of `training_frame`, in file order, as DataFrames of at most `batch_rows` rows (streamed)."""
    ds = resolve(con, dataset)
    sql, params, numeric = training_query(con, ds, target, columns_wanted, filters, positive_value)
    with con.cursor() as cursor:
        try:
            reader = cursor.sql(sql, params=params).to_arrow_reader(batch_rows)
            # DuckDB's batch sizes vary; exact-size batches make a resumed job see the same batches.
            pending, held = [], 0
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= batch_rows:
                    table = pa.Table.from_batches(pending)
                    yield _as_model_input(table.slice(0, batch_rows).to_pandas(), numeric)
                    rest = table.slice(batch_rows)
                    pending, held = rest.to_batches(), rest.num_rows
            if held:
                yield _as_model_input(pa.Table.from_batches(pending).to_pandas(), numeric)
        except duckdb.Error as err:
            raise DataError(f"Cannot read dataset {ds.name!r}: {first_line(err)}") from None


def quantiles(con, dataset, column: str, fractions: Sequence[float], filters: Sequence[Filter] = ()) -> list:
    """The column's values at the given fractions of the filtered rows (computed in DuckDB)."""
    ds = resolve(con, dataset)
    cols = columns(con, ds)
    _require(cols, [column], ds, "time")
    where, where_params = compile_filters(filters, cols)
    src, src_params = source(ds)
    sql = f"SELECT quantile_disc({ident(column)}, ?::DOUBLE[]) AS q FROM {src} WHERE {where}"
    return list(query(con, ds, sql, [list(fractions), *src_params, *where_params])["q"].iloc[0])

"""The dask engine's data: a dataset's parquet files read on the cluster, filtered, keyed and split like the local
engine's, without a shuffle.

Each partition goes through the local engine's own SQL (target condition, filters) in an in-memory DuckDB on its
worker, so rows and types match `data.training_frame`; filters that pyarrow can prune by are also pushed into the
read. Rows get a key (their position in the filtered data, as the streamed runs count) and the split by time uses
cutoffs computed exactly in DuckDB; the stratified and random splits cut a seeded hash of the key at exact per-class
counts, found from a histogram of the hash and one look into the bin holding each cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import data
from core.errors import DataError, SpecError
from core.sql import compile_filters, ident, is_numeric, is_temporal, make_filter, positive_condition

ROW, SPLIT, TARGET, HASH = "row", "__split", "__target", "__hash"
PARTS = ("train", "valid", "test")
BINS = 4096
_GOLDEN = 0x9E3779B97F4A7C15


@dataclass
class PartPlan:
    """What a worker needs to prepare one partition: the local engine's SELECT over internal names c0, c1, …"""

    sql: str
    params: list
    names: list[str]  # the read columns in order; c<i> inside the SQL
    wanted: list[str]  # the columns the partition keeps, then __target
    numeric: list[str] = field(default_factory=list)


@dataclass
class SplitPlan:
    """How a row's split is decided: time cutoffs (ns, UTC clock) or, per class, hash thresholds."""

    kind: str
    time_column: str | None = None
    cutoffs: tuple[float, float] | None = None  # valid from, test from: ns compared as float64, as numpy compares
    thresholds: dict[int, tuple[float, float]] = field(default_factory=dict)  # class -> (valid from, test from)


def require_parquet(ds) -> None:
    if ds.format != "parquet":
        raise DataError(
            f"The dask engine reads parquet; {ds.name} is {ds.format.upper()}: convert it (Explore's upload with "
            "'Convert CSV to parquet', or DuckDB `COPY (FROM 'file.csv') TO 'file.parquet'`) or use --engine local."
        )


def mix(keys: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per row key (splitmix64 of key and seed): the seeded draw that replaces a shuffle."""
    z = keys.astype(np.uint64) + np.uint64(((seed + 1) * _GOLDEN) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


# -- on the workers --------------------------------------------------------------------------------------------------


def prepare_part(part: pd.DataFrame, plan: PartPlan) -> pd.DataFrame:
    """One partition as `data.training_frame` gives rows: filtered, with `__target` 0/1, numerics as float64."""
    import duckdb

    columns = []
    for name in plan.names:
        column = pa.Array.from_pandas(part[name]) if len(part) else pa.array([], pa.from_numpy_dtype(np.float64))
        if pa.types.is_dictionary(column.type):  # hive partition values
            column = column.cast(column.type.value_type)
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(plan.names))])
    con = duckdb.connect(config={"threads": 1, "enable_external_access": False})
    try:
        con.register("part", table)
        out = con.sql(plan.sql, params=plan.params).to_arrow_table().to_pandas()
    finally:
        con.close()
    out.columns = [*plan.wanted, TARGET]
    for name in plan.numeric:
        out[name] = out[name].astype("float64")
    return out


def key_part(part: pd.DataFrame, offsets: list[int], partition_info=None) -> pd.DataFrame:
    """Adds the row key (position in the filtered data) and its seeded hash."""
    first = offsets[partition_info["number"]] if partition_info else 0
    rows = np.arange(first, first + len(part), dtype=np.int64)
    return part.assign(**{ROW: rows}).set_index(pd.RangeIndex(first, first + len(part)))


def split_part(part: pd.DataFrame, plan: SplitPlan, seed: int) -> pd.DataFrame:
    """Adds `__split` (0 train, 1 valid, 2 test)."""
    split = np.zeros(len(part), dtype=np.int8)
    if plan.kind == "temporal":
        ns = _utc_ns(part[plan.time_column]).astype(np.float64)  # the local split compares int64 with a float quantile
        split[ns >= plan.cutoffs[0]] = 1
        split[ns >= plan.cutoffs[1]] = 2
    else:
        u = mix(part[ROW].to_numpy(), seed)
        groups = part[TARGET].to_numpy() if plan.kind == "stratified" else np.zeros(len(part), dtype=int)
        for group, (valid_from, test_from) in plan.thresholds.items():
            mine = groups == group
            split[mine & (u >= valid_from)] = 1
            split[mine & (u >= test_from)] = 2
    return part.assign(**{SPLIT: split})


def _utc_ns(time: pd.Series) -> np.ndarray:
    """Nanoseconds on one clock for zone-aware and naive times (naive read as UTC), missing as the smallest value,
    exactly as the local split reads them."""
    return pd.to_datetime(time, utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype("int64")


def _histogram(part: pd.DataFrame, stratified: bool, seed: int) -> np.ndarray:
    bins = np.minimum((mix(part[ROW].to_numpy(), seed) * BINS).astype(np.int64), BINS - 1)
    group = part[TARGET].to_numpy().astype(np.int64) if stratified else 0
    return np.bincount(group * BINS + bins, minlength=2 * BINS).reshape(1, -1)


def _in_bins(part: pd.DataFrame, wanted: list[tuple[int, int]], stratified: bool, seed: int) -> pd.DataFrame:
    u = mix(part[ROW].to_numpy(), seed)
    bins = np.minimum((u * BINS).astype(np.int64), BINS - 1)
    group = part[TARGET].to_numpy().astype(np.int64) if stratified else np.zeros(len(part), dtype=np.int64)
    keep = np.zeros(len(part), dtype=bool)
    for g, b in wanted:
        keep |= (group == g) & (bins == b)
    return pd.DataFrame({"group": group[keep], "u": u[keep]})


def _class_counts(part: pd.DataFrame) -> np.ndarray:
    return np.bincount(part[TARGET].to_numpy(dtype=np.int64), minlength=2)


def _split_counts(part: pd.DataFrame) -> np.ndarray:
    cells = part[SPLIT].to_numpy(dtype=np.int64) * 2 + part[TARGET].to_numpy(dtype=np.int64)
    return np.bincount(cells, minlength=6).reshape(3, 2)


def distinct_values(part: pd.DataFrame, columns: list[str]) -> dict:
    return {c: pd.unique(part[c].dropna()) for c in columns}


# -- on the driver ---------------------------------------------------------------------------------------------------


def pushdown(filters, cols: dict[str, str], stored: set[str]) -> list[tuple]:
    """The filters pyarrow can prune row groups by, as (column, op, value) tuples; every filter is applied exactly
    again per partition, so leaving one out only costs reading."""
    found = []
    for item in filters:
        column, op, value = make_filter(*item)
        kind = cols.get(column, "")
        if column not in stored or not (is_numeric(kind) or kind.upper() == "VARCHAR"):
            continue
        try:
            typed = (lambda v: float(v)) if is_numeric(kind) else str
            if op in ("=", "<", "<=", ">", ">="):
                found.append((column, "==" if op == "=" else op, typed(value)))
            elif op == "in":
                found.append((column, "in", [typed(v) for v in value]))
            elif op == "between":
                found += [(column, ">=", typed(value[0])), (column, "<=", typed(value[1]))]
        except (TypeError, ValueError):
            continue  # DuckDB's pass over the partition says what is wrong with the value
    return found


def part_plan(cols: dict[str, str], spec, wanted: list[str]) -> PartPlan:
    """The local engine's training SELECT over a partition whose columns are renamed c0, c1, … (any name is safe)."""
    filter_columns = [make_filter(*f)[0] for f in spec.filter]
    names = list(dict.fromkeys([*wanted, spec.target, *filter_columns]))
    internal = {name: f"c{i}" for i, name in enumerate(names)}
    target_expr, target_params = positive_condition(internal[spec.target], cols[spec.target], spec.positive_value)
    renamed = [(internal[make_filter(*f)[0]], *make_filter(*f)[1:]) for f in spec.filter]
    where, where_params = compile_filters(renamed, {internal[n]: cols[n] for n in names})
    picked = "".join(f"{ident(internal[n])}, " for n in wanted)
    target = ident(internal[spec.target])
    sql = f"SELECT {picked}CAST({target_expr} AS INTEGER) AS __target FROM part WHERE {where} AND {target} IS NOT NULL"
    return PartPlan(sql, [*target_params, *where_params], names, list(wanted), [n for n in wanted if is_numeric(cols[n])])


def read_keyed(con, spec, wanted: list[str], meta: pd.DataFrame):
    """(frame, rows): the dataset's rows with a target, filtered, as `wanted`, `__target` and `row`, persisted."""
    import dask.dataframe as dd

    ds = data.resolve(con, spec.dataset)
    require_parquet(ds)
    cols = data.columns(con, ds)
    plan = part_plan(cols, spec, wanted)
    stored = set(pq.read_schema(ds.files[0]).names)
    try:
        raw = dd.read_parquet(str(ds.path), columns=plan.names, filters=pushdown(spec.filter, cols, stored) or None)
    except (KeyError, ValueError, OSError, pa.ArrowException) as err:
        missing = [n for n in plan.names if n not in stored and "=" not in str(ds.path)]
        what = f"column {missing[0]!r} is not in its files (DuckDB renamed a duplicate?)" if missing else str(err).splitlines()[0]
        raise DataError(f"The dask engine cannot read {ds.name}: {what}; rename it in the file or use --engine local.") from None
    meta = meta[wanted].iloc[:0].assign(**{TARGET: pd.Series([], dtype="int32")})
    ready = raw.map_partitions(prepare_part, plan, meta=meta).persist()
    lengths = ready.map_partitions(lambda p: pd.Series([len(p)]), meta=(None, "int64")).compute().tolist()
    rows = int(sum(lengths))
    if not rows:
        raise DataError(f"No rows of {ds.name} have a target{' after the filter' if spec.filter else ''}; loosen the filter.")
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
    keyed = ready.map_partitions(key_part, offsets, meta=meta.assign(**{ROW: pd.Series([], dtype="int64")})).persist()
    del ready
    return keyed, rows


def time_cutoffs(con, spec, rows: int) -> tuple[float, float]:
    """The local split's time cutoffs, bit for bit: numpy's linear quantiles of the filtered rows' times (ns) at
    1 - valid - test and 1 - test, from the two sorted neighbours of each, which DuckDB finds by sorting."""
    ds = data.resolve(con, spec.dataset)
    cols = data.columns(con, ds)
    src, src_params = data.source(ds)
    where, where_params = compile_filters(spec.filter, cols)
    time = ident(spec.time_column)
    order = time if is_temporal(cols[spec.time_column]) else f"CAST({time} AS TIMESTAMP)"
    sql = f"SELECT {time} AS t FROM {src} WHERE {where} AND {ident(spec.target)} IS NOT NULL ORDER BY {order} NULLS FIRST LIMIT 2 OFFSET ?"

    def neighbours(lo: int, hi: int) -> tuple[int, int]:
        found = _utc_ns(data.query(con, ds, sql, [*src_params, *where_params, lo])["t"])
        return int(found[0]), int(found[hi - lo]) if hi > lo else int(found[0])

    ends = (1 - spec.split.valid_fraction - spec.split.test_fraction, 1 - spec.split.test_fraction)
    valid_from, test_from = (quantile(rows, q, neighbours) for q in ends)
    return valid_from, test_from


def quantile(n: int, q: float, neighbours) -> float:
    """`np.quantile(x, [q])` (linear) of n sorted int64 values, given `neighbours(lo, hi)` -> (x[lo], x[hi]): numpy's
    own steps (virtual index (n - 1) q, then its two-sided lerp), so the float matches to the bit."""
    virtual = (n - 1) * np.asarray([q], dtype=np.float64)
    below = np.floor(virtual)
    gamma = virtual - below
    lo = int(below[0])
    if virtual[0] >= n - 1:
        lo = hi = n - 1
    elif virtual[0] < 0:
        lo = hi = 0
    else:
        hi = lo + 1
    a, b = (np.asarray([v], dtype=np.int64) for v in neighbours(lo, hi))
    diff = b - a
    value = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=value, where=gamma >= 0.5, casting="unsafe", dtype=type(value.dtype))
    return float(value[0])


def split_counts(n: int, valid_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(valid, test) rows as scikit-learn's two train_test_split calls of the local engine take them."""
    test = math.ceil(test_fraction * n)
    valid = math.ceil(valid_fraction / (1 - test_fraction) * (n - test))
    return valid, test


def _allocate(total: int, sizes: dict[int, int]) -> dict[int, int]:
    """`total` rows shared out over classes in proportion to their sizes (largest remainders get the rest)."""
    n = sum(sizes.values())
    exact = {g: total * s / n for g, s in sizes.items()}
    out = {g: math.floor(v) for g, v in exact.items()}
    for g in sorted(exact, key=lambda g: out[g] - exact[g])[: total - sum(out.values())]:
        out[g] += 1
    return out


def hash_thresholds(frame, spec, class_sizes: dict[int, int]) -> dict[int, tuple[float, float]]:
    """Per class (one group for random), the hash values from which rows are valid and test, cut at exact counts."""
    import dask

    stratified = spec.split.kind == "stratified"
    sizes = class_sizes if stratified else {0: sum(class_sizes.values())}
    n = sum(sizes.values())
    valid_total, test_total = split_counts(n, spec.split.valid_fraction, spec.split.test_fraction)
    tests = _allocate(test_total, sizes)
    valids = _allocate(valid_total, {g: s - tests[g] for g, s in sizes.items()})
    parts = frame.to_delayed()
    counts = np.sum(dask.compute(*[dask.delayed(_histogram)(p, stratified, spec.seed) for p in parts]), axis=0)[0]
    counts = counts.reshape(2, BINS)
    cuts = {}  # (group, k): (bin, position inside the bin from its top)
    for g in sizes:
        above = np.concatenate([np.cumsum(counts[g][::-1])[::-1][1:], [0]])  # rows in higher bins
        for k in (tests[g], tests[g] + valids[g]):
            if k > 0:
                b = int(np.flatnonzero((above < k) & (above + counts[g] >= k))[-1])
                cuts[(g, k)] = (b, k - int(above[b]) - 1)
    wanted = sorted({(g, b) for (g, _), (b, _) in cuts.items()})
    found = pd.concat(dask.compute(*[dask.delayed(_in_bins)(p, wanted, stratified, spec.seed) for p in parts]))
    out = {}
    for g in sizes:
        edge = []
        for k in (tests[g] + valids[g], tests[g]):
            if k <= 0:
                edge.append(math.inf)
                continue
            b, position = cuts[(g, k)]
            values = np.sort(found.loc[(found["group"] == g) & (np.minimum((found["u"] * BINS).astype(int), BINS - 1) == b), "u"])
            edge.append(float(values[::-1][position]))
        out[g] = (edge[0], edge[1])
    return out


def check_spec(spec) -> None:
    """What the dask engine does not do (yet): sampling (the checks' sample spec has one, so TrainSpec cannot refuse it)."""
    if spec.sample_rows:
        raise SpecError("The dask engine trains on every row; drop sample_rows (or set it to 0) or use --engine local.")


def each_partition(frame, function, *args) -> list:
    """`function(partition, *args)` of every partition, gathered: small per-partition answers combined on the driver
    (dask's value_counts, groupby and unique start a P2P shuffle, which hung here under load)."""
    import dask

    return list(dask.compute(*[dask.delayed(function)(part, *args) for part in frame.to_delayed()]))


def split_frame(con, spec, keyed, rows: int):
    """(frame with `__split`, rows per part as the CLI reports them, positives per part)."""
    plan = SplitPlan(spec.split.kind, spec.time_column)
    if spec.split.kind == "temporal":
        plan.cutoffs = time_cutoffs(con, spec, rows)
    else:
        sizes = np.sum(each_partition(keyed, _class_counts), axis=0)
        plan.thresholds = hash_thresholds(keyed, spec, {g: int(s) for g, s in enumerate(sizes) if s})
    meta = keyed._meta.assign(**{SPLIT: pd.Series([], dtype="int8")})
    labelled = keyed.map_partitions(split_part, plan, spec.seed, meta=meta)
    table = np.sum(each_partition(labelled, _split_counts), axis=0)  # part x class
    counts = {part: int(table[code].sum()) for code, part in enumerate(PARTS)}
    positives = {part: int(table[code, 1]) for code, part in enumerate(PARTS)}
    return labelled, counts, positives

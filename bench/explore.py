"""Explore benchmarks: segment_rates against raw DuckDB SQL and pandas, and Explore's warm first render.

    .venv/bin/python -m bench.explore [--rows 1000000 10000000] [--repeats 7]

Each size gets its own data root, bench/out/root_<rows>, holding only a `demo` dataset (generated
once, reused after). Ours and the raw SQL alternate in one process; medians are compared.
`--once SIDE ROOT` (what bench.run starts, one process per side) times one side of the filtered
two-column cut (FILTERED_BY, FILTER): ours, raw (DuckDB SQL), pandas (whole table) or pandas_columns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import duckdb
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent  # not core.settings: the raw sides import nothing of ours
OUT = PROJECT / "bench" / "out"
PAGE = PROJECT / "views" / "explore.py"  # was pages/explore.py
FILTERED_BY = ["device", "channel"]
FILTER = ("country", "in", ("US", "GB", "DE", "FR", "IN"))
TARGETS = "targets: ratio <= 1.3, pandas/ours >= 10, first render <= 2 s and generation <= 15 s at 1M rows"


def timed(fn) -> float:
    """Seconds one call of fn takes."""
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def alternate(ours, raw, repeats: int) -> tuple[float, float]:
    """Median seconds of each, run in turns after one warm-up of each."""
    ours(), raw()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(timed(raw))
    return statistics.median(a), statistics.median(b)


def root_for(rows: int, out: Path = OUT) -> tuple[Path, float | None]:
    """<out>/root_<rows> with its `demo` dataset, and the generation seconds (None if reused)."""
    from core import demo

    root = out / f"root_{rows}"
    if demo.is_current(root / "demo"):
        print(f"{rows:,} rows: reusing {root / 'demo'}", flush=True)
        return root, None
    began = time.perf_counter()
    demo.write(demo.generate(rows, 56, seed=7), root / "demo", overwrite=True)  # missing, or made before the value columns
    seconds = time.perf_counter() - began
    print(f"{rows:,} rows: generated over 56 days in {seconds:.1f} s", flush=True)
    return root, seconds


def first_render(root: Path) -> float:
    """Median seconds of Explore's first render in a fresh AppTest, with st.cache_data warm."""
    from streamlit.testing.v1 import AppTest

    os.environ["WB_DATA_ROOT"] = str(root)

    def render():
        at = AppTest.from_file(str(PAGE), default_timeout=120).run()
        assert not at.exception, [e.value for e in at.exception]

    render()
    return statistics.median(timed(render) for _ in range(3))


def one_side(side: str, root: Path):
    """A function computing one side's rows and positives per (device, channel) of the filtered table."""
    column, _, values = FILTER
    if side == "ours":
        from core import data

        con = data.connect(root)
        return lambda: data.segment_rates(con, "demo", "converted", FILTERED_BY, [FILTER])
    if side == "raw":
        keys = ", ".join(FILTERED_BY)
        sql = (
            f"SELECT {keys}, count(*) AS rows, count(*) FILTER (WHERE converted) AS positives "
            f"FROM read_parquet(?, hive_partitioning=true) WHERE {column} IN ({', '.join('?' * len(values))}) "
            f"AND converted IS NOT NULL GROUP BY ALL ORDER BY rows DESC, {keys}"
        )
        con, params = duckdb.connect(), [f"{root}/demo/**/*.parquet", *values]
        return lambda: con.execute(sql, params).df()
    # pandas: the whole table (the analyst's first try) or only the columns the cut needs.
    needed = [*FILTERED_BY, column, "converted"] if side == "pandas_columns" else None

    def with_pandas():
        frame = pd.read_parquet(root / "demo", columns=needed)
        frame = frame[frame[column].isin(values) & frame["converted"].notna()]
        return frame.groupby(FILTERED_BY, observed=True)["converted"].agg(["size", "sum"])

    return with_pandas


def once(side: str, root: Path, calls: int) -> dict:
    """One side in this process: a warm-up call, then `calls` timed ones. Keys: seconds (median), calls_s, rows."""
    fn = one_side(side, root)
    result = fn()
    calls_s = [timed(fn) for _ in range(calls)]
    return {"seconds": statistics.median(calls_s), "calls_s": calls_s, "rows": len(result)}


def bench(rows: int, repeats: int) -> dict:
    """One row of the results table."""
    from core import data

    root, gen_s = root_for(rows)
    con, raw = data.connect(root), duckdb.connect()
    result = {"rows": rows, "gen_s": None if gen_s is None else round(gen_s, 1)}
    for by in (["channel"], ["device", "channel"]):
        keys, tag = ", ".join(by), "+".join(by)
        sql = (
            f"SELECT {keys}, count(*) AS rows, sum(converted) AS positives "
            f"FROM read_parquet('{root}/demo/**/*.parquet', hive_partitioning=true) GROUP BY {keys}"
        )
        ours_s, raw_s = alternate(
            lambda by=by: data.segment_rates(con, "demo", "converted", by), lambda sql=sql: raw.sql(sql).df(), repeats
        )
        result |= {
            f"{tag} ours ms": round(ours_s * 1e3, 1),
            f"{tag} raw ms": round(raw_s * 1e3, 1),
            f"{tag} ratio": round(ours_s / raw_s, 2),
        }
        print(f"  {tag}: ours {ours_s * 1e3:.1f} ms, raw {raw_s * 1e3:.1f} ms, ratio {ours_s / raw_s:.2f}", flush=True)

    def with_pandas():
        return pd.read_parquet(root / "demo").groupby("channel")["converted"].agg(["size", "sum"])

    def with_pandas_two_columns():
        # The careful analyst's pandas: read only the two columns the cut needs.
        frame = pd.read_parquet(root / "demo", columns=["channel", "converted"])
        return frame.groupby("channel")["converted"].agg(["size", "sum"])

    pandas_s = statistics.median(timed(with_pandas) for _ in range(3))
    pandas2_s = statistics.median(timed(with_pandas_two_columns) for _ in range(3))
    result |= {"pandas ms": round(pandas_s * 1e3, 1), "pandas/ours": round(pandas_s * 1e3 / result["channel ours ms"], 1)}
    result |= {"pandas 2-col ms": round(pandas2_s * 1e3, 1), "pandas 2-col/ours": round(pandas2_s * 1e3 / result["channel ours ms"], 1)}
    print(f"  pandas: {pandas_s * 1e3:.1f} ms", flush=True)
    result["first render s"] = round(first_render(root), 2)
    print(f"  first render: {result['first render s']} s", flush=True)
    return result


def main() -> None:
    """Runs every size, prints the table and writes bench/out/explore.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--once", nargs=2, metavar=("SIDE", "ROOT"), help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(once(args.once[0], Path(args.once[1]), args.calls)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    results = [bench(rows, args.repeats) for rows in args.rows]
    print(pd.DataFrame(results).to_string(index=False))
    print(TARGETS)
    (OUT / "explore.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

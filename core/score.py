"""Batch scoring: a model's probability and decision for every row of a dataset, streamed in chunks.

A model with a value stage also writes `expected_value` (P(convert) × E[value | converted]) and, with horizons,
`expected_value.<h>` per horizon, after `decision`; other models write exactly keys, score and decision.

    python -m core.score --model models:/NAME@champion --data PATH --out PATH [--chunk-rows N] [--keys COL ...] [--threshold T]
        [--filter 'COL OP VALUE' ...] [--engine local|dask] [--scheduler tcp://HOST:PORT]

Progress goes to stderr; the last line of stdout is one JSON object
`{"status", "model", "name", "version", "run_id", "threshold", "threshold_from", "rows", "positives_flagged", "keys", "out", "seconds"}`.
Exit 0 on success, 2 with one line (`error: ...`) for bad input; a failed run never leaves a file at --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import data, settings, signature
from core.cli import crashed, leave
from core.errors import DataError, WorkbenchError
from core.scorer import Scorer, mlflow_error, resolve
from core.signature import fits
from core.sql import Filter, compile_filters, ident, is_numeric, parse_filter

OUTPUT_COLUMNS = ("score", "decision")


def default_keys(cols: dict[str, str], inputs: Sequence[str], time_column: str | None) -> list[str]:
    """Columns named `id` or `*_id` that the model does not read, and the training run's time column, in dataset order."""
    return [c for c in cols if ((c.lower() == "id" or c.lower().endswith("_id")) and c not in inputs) or c == time_column]


def plan(
    cols: dict[str, str], scorer: Scorer, keys: Sequence[str] | None, dataset: str, outputs: Sequence[str] = OUTPUT_COLUMNS
) -> tuple[list[str], list[str]]:
    """(model input columns, key columns) to read; a DataError names missing or mistyped columns, or keys named like `outputs`."""
    wanted = scorer.inputs()
    missing = [c for c, (_, required) in wanted.items() if required and c not in cols]
    if missing:
        raise DataError(f"Dataset {dataset} lacks columns the model needs: {', '.join(missing)}.")
    inputs = [c for c in wanted if c in cols]
    trained = scorer.trained_types()
    wrong = [
        f"{c} is {cols[c]} (the model expects {trained.get(c) or wanted[c][0]})"
        for c in inputs
        if not fits(wanted[c][0], cols[c], trained.get(c))
    ]
    if wrong:
        raise DataError(f"Column types in {dataset} do not fit the model: {'; '.join(wrong)}.")
    if keys is None:
        keys = default_keys(cols, inputs, scorer.run_tags.get("wb.time_column"))
    unknown = [c for c in keys if c not in cols]
    if unknown:
        raise DataError(f"Unknown key columns in {dataset}: {', '.join(unknown)}; columns are: {', '.join(cols)}.")
    clash = [c for c in keys if c in outputs]
    if clash:
        raise DataError(f"Key column {clash[0]!r} would clash with the output column of that name; leave it out of --keys.")
    return inputs, list(dict.fromkeys(keys))


def scoring_batches(
    con,
    dataset,
    columns: Sequence[str],
    filters: Sequence[Filter] = (),
    batch_rows: int = 100_000,
    keys: Sequence[str] = (),
    computed: Sequence[tuple[str, list]] = (),
):
    """(keys, features) per chunk of at most `batch_rows` rows, in file order, streamed.

    `keys` is an arrow table of the key columns as stored, then one column `__computed_<i>` per (SQL expression, params) of
    `computed` (core.monitoring reads time and label this way); `features` a DataFrame of `columns` with numerics as
    float64 (missing as NaN), the types logged model signatures expect.
    """
    ds = data.resolve(con, dataset)
    cols = data.columns(con, ds)
    where, where_params = compile_filters(filters, cols)
    src, src_params = data.source(ds)
    # Features get private names, so a column that is both key and feature keeps its stored type as a key.
    picked = [ident(k) for k in keys] + [f"{expr} AS {ident(f'__computed_{i}')}" for i, (expr, _) in enumerate(computed)]
    picked += [
        f"{f'CAST({ident(c)} AS DOUBLE)' if is_numeric(cols[c]) else ident(c)} AS {ident(f'__feature_{i}')}" for i, c in enumerate(columns)
    ]
    sql = f"SELECT {', '.join(picked) or 'NULL AS __none'} FROM {src} WHERE {where}"
    n_keys = len(keys) + len(computed)

    def split(table: pa.Table) -> tuple[pa.Table, pd.DataFrame]:
        features = table.select(list(range(n_keys, n_keys + len(columns)))).rename_columns(list(columns))
        return table.select(list(range(n_keys))), features.to_pandas()

    with con.cursor() as cursor:
        try:
            reader = cursor.sql(sql, params=[*(p for _, ps in computed for p in ps), *src_params, *where_params]).to_arrow_reader(
                batch_rows
            )
            pending, held = [], 0
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= batch_rows:  # exact-size chunks: output row groups and progress do not depend on file sizes
                    table = pa.Table.from_batches(pending)
                    yield split(table.slice(0, batch_rows))
                    rest = table.slice(batch_rows)
                    pending, held = rest.to_batches(), rest.num_rows
            if held:
                yield split(pa.Table.from_batches(pending))
        except duckdb.Error as err:
            raise DataError(f"Cannot read dataset {ds.name!r}: {str(err).strip().splitlines()[0]}") from None


def read_ahead(chunks: Iterator):
    """Yields the items of `chunks`, reading the next one in a thread while the caller works on this one.

    DuckDB and the model both release the GIL, so reading overlaps scoring; one chunk ahead bounds the memory.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-read") as pool:
        ahead = pool.submit(next, chunks, None)
        try:
            while (item := ahead.result()) is not None:
                ahead = pool.submit(next, chunks, None)
                yield item
        finally:
            # A generator cannot be closed while it runs; wait for every read submitted, not only `ahead`: a SIGTERM
            # raised inside pool.submit leaves a read queued that `ahead` does not name yet.
            pool.shutdown(wait=True)
            chunks.close()


def value_outputs(scorer: Scorer) -> list[str]:
    """The expected-value columns the model adds after score and decision ([] without a value stage)."""
    return signature.expected_value_columns(scorer.load().model.metadata)


def expected_values(scorer: Scorer, features: pd.DataFrame, scores: np.ndarray, names: Sequence[str]) -> list[np.ndarray]:
    """The columns `names` (value_outputs) per row: score × the value model's E[value | converted]."""
    raw = signature.value_model(scorer.load().model)
    found = signature.expected_values(raw, features, scores) if raw is not None else {}
    if list(found) != list(names):
        raise DataError(f"Model {scorer.uri} declares {', '.join(names)} in its signature but computes {', '.join(found) or 'none'}.")
    return [found[n] for n in names]


def positive_scores(scorer: Scorer, features: pd.DataFrame) -> np.ndarray:
    """P(positive) per row; plan() has checked the columns by name and type."""
    try:
        return signature.positive_scores(scorer.load().model, features)
    except mlflow.exceptions.MlflowException as err:
        raise DataError(f"The model refused the rows: {mlflow_error(err)}") from None


class Progress:
    """Progress lines to stderr, at most one a second: `[   1.2s] message`."""

    def __init__(self, stream=None, every_s: float = 1.0):
        self.stream, self.every_s = stream, every_s
        self.began = self.last = time.monotonic()

    def __call__(self, message: str, force: bool = True) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every_s:
            self.last = now
            print(f"[{now - self.began:7.1f}s] {message}", file=self.stream or sys.stderr, flush=True)


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _check_out(out: Path, ds) -> Path:
    out = Path(out).expanduser().resolve()
    if out.is_dir():
        raise DataError(f"--out {out} is a folder; give a file path such as {out / 'scores.parquet'}.")
    if out == ds.path or (ds.path.is_dir() and out.is_relative_to(ds.path)):
        raise DataError(f"--out {out} is inside the dataset {ds.name} being scored; write the scores elsewhere.")
    return out


def score(
    model: str,
    dataset: str,
    out: Path | str,
    chunk_rows: int | None = None,
    keys: Sequence[str] | None = None,
    threshold: float | None = None,
    filters: Sequence[Filter] = (),
    log: Progress | None = None,
) -> dict:
    """Scores every row of the dataset into a parquet file at `out` (written whole or not at all); returns the CLI result."""
    log = log or Progress()
    began = time.perf_counter()
    chunk_rows = settings.get("score_chunk_rows") if chunk_rows is None else chunk_rows
    if chunk_rows <= 0:
        raise DataError(f"--chunk-rows must be a positive whole number, not {chunk_rows}.")
    con = data.connect()
    ds = data.resolve(con, dataset)
    out = _check_out(Path(out), ds)
    scorer = resolve(model)
    cut, cut_from = scorer.threshold(threshold)  # before loading the model: a missing threshold fails fast
    cols = data.columns(con, ds)
    valued = value_outputs(scorer)
    inputs, keys = plan(cols, scorer, keys, ds.name, [*OUTPUT_COLUMNS, *valued])
    total = row_count(con, ds, cols, filters)
    named = f"{scorer.name} v{scorer.version}" if scorer.version else model
    log(f"scoring {ds.name} ({f'{total:,} rows' if total is not None else 'rows unknown'}) with {named}, threshold {cut:g} ({cut_from}); keys: {', '.join(keys) or 'none'}")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(out)
    rows = flagged = 0
    writer = None
    try:
        for key_table, features in read_ahead(scoring_batches(con, ds, inputs, filters, chunk_rows, keys)):
            scores = positive_scores(scorer, features)
            decision = (scores >= cut).astype(np.int8)
            values = [pa.array(v, pa.float64()) for v in expected_values(scorer, features, scores, valued)] if valued else []
            chunk = pa.Table.from_arrays(
                [*key_table.columns, pa.array(scores, pa.float64()), pa.array(decision, pa.int8()), *values],
                names=[*keys, *OUTPUT_COLUMNS, *valued],
            )
            if writer is None:
                writer = pq.ParquetWriter(partial, chunk.schema)
            writer.write_table(chunk)
            rows += len(scores)
            flagged += int(decision.sum())
            log(f"scored {rows:,}{f' of {total:,}' if total else ''} rows, {flagged:,} flagged", force=False)
            if stopped:  # a stop that some library caught on its way through: stop here all the same
                raise SystemExit(128 + stopped[0])
        if writer is None:  # no rows: still a file with the columns, so downstream readers see the schema
            writer = pq.ParquetWriter(partial, empty_schema(con, ds, keys, valued))
        writer.close()
        writer = None
        os.replace(partial, out)
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                writer.close()
        partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - began
    log(f"wrote {rows:,} rows ({flagged:,} flagged) to {out} in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    return outcome(model, scorer, cut, cut_from, rows, flagged, keys, out, seconds)


def outcome(model: str, scorer: Scorer, cut, cut_from, rows: int, flagged: int, keys, out: Path, seconds: float) -> dict:
    """The JSON a finished scoring prints last (either engine)."""
    return {
        "status": "FINISHED",
        "model": model,
        "name": scorer.name,
        "version": scorer.version,
        "run_id": scorer.run_id,
        "threshold": cut,
        "threshold_from": cut_from,
        "rows": rows,
        "positives_flagged": flagged,
        "keys": keys,
        "out": str(out),
        "seconds": round(seconds, 3),
    }


def row_count(con, ds, cols: dict[str, str], filters: Sequence[Filter]) -> int | None:
    """Rows to score, for progress: parquet answers from its footers; CSV would need a whole extra scan."""
    if ds.format != "parquet":
        return None
    where, where_params = compile_filters(filters, cols)
    src, src_params = data.source(ds)
    try:
        return int(con.execute(f"SELECT count(*) FROM {src} WHERE {where}", [*src_params, *where_params]).fetchone()[0])
    except duckdb.Error as err:
        raise DataError(f"Cannot read dataset {ds.name!r}: {str(err).strip().splitlines()[0]}") from None


def empty_schema(con, ds, keys: Sequence[str], valued: Sequence[str] = ()) -> pa.Schema:
    """The output's schema: the key columns as stored, score, decision and the expected-value columns `valued`."""
    src, params = data.source(ds)
    picked = ", ".join(ident(k) for k in keys) or "NULL AS __none"
    stored = con.cursor().sql(f"SELECT {picked} FROM {src} LIMIT 0", params=params).to_arrow_table().schema
    fields = [stored.field(k) for k in keys]
    outputs = [pa.field("score", pa.float64()), pa.field("decision", pa.int8()), *(pa.field(v, pa.float64()) for v in valued)]
    return pa.schema([*fields, *outputs])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.score",
        description="Score every row of a dataset with a model; write key columns, score, decision (and expected_value for a value model) to parquet. "
        "Progress goes to stderr; the last stdout line is one JSON object.",
        epilog="Output rows keep the input's order. `decision` is int8: 1 where score >= threshold, else 0. "
        "A model with a value stage adds expected_value (and expected_value.<h> per horizon), float64. "
        "The file appears at --out only when complete (it is written to <out>.partial and renamed).",
    )
    parser.add_argument(
        "--model", required=True, help="a model of this tracking store: models:/NAME@champion, models:/NAME/3, runs:/RUN_ID/model"
    )
    parser.add_argument("--data", required=True, help="dataset name or path under the data root (WB_DATA_ROOT)")
    parser.add_argument("--out", required=True, type=Path, help="parquet file to write")
    parser.add_argument("--chunk-rows", type=int, help="rows per chunk (default: the score_chunk_rows setting, WB_SCORE_CHUNK_ROWS)")
    parser.add_argument(
        "--keys",
        nargs="*",
        metavar="COL",
        help="columns to copy to the output; default: columns named id or ending in _id that the model does not read, "
        "plus the training run's time column if the dataset has it (--keys with no names copies none)",
    )
    parser.add_argument("--threshold", type=float, help="decision cut; default: the version's saved threshold, else its run's")
    parser.add_argument("--filter", nargs="+", action="append", metavar="'COL OP VALUE'", help="score only the rows that pass")
    parser.add_argument(
        "--engine", choices=("local", "dask"), default="local", help="dask: score partitions on a cluster into a folder of parquet parts"
    )
    parser.add_argument("--scheduler", help="dask scheduler tcp://HOST:PORT (default WB_DASK_SCHEDULER, else a local cluster)")
    return parser.parse_args(argv)


stopped: list[int] = []  # signals received; checked between chunks too, in case a library swallowed the SystemExit


def _stop(signum, frame):
    stopped.append(signum)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep stderr for our progress lines
    args = parse_args(argv)
    # A scheduler stops jobs with SIGTERM: unwind so score() removes its .partial file.
    stopped.clear()
    previous = signal.signal(signal.SIGTERM, _stop) if threading.current_thread() is threading.main_thread() else None
    try:
        filters = [parse_filter(text) for group in args.filter or [] for text in group]
        if args.engine == "dask":
            from core.cluster import score as cluster

            if args.chunk_rows is not None:
                raise DataError("--chunk-rows is for --engine local; the dask engine scores whole partitions.")
            result = cluster.score(args.model, args.data, args.out, args.keys, args.threshold, filters, args.scheduler)
        elif args.scheduler:
            raise DataError("--scheduler is for --engine dask.")
        else:
            result = score(args.model, args.data, args.out, args.chunk_rows, args.keys, args.threshold, filters)
    except WorkbenchError as err:
        message = str(err).strip().splitlines()[0]
        print(f"error: {message}", file=sys.stderr)
        print(json.dumps({"status": "FAILED", "model": args.model, "error": message}))
        return 2
    except Exception as err:
        return crashed(err, "score", model=args.model)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    leave(main())

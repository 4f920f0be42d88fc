"""Batch scoring on a dask cluster: each partition of a parquet dataset is read, scored and written by a worker.

The output at `--out` is a folder of parquet parts (`part.00000.parquet`, ...) with the local engine's columns (a value
model's expected_value columns too). It is
written into a hidden temporary sibling and renamed into place only when every partition succeeded.

The worker-side functions below (`score_partition` and what it calls) use no `core` module: this module is pickled
by value, and the model carries its own code (code_paths), so workers need no checkout on `sys.path`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import types
import uuid
from pathlib import Path

import cloudpickle
import dask.dataframe as dd
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask import delayed
from distributed import as_completed
from mlflow.models import Model

from core import data, settings
from core import score as local
from core.cluster.client import cluster_client
from core.errors import DataError, RegistryError
from core.scorer import mlflow_error, resolve
from core.sql import compile_filters, is_numeric, make_filter

OUTPUT_COLUMNS = ("score", "decision")
PART = "part.{:05d}.parquet"


# -- on the workers -------------------------------------------------------------------------------------------------


def _model_cache() -> dict:
    # Functions pickled by value get fresh globals with every task, so the per-process cache hangs off sys.modules.
    holder = sys.modules.setdefault("_workbench_scoring_models", types.ModuleType("_workbench_scoring_models"))
    return holder.__dict__.setdefault("models", {})


def _loaded_model(tracking_uri: str, load_uri: str):
    """(the pyfunc model, whether this call loaded it): loaded once per process and model."""
    cache = _model_cache()
    key = (tracking_uri, load_uri)
    if key in cache:
        return cache[key], False

    mlflow.set_tracking_uri(tracking_uri)
    cache[key] = mlflow.pyfunc.load_model(load_uri)
    return cache[key], True


def _as(column: pa.ChunkedArray, arrow_type: pa.DataType | None) -> pa.ChunkedArray:
    """A column cast to a type (None: kept); hive partition values (dictionary-encoded text) are decoded first."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column if arrow_type is None else column.cast(arrow_type)


def _positive_scores(model, frame: pd.DataFrame) -> np.ndarray:
    """P(positive) per row, as core.signature.positive_scores computes it (copied: workers may lack `core`)."""
    try:
        raw = model.get_raw_model()
    except NotImplementedError:
        raw = None
    out = raw.predict_proba(frame) if hasattr(raw, "predict_proba") else model.predict(frame)
    out = np.asarray(out.to_numpy() if isinstance(out, pd.DataFrame | pd.Series) else out, dtype="float64")
    return out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(len(frame))


def _expected_values(model, frame: pd.DataFrame, scores: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """score × E[value | converted] per output column, as core.signature.expected_values computes it (copied: workers
    may lack `core`)."""
    raw = model.get_raw_model()
    predicted = raw.value_if_converted(frame)
    found = {"expected_value": scores * predicted[raw.value_column].to_numpy(dtype="float64")}
    for column in raw.horizons:
        found[f"expected_value.{column}"] = scores * predicted[column].to_numpy(dtype="float64")
    return [found[n] for n in names]


def score_partition(part: pd.DataFrame, index: int, job: dict) -> dict:
    """Scores one partition and writes its part file into `job["folder"]` (none for no rows); its rows, flagged rows,
    the worker's pid and whether this task loaded the model."""
    table = pa.Table.from_pandas(part, preserve_index=False)
    schema: pa.Schema = job["schema"]
    model, loaded = _loaded_model(job["tracking_uri"], job["load_uri"])
    rows = table.num_rows
    flagged = 0
    if rows:
        # The model's inputs as the local engine gives them: numerics float64 (missing as NaN), others as stored.
        inputs = [_as(table.column(c), pa.float64() if c in job["numeric"] else None) for c in job["inputs"]]
        frame = pa.Table.from_arrays(inputs, names=job["inputs"]).to_pandas()
        scores = _positive_scores(model, frame)
        decision = (scores >= job["cut"]).astype(np.int8)
        flagged = int(decision.sum())
        valued = [pa.array(v, pa.float64()) for v in _expected_values(model, frame, scores, job["valued"])] if job["valued"] else []
        keys = [_as(table.column(f.name), f.type) for f in list(schema)[: -len(OUTPUT_COLUMNS) - len(valued)]]
        written = pa.Table.from_arrays([*keys, pa.array(scores, pa.float64()), pa.array(decision, pa.int8()), *valued], schema=schema)
        # No makedirs: a folder the driver removed (a cancel) stays removed.
        pq.write_table(written, os.path.join(job["folder"], PART.format(index)))
    return {"rows": rows, "flagged": flagged, "pid": os.getpid(), "loaded": loaded}


# -- on the driver --------------------------------------------------------------------------------------------------


class ByValue:
    """A function whose pickle carries its code: dask pickles functions by reference, which a worker without the
    checkout cannot import. Unpickles as the plain function."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __reduce__(self):

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        return cloudpickle.loads, (cloudpickle.dumps(self.fn),)


def parquet_filters(filters, cols: dict[str, str], meta: pd.DataFrame) -> list[tuple]:
    """The workbench filters as dask/pyarrow filter tuples (all must hold), values typed like their columns; `!=` and
    `not in` also drop missing values, as SQL does."""

    compile_filters(filters, cols)  # unknown columns and malformed filters: the local engine's messages
    found = []
    for item in filters:
        column, op, value = make_filter(*item)
        kind = meta[column].dtype
        arrow_type = getattr(kind, "pyarrow_dtype", None)
        if arrow_type is None or pa.types.is_dictionary(arrow_type):  # hive partition values are text
            arrow_type = pa.string()

        def typed(raw, column=column, arrow_type=arrow_type):
            try:
                return pa.scalar(raw).cast(arrow_type).as_py()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                raise DataError(f"Filter value {raw!r} does not fit column {column!r} ({cols[column]}).") from None

        if op in ("is null", "is not null"):
            found.append((column, op.replace(" null", ""), None))
        elif op == "between":
            found += [(column, ">=", typed(value[0])), (column, "<=", typed(value[1]))]
        elif op in ("in", "not in"):
            found.append((column, op, [typed(v) for v in value]))
        else:
            found.append((column, "==" if op == "=" else op, typed(value)))
        if op in ("!=", "not in"):
            found.append((column, "is not", None))
    return found


def _check_out(out: Path, ds) -> Path:

    out = Path(out).expanduser().resolve()
    if out == ds.path or (ds.path.is_dir() and out.is_relative_to(ds.path)):
        raise DataError(f"--out {out} is inside the dataset {ds.name} being scored; write the scores elsewhere.")
    if out.is_dir() and any(not (p.is_file() and p.name.endswith(".parquet")) for p in out.iterdir()):
        raise DataError(f"--out {out} is a folder holding other things than parquet parts; give a new folder path.")
    if out.exists() and not out.is_dir() and out.suffix != ".parquet":
        raise DataError(f"--out {out} is a file that is not parquet; give a new folder path.")
    return out


def _remove(path: Path) -> None:
    """Removes a folder (or file) that a late worker write may still be adding to."""
    for _ in range(50):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if not path.exists():
            return
        time.sleep(0.1)


def _publish(folder: Path, out: Path) -> None:
    """Puts the finished folder at `out`, replacing a previous output only once the new one is complete."""
    if not out.exists():
        folder.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    folder.rename(out)
    _remove(old)


def _model_metadata(scorer):
    """The scorer with its MLmodel file read (signature, training types) but not the model: the driver never unpickles
    it, so it needs neither the model's memory nor its code."""
    try:
        scorer.model = types.SimpleNamespace(metadata=Model.load(scorer.load_uri))
    except (mlflow.exceptions.MlflowException, OSError) as err:
        raise RegistryError(f"Cannot load model {scorer.uri}: {mlflow_error(err)}") from None
    return scorer


def score(model, dataset, out, keys=None, threshold=None, filters=(), scheduler=None, log=None) -> dict:
    """Scores every row of a parquet dataset on a dask cluster into a folder of parquet parts at `out` (all or
    nothing); returns the CLI result (core.score's keys plus `engine`)."""
    log = log or local.Progress()
    began = time.perf_counter()
    con = data.connect()
    ds = data.resolve(con, dataset)
    if ds.format != "parquet":
        raise DataError(f"The dask engine reads parquet; {ds.name} is {ds.format.upper()}: convert it to parquet or use --engine local.")  # fmt: skip
    out = _check_out(Path(out), ds)
    scorer = _model_metadata(resolve(model))
    cut, cut_from = scorer.threshold(threshold)
    cols = data.columns(con, ds)
    valued = local.value_outputs(scorer)  # from the MLmodel's output signature: the driver never unpickles the model
    inputs, keys = local.plan(cols, scorer, keys, ds.name, [*OUTPUT_COLUMNS, *valued])
    total = local.row_count(con, ds, cols, filters)
    schema = local.empty_schema(con, ds, keys, valued)
    needed = list(dict.fromkeys([*keys, *inputs]))
    filtered = [c for c, *_ in filters if c in cols]
    meta = dd.read_parquet(list(ds.files), columns=list(dict.fromkeys([*needed, *filtered])), dtype_backend="pyarrow")._meta
    pushed = parquet_filters(filters, cols, meta) or None
    frame = dd.read_parquet(list(ds.files), columns=needed, filters=pushed, dtype_backend="pyarrow")
    named = f"{scorer.name} v{scorer.version}" if scorer.version else model
    log(f"scoring {ds.name} ({total:,} rows, {frame.npartitions} partitions) on dask with {named}, threshold {cut:g} ({cut_from}); keys: {', '.join(keys) or 'none'}")  # fmt: skip
    folder = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    job = {
        "folder": str(folder),
        "schema": schema,
        "inputs": inputs,
        "numeric": [c for c in inputs if is_numeric(cols[c])],
        "cut": cut,
        "valued": valued,
        "tracking_uri": settings.get("tracking_uri"),
        "load_uri": scorer.load_uri,
    }
    rows = flagged = 0
    loads: dict[int, int] = {}
    futures = []
    try:
        with cluster_client(scheduler) as client:
            out.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
            tasks = [delayed(ByValue(score_partition), pure=False)(part, i, job) for i, part in enumerate(frame.to_delayed())]
            futures = client.compute(tasks)
            try:
                for future in as_completed(futures):
                    done = future.result()
                    rows, flagged = rows + done["rows"], flagged + done["flagged"]
                    loads[done["pid"]] = loads.get(done["pid"], 0) + done["loaded"]
                    log(f"scored {rows:,} of {total:,} rows, {flagged:,} flagged", force=False)
                    if local.stopped:  # a stop that a library caught on its way through
                        raise SystemExit(128 + local.stopped[0])
            except (OSError, pa.ArrowException) as err:
                raise DataError(f"A partition of dataset {ds.name!r} failed: {data.first_line(err)}") from None
            finally:
                client.cancel(futures)
        if rows == 0:  # no rows: still a part with the columns, so downstream readers see the schema
            pq.write_table(schema.empty_table(), folder / PART.format(0))
        _publish(folder, out)
    finally:
        _remove(folder)
    seconds = time.perf_counter() - began
    log(f"wrote {rows:,} rows ({flagged:,} flagged) to {out}/ in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s); model loaded {sum(loads.values())} times on {len(loads)} workers")  # fmt: skip
    return local.outcome(model, scorer, cut, cut_from, rows, flagged, keys, out, seconds) | {"engine": "dask"}

"""Uploads into the data root: a safe name, a size cap, a DuckDB read check, then an atomic move.

A file is written to a hidden temporary file beside its final place (the catalog skips hidden
names), read once with DuckDB, optionally converted from CSV to parquet, and only then moved into
place. Any failure removes what was written, so a dataset never shows up half-written.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow.parquet as pq

from core import catalog, data, settings
from core.catalog import Dataset
from core.errors import DataError

UPLOAD_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Upload:
    name: str  # the dataset's name in the catalog (its file name under the data root)
    path: Path
    rows: int
    converted: bool  # a CSV stored as parquet


def safe_name(filename: str) -> str:
    """The uploaded file's name made safe for the data root: last path part only, no leading dot or underscore,
    letters, digits, `-`, `_` and `.` kept (others become `_`); it must end in .csv or .parquet."""
    base = re.split(r"[\\/]", str(filename))[-1]
    suffix = next((s for s in UPLOAD_SUFFIXES if base.lower().endswith(s)), None)
    if suffix is None:
        raise DataError(f"{base or filename!r} is not a .csv or .parquet file; upload one of those.")
    stem = base[: -len(suffix)]
    stem = re.sub(r"[^\w.-]+", "_", stem)
    stem = re.sub(r"\.{2,}", ".", stem).lstrip("._-")
    # At most 120 bytes, not characters: a file name holds 255 bytes, and CJK letters take three each in UTF-8.
    stem = stem.encode()[:120].decode(errors="ignore").rstrip(".")
    if not stem:
        raise DataError(f"{base!r} has no usable name; rename it with letters or digits before the extension.")
    return stem + suffix


def _copy_capped(source: BinaryIO, target: Path, filename: str, max_bytes: int) -> None:
    written = 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise _too_big(filename, max_bytes)
            out.write(chunk)


def _too_big(filename: str, max_bytes: int) -> DataError:
    return DataError(
        f"{filename} is larger than the upload cap of {max_bytes // 2**20:,} MB (WB_UPLOAD_MAX_MB): raise the cap, "
        "or copy the file into the data root yourself."
    )


def _as_utf8(path: Path, target: Path, filename: str) -> None:
    # DuckDB reads UTF-8, UTF-16 and Latin-1 only; Windows-1252 (Excel in much of Europe) is rewritten as UTF-8.
    try:
        with open(path, encoding="cp1252", newline="") as src, open(target, "w", encoding="utf-8", newline="") as out:
            shutil.copyfileobj(src, out, CHUNK_BYTES)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{filename} is neither UTF-8 nor Windows-1252 text ({err.reason}); save it as UTF-8 and upload it again."
        ) from None
    os.replace(target, path)


def _checked_rows(con, ds: Dataset, filename: str) -> int:
    """Reads every column of every row once, so a truncated or malformed file fails here, not later."""
    src, params = data.source(ds)
    try:
        rows = con.execute(f"SELECT count(*), count(COLUMNS(*)) FROM {src}", params).fetchone()[0]
    except duckdb.Error as err:
        lines = str(err).splitlines()
        # DuckDB names the column and value that broke a CSV a few lines down; the analyst needs both.
        detail = next((f" ({line.rstrip('.')})" for line in lines if line.startswith("Error when converting column")), "")
        raise DataError(f"{filename} cannot be read as {ds.format}: {lines[0]}{detail}; nothing was saved.") from None
    if rows == 0:
        raise DataError(f"{filename} holds no rows; nothing was saved.")
    return int(rows)


def _to_parquet(con, ds: Dataset, target: Path) -> None:
    """The CSV as parquet with the column types DuckDB read (streamed in batches)."""
    src, params = data.source(ds)
    with con.cursor() as cursor:
        reader = cursor.sql(f"SELECT * FROM {src}", params=params).to_arrow_reader(100_000)
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)


def _publish(temp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        if final.is_dir():
            raise DataError(f"{final.name} is a folder in the data root; rename the file to upload it.")
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)  # fails if the name exists, even if it appeared a moment ago
    except FileExistsError:
        raise DataError(f"A dataset named {final.name} already exists: tick “Overwrite existing” or rename the file.") from None
    os.unlink(temp)


def save_upload(
    source: BinaryIO,
    filename: str,
    con: duckdb.DuckDBPyConnection | None = None,
    root: Path | str | None = None,
    overwrite: bool = False,
    to_parquet: bool = False,
    max_mb: int | None = None,
) -> Upload:
    """Stores an uploaded CSV or parquet under the data root once DuckDB has read it; returns what was stored."""
    base = catalog.data_root(root)
    con = con if con is not None else data.connect(base)
    max_bytes = (max_mb or settings.get("upload_max_mb")) * 2**20
    name = safe_name(filename)
    fmt = UPLOAD_SUFFIXES[os.path.splitext(name)[1]]
    convert = to_parquet and fmt == "csv"
    final = base / (os.path.splitext(name)[0] + ".parquet" if convert else name)
    if final.exists() and not overwrite:
        raise DataError(f"A dataset named {final.name} already exists: tick “Overwrite existing” or rename the file.")
    size = getattr(source, "size", None)
    if size is not None and size > max_bytes:
        raise _too_big(filename, max_bytes)
    base.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    temp = base / f".upload-{token}{os.path.splitext(name)[1]}"
    converted = base / f".upload-{token}.parquet"
    recoded = base / f".upload-{token}.utf8"
    try:
        _copy_capped(source, temp, filename, max_bytes)
        if fmt == "csv" and catalog.file_encoding(temp) == "windows-1252":
            _as_utf8(temp, recoded, filename)
        ds = Dataset(name, temp, fmt, (str(temp),), token)
        rows = _checked_rows(con, ds, filename)
        if convert:
            _to_parquet(con, ds, converted)
            _publish(converted, final, overwrite)
        else:
            _publish(temp, final, overwrite)
    finally:
        for leftover in (temp, converted, recoded):
            leftover.unlink(missing_ok=True)
    return Upload(final.name, final, rows, convert)

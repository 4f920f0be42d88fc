"""Datasets under the data root: which files make one, what they are named, their fingerprint.

A dataset is a parquet or CSV file, or a folder of hive partitions (`key=value/` sub-folders),
named by its path relative to the data root (`shoppers.csv`, `raw/2026.parquet`, `demo`).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core import settings
from core.errors import DataError

# Bytes that are printable in Windows-1252 (€, curly quotes, dashes) but control codes in Latin-1.
_CP1252_ONLY = re.compile(rb"[\x80-\x9f]")
_encodings: dict[tuple[str, int, int], str] = {}
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".gz": "csv"}


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    format: str
    files: tuple[str, ...]
    fingerprint: str  # changes when a file is added, removed, resized or rewritten

    @property
    def glob(self) -> str:
        """What DuckDB reads: the file itself, or every file of the format under the folder."""
        if self.path.is_dir():
            suffix = ".parquet" if self.format == "parquet" else ".csv"
            return str(self.path / "**" / f"*{suffix}")
        return str(self.path)


def _dataset(name: str, path: Path, fmt: str, stats: list[tuple[str, int, int]]) -> Dataset:
    digest = hashlib.sha1(name.encode())
    for file, size, mtime in stats:
        digest.update(f"{file}|{size}|{mtime}".encode())
    return Dataset(name, path, fmt, tuple(file for file, _, _ in stats), digest.hexdigest())


def data_root(root: Path | str | None = None) -> Path:
    """The data root as an absolute path with links resolved (the sandbox compares real paths)."""
    return Path(root).resolve() if root is not None else settings.get("data_root")


def file_format(name: str) -> str | None:
    """'parquet', 'csv' or None for a file name we do not read."""
    lower = name.lower()
    if lower.endswith((".csv.gz", ".tsv.gz")):
        return "csv"
    return FORMATS.get(os.path.splitext(lower)[1]) if not lower.endswith(".gz") else None


def _hidden(name: str) -> bool:
    # Spark/Hadoop markers (_SUCCESS) and half-written temp folders (.demo-tmp) are not data.
    return name.startswith((".", "_"))


def _partitioned(folder: Path) -> bool:
    return any(child.is_dir() and "=" in child.name for child in folder.iterdir())


def _folder_dataset(name: str, folder: Path) -> Dataset | None:
    # One scandir pass gives names and stats together: this runs on every cached lookup.
    found: list[tuple[str, int, int, str]] = []
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if _hidden(entry.name):
                    continue
                if entry.is_dir():
                    pending.append(entry.path)
                elif fmt := file_format(entry.name):
                    stat = entry.stat()
                    found.append((entry.path, stat.st_size, stat.st_mtime_ns, fmt))
    if not found:
        return None
    fmt = "parquet" if any(f[3] == "parquet" for f in found) else "csv"
    return _dataset(name, folder, fmt, sorted(f[:3] for f in found if f[3] == fmt))


def _file_dataset(name: str, path: Path, fmt: str) -> Dataset:
    stat = path.stat()
    return _dataset(name, path, fmt, [(str(path), stat.st_size, stat.st_mtime_ns)])


def discover(root: Path | str | None = None) -> list[Dataset]:
    """Every dataset under the root, sorted by name; a partitioned folder counts once."""
    base = data_root(root)
    found: list[Dataset] = []

    def walk(folder: Path) -> None:
        for child in sorted(folder.iterdir()):
            # A link that leads out of the root is not ours to read (the sandbox would refuse it).
            if _hidden(child.name) or not child.resolve().is_relative_to(base):
                continue
            name = child.relative_to(base).as_posix()
            if child.is_dir():
                if _partitioned(child):
                    dataset = _folder_dataset(name, child)
                    if dataset:
                        found.append(dataset)
                else:
                    walk(child)
            elif child.is_file() and file_format(child.name):
                found.append(_file_dataset(name, child, file_format(child.name)))

    if base.is_dir():
        walk(base)
    return found


def resolve(dataset: str | Dataset, root: Path | str | None = None) -> Dataset:
    """A dataset by name or by path relative to the data root; anything else is a DataError."""
    if isinstance(dataset, Dataset):
        return dataset
    base = data_root(root)
    path = (base / str(dataset)).resolve()
    if not path.is_relative_to(base):
        raise DataError(f"Dataset {dataset!r} is outside the data root {base}; give a path inside it.")
    name = path.relative_to(base).as_posix()
    if path.is_dir():
        found = _folder_dataset(name, path)
        if found:
            return found
        raise DataError(f"Folder {dataset!r} holds no parquet or CSV files.")
    if path.is_file():
        fmt = file_format(path.name)
        if fmt is None:
            raise DataError(f"{dataset!r} is not a parquet or CSV file.")
        return _file_dataset(name, path, fmt)
    known = ", ".join(d.name for d in discover(base)) or "none yet"
    raise DataError(f"No dataset {dataset!r} under {base}. Datasets: {known}.")


def _sniff_encoding(path: str) -> str:
    # The whole file is read once per version: a Latin-1 byte may first appear far down a large export.
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        head = stream.read(4)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        stream.seek(3 if head.startswith(codecs.BOM_UTF8) else 0)
        decoder, ascii_only, latin = codecs.getincrementaldecoder("utf-8")(), True, False
        while chunk := stream.read(1 << 20):
            if not latin:
                try:
                    decoder.decode(chunk)
                    ascii_only = ascii_only and chunk.isascii()
                    continue
                except UnicodeDecodeError:
                    latin = True
            if _CP1252_ONLY.search(chunk):
                return "windows-1252"
        if latin:
            return "latin-1"
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a multi-byte sequence: a stray high byte
            return "latin-1"
        return "ascii" if ascii_only else "utf-8"


def file_encoding(path: str | Path) -> str:
    """The text encoding of a CSV file: 'ascii', 'utf-8', 'utf-16', 'latin-1' or 'windows-1252' (cached per version)."""
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _encodings:
        _encodings[key] = _sniff_encoding(str(path))
    return _encodings[key]


def csv_encoding(ds: Dataset) -> str:
    """The `encoding` DuckDB's read_csv needs for a CSV dataset; a DataError says what to convert when it cannot read it."""
    found = {file: file_encoding(file) for file in ds.files}
    kinds = sorted(set(found.values()) - {"ascii"})
    if "windows-1252" in kinds:
        file = os.path.basename(next(f for f, kind in found.items() if kind == "windows-1252"))
        where = ds.name if ds.path.is_file() else f"{file} in {ds.name!r}"
        raise DataError(
            f"{where} is Windows-1252 text (it holds €, curly quotes or dashes), "
            "which DuckDB reads only with an extension this workbench does not load: save it as UTF-8 "
            "(Excel: Save As → CSV UTF-8), or upload it on Explore, which converts it."
        )
    if len(kinds) > 1:
        raise DataError(
            f"The files of {ds.name!r} mix text encodings ({', '.join(kinds)}): save them all as UTF-8 so they read as one dataset."
        )
    return "utf-8" if not kinds or kinds[0] == "utf-8" else kinds[0]

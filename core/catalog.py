"""Datasets under the data root: which files make one, what they are named, their fingerprint.

A dataset is a parquet or CSV file, or a folder of hive partitions (`key=value/` sub-folders),
named by its path relative to the data root (`shoppers.csv`, `raw/2026.parquet`, `demo`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core import settings
from core.errors import DataError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".gz": "csv"}


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    format: str
    files: tuple[Path, ...]

    @property
    def glob(self) -> str:
        """What DuckDB reads: the file itself, or every file of the format under the folder."""
        if self.path.is_dir():
            suffix = ".parquet" if self.format == "parquet" else ".csv"
            return str(self.path / "**" / f"*{suffix}")
        return str(self.path)

    @property
    def fingerprint(self) -> str:
        """Changes when a file is added, removed, resized or rewritten."""
        digest = hashlib.sha1(self.name.encode())
        for file in self.files:
            stat = file.stat()
            digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return digest.hexdigest()


def data_root(root: Path | str | None = None) -> Path:
    """The data root as an absolute path with links resolved (the sandbox compares real paths)."""
    return Path(root).resolve() if root is not None else settings.get("data_root")


def file_format(path: Path) -> str | None:
    """'parquet', 'csv' or None for a file we do not read."""
    if path.name.endswith((".csv.gz", ".tsv.gz")):
        return "csv"
    return FORMATS.get(path.suffix.lower()) if path.suffix.lower() != ".gz" else None


def _hidden(name: str) -> bool:
    # Spark/Hadoop markers (_SUCCESS) and half-written temp folders (.demo-tmp) are not data.
    return name.startswith((".", "_"))


def _partitioned(folder: Path) -> bool:
    return any(child.is_dir() and "=" in child.name for child in folder.iterdir())


def _folder_dataset(name: str, folder: Path) -> Dataset | None:
    files = tuple(
        sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and file_format(p) and not any(_hidden(part) for part in p.relative_to(folder).parts)
        )
    )
    if not files:
        return None
    formats = {file_format(p) for p in files}
    fmt = "parquet" if "parquet" in formats else "csv"
    return Dataset(name, folder, fmt, tuple(p for p in files if file_format(p) == fmt))


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
            elif child.is_file() and file_format(child):
                found.append(Dataset(name, child, file_format(child), (child,)))

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
        fmt = file_format(path)
        if fmt is None:
            raise DataError(f"{dataset!r} is not a parquet or CSV file.")
        return Dataset(name, path, fmt, (path,))
    known = ", ".join(d.name for d in discover(base)) or "none yet"
    raise DataError(f"No dataset {dataset!r} under {base}. Datasets: {known}.")

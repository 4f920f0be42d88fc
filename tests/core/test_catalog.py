import os

import pandas as pd
import pytest

from core import catalog
from core.errors import DataError


def test_discover_names_files_and_partitioned_folders(tiny_root):
    found = {ds.name: ds for ds in catalog.discover(tiny_root)}
    assert sorted(found) == ["events", "raw/2026.parquet", "tiny.csv", "tiny.parquet"]
    assert found["events"].format == "parquet"
    assert len(found["events"].files) == 2  # _SUCCESS is not data
    assert found["tiny.csv"].format == "csv"


def test_resolve_by_name_or_relative_path(tiny_root):
    assert catalog.resolve("raw/2026.parquet", tiny_root).path == tiny_root / "raw" / "2026.parquet"
    assert catalog.resolve("events", tiny_root).path == tiny_root / "events"


@pytest.mark.parametrize("name", ["../outside.parquet", "/etc/passwd"])
def test_resolve_refuses_paths_outside_the_root(tiny_root, name):
    with pytest.raises(DataError, match="outside the data root"):
        catalog.resolve(name, tiny_root)


def test_resolve_unknown_lists_what_exists(tiny_root):
    with pytest.raises(DataError, match="No dataset 'nope'.*tiny.parquet"):
        catalog.resolve("nope", tiny_root)
    with pytest.raises(DataError, match="not a parquet or CSV"):
        catalog.resolve("notes.txt", tiny_root)


def test_fingerprint_changes_with_a_new_partition(tmp_path):
    (tmp_path / "ev" / "d=1").mkdir(parents=True)
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "ev" / "d=1" / "p.parquet")
    before = catalog.resolve("ev", tmp_path).fingerprint
    assert catalog.resolve("ev", tmp_path).fingerprint == before
    (tmp_path / "ev" / "d=2").mkdir()
    pd.DataFrame({"a": [2]}).to_parquet(tmp_path / "ev" / "d=2" / "p.parquet")
    assert catalog.resolve("ev", tmp_path).fingerprint != before


def test_links_out_of_the_root_are_not_listed(tmp_path):
    os.symlink("/etc", tmp_path / "etc")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "ok.parquet")
    assert [ds.name for ds in catalog.discover(tmp_path)] == ["ok.parquet"]
    with pytest.raises(DataError, match="outside the data root"):
        catalog.resolve("etc/passwd", tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a,b\n1,2\n", "ascii"),
        ("a,b\nZ\u00fcrich,2\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfa,b\n1,2\n", "ascii"),
        ("a,b\nZ\u00fcrich,2\n".encode("latin-1"), "latin-1"),
        ("a,b\n\u20ac,2\n".encode("cp1252"), "windows-1252"),
        ("a,b\n1,2\n".encode("utf-16"), "utf-16"),
    ],
)
def test_file_encoding(tmp_path, content, expected):
    (tmp_path / "f.csv").write_bytes(content)
    assert catalog.file_encoding(tmp_path / "f.csv") == expected


def test_a_latin1_byte_far_down_the_file_is_found(tmp_path):
    (tmp_path / "f.csv").write_bytes(b"a,b\n" + b"x,1\n" * 400_000 + "\u00e9,2\n".encode("latin-1"))
    assert catalog.file_encoding(tmp_path / "f.csv") == "latin-1"


def test_a_folder_mixing_encodings_says_to_save_all_as_utf8(tmp_path):
    (tmp_path / "ev" / "d=1").mkdir(parents=True)
    (tmp_path / "ev" / "d=2").mkdir()
    (tmp_path / "ev" / "d=1" / "p.csv").write_bytes("a\n\u00e9\n".encode())
    (tmp_path / "ev" / "d=2" / "p.csv").write_bytes("a\n\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"mix text encodings \(latin-1, utf-8\): save them all as UTF-8"):
        catalog.csv_encoding(catalog.resolve("ev", tmp_path))

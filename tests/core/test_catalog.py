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

import pandas as pd

from core import catalog, data, schemas


def write(folder, part, frame):
    (folder / part).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / part / "p.parquet", index=False)


def test_a_folder_of_one_schema_is_read_without_union_by_name(tmp_path):
    write(tmp_path / "ev", "d=1", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    write(tmp_path / "ev", "d=2", pd.DataFrame({"b": ["z"], "a": [3]}))  # same columns in another order
    con = data.connect(tmp_path)
    ds = data.resolve(con, "ev")
    assert schemas.one_schema(con, ds)
    assert "union_by_name" not in data.source(ds, con)[0] and "union_by_name" in data.source(ds)[0]


def test_a_type_that_differs_between_files_keeps_union_by_name_and_its_values(tmp_path):
    write(tmp_path / "ev", "d=1", pd.DataFrame({"a": [1, 2], "converted": [1, 0]}))
    write(tmp_path / "ev", "d=2", pd.DataFrame({"a": [3.5], "converted": [1]}))  # without union_by_name: cast to 4
    con = data.connect(tmp_path)
    assert not schemas.one_schema(con, data.resolve(con, "ev"))
    table = data.segment_rates(con, "ev", "converted", ["a"], [("a", "=", 3.5)])
    assert (table["segment"].tolist(), table["rows"].tolist()) == (["3.5"], [1])


def test_a_new_partition_with_another_column_is_seen_at_once(tmp_path):
    write(tmp_path / "ev", "d=1", pd.DataFrame({"g": ["x", "y"], "converted": [1, 0]}))
    con = data.connect(tmp_path)
    assert schemas.one_schema(con, data.resolve(con, "ev"))
    write(tmp_path / "ev", "d=2", pd.DataFrame({"g": ["x"], "extra": [1.0], "converted": [1]}))
    assert not schemas.one_schema(con, data.resolve(con, "ev"))
    assert data.segment_rates(con, "ev", "converted", ["g"]).set_index("segment")["rows"].to_dict() == {"x": 2, "y": 1}
    assert data.segment_rates(con, "ev", "converted", ["extra"]).set_index("segment")["rows"].to_dict() == {"(missing)": 2, "1.0": 1}


def test_partition_keys_that_differ_and_csv_folders_keep_union_by_name(tmp_path):
    write(tmp_path / "ev", "d=1", pd.DataFrame({"a": [1]}))
    write(tmp_path / "ev", "e=2", pd.DataFrame({"a": [2]}))
    (tmp_path / "csv" / "d=1").mkdir(parents=True)
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "csv" / "d=1" / "p.csv", index=False)
    con = data.connect(tmp_path)
    assert not schemas.one_schema(con, catalog.resolve("ev", tmp_path))
    assert not schemas.one_schema(con, catalog.resolve("csv", tmp_path))

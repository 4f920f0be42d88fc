"""Uploads land under the data root under a safe name, read by DuckDB first, never half-written."""

import io
import os

import pandas as pd
import pytest

from core import data, sqlbox, upload
from core.errors import DataError
from tests.conftest import TINY


def leftovers(root):
    return sorted(p.name for p in root.iterdir())


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("sales.csv", "sales.csv"),
        ("Sales 2026 (EU).CSV", "Sales_2026_EU_.csv"),
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\ana\\export.parquet", "export.parquet"),
        (".hidden.csv", "hidden.csv"),
        ("_tmp.parquet", "tmp.parquet"),
        ("a..b;rm -rf.csv", "a.b_rm_-rf.csv"),
        ("ventes_été.csv", "ventes_été.csv"),
        # Hostile names: path parts, hidden and device-like names, look-alike slashes, NUL bytes, length.
        ("../../etc/x.csv", "x.csv"),
        ("..\\..\\x.csv", "x.csv"),
        ("/abs/x.csv", "x.csv"),
        ("~/x.csv", "x.csv"),
        ("a/../../b.parquet", "b.parquet"),
        ("con.csv", "con.csv"),  # a Windows device name; the data root lives on POSIX, where it is a plain name
        ("x\u2215..\u2215y.csv", "x_._y.csv"),  # division slashes that look like '/'
        ("evil\x00.csv", "evil_.csv"),
        ("\u202eexe.csv", "exe.csv"),  # a right-to-left override that would show the name reversed
        ("a" * 1000 + ".csv", "a" * 120 + ".csv"),
        ("中" * 200 + ".parquet", "中" * 40 + ".parquet"),  # cut at 120 bytes: the file system counts bytes
    ],
)
def test_safe_name(filename, expected):
    assert upload.safe_name(filename) == expected


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("notes.txt", "'notes.txt' is not a .csv or .parquet file; upload one of those."),
        ("data.csv.exe", "'data.csv.exe' is not a .csv or .parquet file; upload one of those."),
        ("..csv", "'..csv' has no usable name; rename it with letters or digits before the extension."),
        ("../.csv", "'.csv' has no usable name; rename it with letters or digits before the extension."),
        ("x.csv\x00.exe", "'x.csv\\x00.exe' is not a .csv or .parquet file; upload one of those."),
        ("x\uff0ecsv", "'x\uff0ecsv' is not a .csv or .parquet file; upload one of those."),  # a full-width dot
        ("....csv", "'....csv' has no usable name; rename it with letters or digits before the extension."),
        ("..\\.parquet", "'.parquet' has no usable name; rename it with letters or digits before the extension."),
    ],
)
def test_bad_names_are_refused(filename, message):
    with pytest.raises(DataError) as refused:
        upload.safe_name(filename)
    assert str(refused.value) == message


def test_a_csv_upload_is_listed_with_its_rows(tmp_path):
    result = upload.save_upload(io.BytesIO(TINY.to_csv(index=False).encode()), "my events.csv", root=tmp_path)
    assert (result.name, result.rows, result.converted) == ("my_events.csv", 10, False)
    assert leftovers(tmp_path) == ["my_events.csv"]
    assert data.datasets(data.connect(tmp_path)).set_index("name").loc["my_events.csv", "rows"] == 10


def test_too_big_is_refused_and_leaves_nothing(tmp_path):
    big = io.BytesIO(b"a,b\n" + b"1,2\n" * 300_000)  # 1.2 MB
    with pytest.raises(DataError, match=r"larger than the upload cap of 1 MB \(WB_UPLOAD_MAX_MB\)"):
        upload.save_upload(big, "big.csv", root=tmp_path, max_mb=1)
    assert leftovers(tmp_path) == []


def test_the_cap_comes_from_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("WB_UPLOAD_MAX_MB", "1")
    stream = io.BytesIO(b"a\n1\n")
    stream.size = 2 * 2**20  # what Streamlit's UploadedFile reports: refused before a byte is written
    with pytest.raises(DataError, match="upload cap of 1 MB"):
        upload.save_upload(stream, "big.csv", root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_corrupt_parquet_leaves_nothing_behind(tmp_path):
    whole = io.BytesIO()
    TINY.to_parquet(whole, index=False)
    cut = io.BytesIO(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(DataError) as refused:
        upload.save_upload(cut, "cut.parquet", root=tmp_path)
    assert str(refused.value).startswith("cut.parquet cannot be read as parquet: Invalid Input Error: No magic bytes")
    assert str(refused.value).endswith("; nothing was saved.")
    assert leftovers(tmp_path) == []


def test_a_malformed_csv_leaves_nothing_behind(tmp_path):
    rows = "a,b\n" + "1,2\n" * 30_000 + "3,abc\n"  # past the rows DuckDB samples to choose column types
    with pytest.raises(DataError) as refused:
        upload.save_upload(io.BytesIO(rows.encode()), "bad.csv", root=tmp_path)
    assert str(refused.value) == (
        "bad.csv cannot be read as csv: Conversion Error: CSV Error on Line: 30002 "
        """(Error when converting column "b". Could not convert string "abc" to 'BIGINT'); nothing was saved."""
    )
    with pytest.raises(DataError, match="empty.csv holds no rows; nothing was saved."):
        upload.save_upload(io.BytesIO(b"a,b\n"), "empty.csv", root=tmp_path)
    assert leftovers(tmp_path) == []


def test_an_existing_dataset_is_kept_unless_overwrite(tmp_path):
    upload.save_upload(io.BytesIO(b"a\n1\n2\n"), "d.csv", root=tmp_path)
    with pytest.raises(DataError) as refused:
        upload.save_upload(io.BytesIO(b"a\n1\n"), "d.csv", root=tmp_path)
    assert str(refused.value) == "A dataset named d.csv already exists: tick “Overwrite existing” or rename the file."
    assert (tmp_path / "d.csv").read_bytes() == b"a\n1\n2\n"
    assert upload.save_upload(io.BytesIO(b"a\n1\n"), "d.csv", root=tmp_path, overwrite=True).rows == 1
    assert (tmp_path / "d.csv").read_bytes() == b"a\n1\n"
    assert leftovers(tmp_path) == ["d.csv"]


def test_a_failed_overwrite_keeps_the_old_file(tmp_path):
    upload.save_upload(io.BytesIO(b"a\n1\n2\n"), "d.csv", root=tmp_path)
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "p.parquet")
    before = (tmp_path / "p.parquet").read_bytes()
    with pytest.raises(DataError):
        upload.save_upload(io.BytesIO(b"PAR1 not really"), "p.parquet", root=tmp_path, overwrite=True)
    assert (tmp_path / "p.parquet").read_bytes() == before
    assert leftovers(tmp_path) == ["d.csv", "p.parquet"]


def test_conversion_to_parquet_keeps_rows_and_types(tmp_path):
    csv = TINY.to_csv(index=False).encode()
    (tmp_path / "as_csv.csv").write_bytes(csv)
    result = upload.save_upload(io.BytesIO(csv), "as_csv.csv", root=tmp_path, to_parquet=True)
    assert (result.name, result.rows, result.converted) == ("as_csv.parquet", 10, True)
    con = data.connect(tmp_path)
    assert data.columns(con, "as_csv.parquet") == data.columns(con, "as_csv.csv")
    assert data.columns(con, "as_csv.parquet")["event_time"] == "TIMESTAMP"
    as_read = [sqlbox.run_sql(con, f'SELECT * FROM "{name}"') for name in ("as_csv.csv", "as_csv.parquet")]
    pd.testing.assert_frame_equal(*as_read)  # same values and dtypes as DuckDB reads the CSV (answer yes/no is BOOLEAN)
    assert as_read[1]["spend"].isna().sum() == 1 and as_read[1]["hour"].sum() == TINY["hour"].sum()
    assert leftovers(tmp_path) == ["as_csv.csv", "as_csv.parquet"]


def test_latin1_and_windows_1252_uploads_read_with_their_accents(tmp_path):
    text = "ville,catégorie,converted\nGenève,é,1\nZürich,è,0\nParis,€ “promo”,1\n"
    result = upload.save_upload(io.BytesIO(text.encode("cp1252")), "ventes.csv", root=tmp_path)
    con = data.connect(tmp_path)
    assert result.rows == 3
    assert (tmp_path / "ventes.csv").read_text(encoding="utf-8") == text  # stored as UTF-8
    latin = upload.save_upload(io.BytesIO(text.replace("€ “promo”", "à").encode("latin-1")), "l.csv", root=tmp_path, to_parquet=True)
    assert data.segment_rates(con, latin.name, "converted", ["ville"])["segment"].tolist() == ["Genève", "Paris", "Zürich"]
    assert pd.read_parquet(tmp_path / "l.parquet")["catégorie"].tolist() == ["é", "è", "à"]
    assert leftovers(tmp_path) == ["l.parquet", "ventes.csv"]


def test_nothing_hidden_is_left_after_any_upload(tmp_path):
    upload.save_upload(io.BytesIO(b"a\n1\n"), "ok.csv", root=tmp_path, to_parquet=True)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


@pytest.mark.parametrize("filename", ["../../escape.csv", "..\\..\\escape.csv", "/tmp/escape.csv", "中" * 200 + ".csv"])
def test_a_hostile_name_lands_directly_under_the_root(tmp_path, filename):
    root = tmp_path / "root"
    result = upload.save_upload(io.BytesIO(b"a\n1\n"), filename, root=root)
    assert result.path.parent == root and result.path.read_bytes() == b"a\n1\n"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["root", f"root/{result.name}"]
    assert not os.path.exists("/tmp/escape.csv")

import re
import sys
import threading

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import data, sqlbox
from core.diagnostics.intervals import wilson_interval
from core.errors import DataError
from tests.conftest import TINY

RATE_COLUMNS = ["rows", "positives", "rate", "rate_lo", "rate_hi"]


def pandas_segments(frame, by):
    """The same aggregation in pandas, for comparison."""
    grouped = frame.groupby(by, dropna=False)["converted"].agg(rows="size", positives="sum").reset_index()
    grouped["rate"] = grouped["positives"] / grouped["rows"]
    return grouped


def test_datasets_lists_rows_and_formats(tiny_con):
    listing = data.datasets(tiny_con).set_index("name")
    assert listing.loc["tiny.parquet", "rows"] == 10
    assert listing.loc["tiny.csv", "rows"] == 10
    assert listing.loc["events", "rows"] == 10
    assert listing.loc["events", "files"] == 2
    assert listing.loc["raw/2026.parquet", "rows"] == 3
    assert (listing["error"] == "").all()


def test_segment_rates_one_column_by_hand(tiny_con):
    table = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["channel"])
    assert list(table.columns) == ["segment", "channel", *RATE_COLUMNS, "share"]
    assert table["segment"].tolist() == ["social", "search", "email", "(missing)"]
    assert table["rows"].tolist() == [4, 3, 2, 1]
    assert table["positives"].tolist() == [2, 2, 0, 1]
    assert table["rate"].tolist() == pytest.approx([0.5, 2 / 3, 0.0, 1.0])
    assert table["share"].tolist() == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert table["rate_lo"].iloc[0] == pytest.approx(0.150039, abs=1e-6)  # Wilson 2/4, as scipy gives
    assert table["rate_hi"].iloc[0] == pytest.approx(0.849961, abs=1e-6)


@pytest.mark.parametrize("name", ["tiny.parquet", "tiny.csv", "events"])
def test_segment_rates_two_columns_match_pandas(tiny_con, name):
    table = data.segment_rates(tiny_con, name, "converted", ["device", "channel"])
    expected = pandas_segments(TINY, ["device", "channel"])
    got = table.set_index("segment")[["rows", "positives", "rate"]].sort_index()
    labels = expected["device"] + " × " + expected["channel"].fillna("(missing)")
    want = expected.set_index(labels)[["rows", "positives", "rate"]].sort_index()
    assert got.index.tolist() == want.index.tolist()
    np.testing.assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float))
    assert table["share"].sum() == pytest.approx(1.0)


def test_filters_are_applied_and_bound(tiny_con):
    table = data.segment_rates(
        tiny_con, "tiny.parquet", "converted", ["device"], [("channel", "in", ("search", "social")), ("hour", ">=", "10")]
    )
    subset = TINY[TINY["channel"].isin(["search", "social"]) & (TINY["hour"] >= 10)]
    want = pandas_segments(subset, ["device"]).set_index("device")
    got = table.set_index("device")
    assert got["rows"].to_dict() == want["rows"].to_dict()
    assert got["positives"].to_dict() == want["positives"].to_dict()


def test_an_injection_attempt_is_just_a_value(tiny_con):
    table = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["channel"], [("channel", "=", "x' OR 1=1 --")])
    assert table.empty
    assert data.datasets(tiny_con)["rows"].notna().all()  # nothing was dropped either


def test_null_filters(tiny_con):
    missing = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["device"], [("channel", "is null", None)])
    assert missing["rows"].sum() == 1
    between = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["device"], [("spend", "between", ("2", "5"))])
    assert between["rows"].sum() == 3  # 2, 4, 5: both ends included, the missing spend is not


@pytest.mark.parametrize(
    ("target", "positive"),
    [
        ("converted", None),
        ("converted", "1"),
        ("converted", "TRUE"),
        ("flag", None),
        ("flag", "yes"),
        ("answer", "yes"),
        ("answer", "True"),
        ("answer", None),
    ],
)
def test_targets_of_every_kind_give_the_same_rates(tiny_con, target, positive):
    table = data.segment_rates(tiny_con, "tiny.parquet", target, ["device"], positive_value=positive)
    assert table.set_index("device")["positives"].to_dict() == {"mobile": 5, "desktop": 0}


def test_positive_value_zero_counts_the_other_class(tiny_con):
    table = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["device"], positive_value="0")
    assert table.set_index("device")["positives"].to_dict() == {"mobile": 2, "desktop": 3}


def test_target_errors_say_what_to_fix(tiny_con):
    with pytest.raises(DataError, match="not binary"):
        data.segment_rates(tiny_con, "tiny.parquet", "plan", ["device"])
    with pytest.raises(DataError, match="matches positive value 'maybe'"):
        data.segment_rates(tiny_con, "tiny.parquet", "answer", ["device"], positive_value="maybe")
    with pytest.raises(DataError, match="Unknown target column 'nope'"):
        data.segment_rates(tiny_con, "tiny.parquet", "nope", ["device"])
    with pytest.raises(DataError, match="Unknown segment column 'nope'"):
        data.segment_rates(tiny_con, "tiny.parquet", "converted", ["nope"])
    with pytest.raises(DataError, match="one or two"):
        data.segment_rates(tiny_con, "tiny.parquet", "converted", ["device", "channel", "plan"])
    with pytest.raises(DataError, match="does not fit"):
        data.segment_rates(tiny_con, "tiny.parquet", "converted", ["device"], [("hour", "=", "abc")])


def test_rate_over_time_by_week_and_month(tiny_con):
    weeks = data.rate_over_time(tiny_con, "tiny.parquet", "converted", "event_time", "week")
    assert list(weeks.columns) == ["period", *RATE_COLUMNS]
    assert weeks["period"].dt.strftime("%Y-%m-%d").tolist() == ["2025-12-29", "2026-01-05", "2026-01-12", "2026-01-26", "2026-02-02"]
    assert weeks["rows"].tolist() == [4, 2, 1, 1, 2]
    assert weeks["positives"].tolist() == [2, 1, 1, 0, 1]
    months = data.rate_over_time(tiny_con, "tiny.csv", "converted", "event_time", "month")
    assert months["rows"].tolist() == [7, 3]
    assert months["rate"].tolist() == pytest.approx([4 / 7, 1 / 3])


def test_rate_over_time_by_day_matches_pandas(tiny_con):
    days = data.rate_over_time(tiny_con, "events", "converted", "event_time", "day", [("device", "=", "mobile")])
    subset = TINY[TINY["device"] == "mobile"]
    want = subset.groupby(subset["event_time"].dt.floor("D"))["converted"].agg(["size", "sum"])
    assert days["rows"].tolist() == want["size"].tolist()
    assert days["positives"].tolist() == want["sum"].tolist()
    assert days["period"].tolist() == want.index.tolist()


def test_rate_over_time_refuses_bad_grain_and_non_time_column(tiny_con):
    with pytest.raises(DataError, match="Unknown grain"):
        data.rate_over_time(tiny_con, "tiny.parquet", "converted", "event_time", "fortnight")
    with pytest.raises(DataError, match="pick a date or timestamp"):
        data.rate_over_time(tiny_con, "tiny.parquet", "converted", "hour", "day")


def test_profile_numbers(tiny_con):
    prof = data.profile(tiny_con, "tiny.parquet").set_index("column")
    assert list(prof.reset_index().columns) == ["column", "type", "null_share", "distinct", "min", "max", "mean", "top"]
    spend = prof.loc["spend"]
    assert (spend["type"], spend["null_share"], spend["distinct"]) == ("DOUBLE", 0.1, 9)
    assert (spend["min"], spend["max"]) == ("1.0", "10.0")
    assert spend["mean"] == pytest.approx(52 / 9)
    channel = prof.loc["channel"]
    assert (channel["null_share"], channel["distinct"], channel["min"], channel["max"], channel["top"]) == (
        0.1,
        3,
        "email",
        "social",
        "social",
    )
    assert np.isnan(channel["mean"])
    assert prof.loc["converted", "mean"] == 0.5
    assert prof.loc["flag", "mean"] == 0.5
    assert (prof.loc["hour", "min"], prof.loc["hour", "max"]) == ("8", "17")


def test_overall_rate_adds_up_the_segments(tiny_con):
    table = data.segment_rates(tiny_con, "tiny.parquet", "converted", ["channel"])
    overall = data.overall_rate(table).iloc[0]
    assert (overall["rows"], overall["positives"], overall["rate"]) == (10, 5, 0.5)


def test_time_columns_are_dates_and_timestamps(tiny_con):
    assert data.time_columns(data.columns(tiny_con, "tiny.parquet")) == ["event_time"]


def test_rate_over_time_names_a_text_time_column_that_is_not_dates(tmp_path):
    frame = pd.DataFrame({"when": ["2026-01-01", "03/02/2026", "2026-01-03"], "converted": [1, 0, 1]})
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    con = data.connect(tmp_path)
    assert data.columns(con, "mixed.csv")["when"] == "VARCHAR"
    with pytest.raises(DataError) as refused:
        data.rate_over_time(con, "mixed.csv", "converted", "when", "day")
    assert str(refused.value) == (
        "Time column 'when' holds text that is not a date, e.g. '03/02/2026': write every date as YYYY-MM-DD "
        "(or YYYY-MM-DD HH:MM:SS) in the file, or pick another time column."
    )


def test_rate_over_time_reads_a_text_time_column_of_iso_dates(tmp_path):
    pd.DataFrame({"when": ["2026-01-01", "2026-01-01 10:00"], "converted": [1, 0]}).to_parquet(tmp_path / "t.parquet")
    series = data.rate_over_time(data.connect(tmp_path), "t.parquet", "converted", "when", "day")
    assert series["rows"].tolist() == [2]


def test_a_corrupt_file_is_named(tmp_path):
    TINY.to_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    con = data.connect(tmp_path)
    listing = data.datasets(con).set_index("name")
    assert listing.loc["good.parquet", "rows"] == 10
    assert pd.isna(listing.loc["bad.parquet", "rows"])
    assert "bad.parquet" in listing.loc["bad.parquet", "error"]
    with pytest.raises(DataError, match="bad.parquet"):
        data.segment_rates(con, "bad.parquet", "converted", ["device"])


def test_a_new_partition_is_seen_without_reconnecting(tmp_path):
    (tmp_path / "ev" / "d=1").mkdir(parents=True)
    TINY.head(4).to_parquet(tmp_path / "ev" / "d=1" / "p.parquet")
    con = data.connect(tmp_path)
    assert data.segment_rates(con, "ev", "converted", ["device"])["rows"].sum() == 4
    (tmp_path / "ev" / "d=2").mkdir()
    TINY.tail(6).to_parquet(tmp_path / "ev" / "d=2" / "p.parquet")
    assert data.segment_rates(con, "ev", "converted", ["device"])["rows"].sum() == 10


LATIN_ROWS = [("Zürich", "é", 1), ("Zürich", "è", 0), ("Genève", "é", 1), ("Genève", "é", 0), ("Genève", "à", 1), ("Köln", "é", 0)]


def _write_text_csv(path, encoding, rows=LATIN_ROWS, header="ville,catégorie,converted"):
    lines = [header, *(",".join(map(str, row)) for row in rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def test_a_latin1_csv_reads_profiles_and_cuts_by_segment(tmp_path):
    _write_text_csv(tmp_path / "ventes.csv", "latin-1")
    con = data.connect(tmp_path)
    assert data.datasets(con).set_index("name").loc["ventes.csv", "rows"] == 6
    assert data.columns(con, "ventes.csv") == {"ville": "VARCHAR", "catégorie": "VARCHAR", "converted": "BIGINT"}
    prof = data.profile(con, "ventes.csv").set_index("column")
    assert (prof.loc["ville", "distinct"], prof.loc["ville", "top"], prof.loc["catégorie", "min"]) == (3, "Genève", "à")
    table = data.segment_rates(con, "ventes.csv", "converted", ["ville"]).set_index("segment")
    assert table["rows"].to_dict() == {"Genève": 3, "Zürich": 2, "Köln": 1}
    assert table["positives"].to_dict() == {"Genève": 2, "Zürich": 1, "Köln": 0}
    filtered = data.segment_rates(con, "ventes.csv", "converted", ["catégorie"], [("ville", "=", "Genève")])
    assert filtered.set_index("segment")["rows"].to_dict() == {"é": 2, "à": 1}


def test_utf8_with_a_bom_keeps_its_first_column_name(tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "ville,converted\nZürich,1\nKöln,0\n".encode())
    con = data.connect(tmp_path)
    assert list(data.columns(con, "bom.csv")) == ["ville", "converted"]
    assert data.segment_rates(con, "bom.csv", "converted", ["ville"])["segment"].tolist() == ["Köln", "Zürich"]


def test_a_windows_1252_csv_says_to_save_it_as_utf8(tmp_path):
    _write_text_csv(tmp_path / "euro.csv", "cp1252", [*LATIN_ROWS, ("Paris", "€", 1)])
    con = data.connect(tmp_path)
    error = data.datasets(con).set_index("name").loc["euro.csv", "error"]
    assert error == (
        "euro.csv is Windows-1252 text (it holds €, curly quotes or dashes), which DuckDB reads only with an "
        "extension this workbench does not load: save it as UTF-8 (Excel: Save As → CSV UTF-8), or upload it on Explore, "
        "which converts it."
    )
    with pytest.raises(DataError, match="save it as UTF-8"):
        data.columns(con, "euro.csv")


# --- Several sessions at once: cursors over one sandboxed database, one shared memo ------------------------------


def test_a_cursor_keeps_the_sandbox_settings_and_the_root_macro(tiny_root):
    con = data.connect(tiny_root)
    with con.cursor() as cursor:
        assert data.root_of(cursor) == tiny_root
        assert cursor.execute("SELECT count(*) FROM read_parquet(?)", [str(tiny_root / "tiny.parquet")]).fetchone() == (10,)
        with pytest.raises(duckdb.PermissionException):
            cursor.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error, match="lock"):
            cursor.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="lock"):
            cursor.execute("RESET allowed_directories")
        with pytest.raises(duckdb.PermissionException):  # the settings above did not change
            cursor.execute("SELECT * FROM read_text('/etc/hostname')").fetchall()


def test_four_threads_with_a_cursor_each_share_one_connection(tiny_root):
    con = data.connect(tiny_root)
    filters = [("device", "=", "mobile")]
    wanted = {
        "rates": data.segment_rates(con, "tiny.parquet", "converted", ["channel"], filters),
        "profile": data.profile(con, "events").drop(columns="top"),  # mode() breaks ties at random
        "sql": sqlbox.run_sql(con, 'SELECT plan, count(*) AS n FROM "tiny.parquet" GROUP BY ALL ORDER BY plan'),
    }
    failures, barrier = [], threading.Barrier(4)

    def session():
        barrier.wait()
        for _ in range(5):
            with con.cursor() as cursor:
                try:
                    got = {
                        "rates": data.segment_rates(cursor, "tiny.parquet", "converted", ["channel"], filters),
                        "profile": data.profile(cursor, "events").drop(columns="top"),
                        "sql": sqlbox.run_sql(cursor, 'SELECT plan, count(*) AS n FROM "tiny.parquet" GROUP BY ALL ORDER BY plan'),
                    }
                    for name, frame in got.items():
                        pd.testing.assert_frame_equal(frame, wanted[name])
                except Exception as err:  # noqa: BLE001 (collected and shown by the assert below)
                    failures.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=session) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_memo_answers_every_thread_while_others_evict(monkeypatch):
    monkeypatch.setattr(data, "MEMO_ENTRIES", 3)
    monkeypatch.setattr(data, "_memo", data.OrderedDict())
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so a race shows within the test
    wrong = []

    def session(offset):
        for i in range(5_000):
            key = ("memo-test", (offset + i) % 40)
            try:
                got = data.remember(key, lambda key=key: key[1] * 2)
            except Exception as err:  # noqa: BLE001 (the old memo raised KeyError when another thread evicted the key)
                got = repr(err)
            if got != key[1] * 2:
                wrong.append((key, got))

    try:
        threads = [threading.Thread(target=session, args=(n * 7,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert wrong == []
    assert len(data._memo) <= 3


def test_a_target_that_is_not_binary_is_shown_as_the_file_spells_it(tmp_path):
    pd.DataFrame({"tier": ["Gold", "Silver", "Bronze", "Gold"], "x": [1, 2, 3, 4]}).to_csv(tmp_path / "tiers.csv", index=False)
    with pytest.raises(DataError) as refused:
        data.segment_rates(data.connect(tmp_path), "tiers.csv", "tier", ["x"])
    shown = re.search(r"more than two values \((.*), …\)", str(refused.value))[1]
    assert set(shown.split(", ")) == {"Gold", "Silver", "Bronze"}  # not gold, silver, bronze


def test_segment_bounds_are_the_wilson_formula_exactly(tiny_con):
    table = data.segment_rates(tiny_con, "events", "converted", ["device", "channel"], [("hour", ">=", 9)])
    lo, hi = wilson_interval(table["positives"], table["rows"])
    assert table["rate_lo"].tolist() == lo.tolist() and table["rate_hi"].tolist() == hi.tolist()
    assert table["share"].tolist() == (table["rows"] / 9).tolist()


def test_split_by_a_column_named_like_a_result_column(tmp_path):
    pd.DataFrame({"rows": ["a", "a", "b"], "share": [1, 2, 2], "converted": [1, 0, 0]}).to_parquet(tmp_path / "t.parquet")
    con = data.connect(tmp_path)
    table = data.segment_rates(con, "t.parquet", "converted", ["rows", "share"])
    assert table["segment"].tolist() == ["a × 1", "a × 2", "b × 2"]
    assert (table["rows"].tolist(), table["positives"].tolist()) == ([1, 1, 1], [1, 0, 0])


def test_missing_targets_are_left_out_and_nan_is_a_value(tmp_path):
    pd.DataFrame({"g": ["x", "x", "y"], "converted": [1.0, None, 0.0]}).to_parquet(tmp_path / "nulls.parquet")
    # A NaN (not NULL) target is a third value, as before the check learned which rows lack a target.
    pq.write_table(pa.table({"g": ["x", "y", "y"], "converted": pa.array([1.0, 0.0, float("nan")])}), tmp_path / "nan.parquet")
    con = data.connect(tmp_path)
    table = data.segment_rates(con, "nulls.parquet", "converted", ["g"])
    assert table.set_index("segment")[["rows", "positives"]].to_dict("list") == {"rows": [1, 1], "positives": [1, 0]}
    with pytest.raises(DataError, match="not binary"):
        data.segment_rates(con, "nan.parquet", "converted", ["g"])

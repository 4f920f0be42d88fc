import numpy as np
import pandas as pd
import pytest

from core import data
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


def test_defaults_for_target_and_time(tiny_con):
    cols = data.columns(tiny_con, "tiny.parquet")
    assert data.likely_target(cols) == "converted"
    assert data.time_columns(cols) == ["event_time"]
    assert data.likely_target({"a": "INTEGER", "b": "BOOLEAN"}) == "b"


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

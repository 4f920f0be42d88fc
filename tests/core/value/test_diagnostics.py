"""Value diagnostics on frames small enough to check by hand."""

import numpy as np
import pandas as pd
import pytest

from core.diagnostics import diagnose
from core.diagnostics.intervals import Z95
from core.plots import value as value_plots
from core.value import diagnostics as vd


def ten_rows() -> pd.DataFrame:
    """Ten test rows, expected value falling with the row number; 40 of actual revenue in all."""
    ev = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5]
    score = [0.5, 0.9, 0.2, 0.8, 0.1, 0.7, 0.3, 0.6, 0.4, 0.05]
    return pd.DataFrame(
        {
            "y": [1, 0, 1, 1, 0, 0, 1, 0, 1, 0],
            "score": score,
            "expected_value": ev,
            "value_if_converted": np.array(ev) / np.array(score),
            "revenue": [20.0, 0, 5, 10, 0, 0, 2, 0, 3, 0],
            "country": ["a"] * 4 + ["b"] * 5 + [None],
        }
    )


def test_deciles_of_ten_rows_hold_one_row_each():
    table = vd.value_deciles(ten_rows(), "revenue")
    assert list(table.columns) == [
        "decile", "rows", "converters", "mean_predicted", "mean_actual", "actual_lo", "actual_hi", "ratio", "value_share",
    ]  # fmt: skip
    assert table["rows"].tolist() == [1] * 10
    assert table["mean_predicted"].tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5]
    assert table["mean_actual"].tolist() == [20, 0, 5, 10, 0, 0, 2, 0, 3, 0]
    assert table["converters"].tolist() == [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
    assert table["ratio"].iloc[0] == pytest.approx(9 / 20) and np.isnan(table["ratio"].iloc[1])  # no actual value: no ratio
    assert table["value_share"].iloc[0] == 0.5 and table["value_share"].sum() == pytest.approx(1.0)
    assert table["actual_lo"].isna().all()  # one row: no interval


def test_deciles_of_two_rows_have_a_normal_interval():
    table = vd.value_deciles(ten_rows(), "revenue", groups=5)
    first = table.iloc[0]  # rows 0 and 1: actual 20 and 0, predicted 9 and 8
    assert (first["rows"], first["mean_predicted"], first["mean_actual"]) == (2, 8.5, 10.0)
    half = Z95 * np.std([20.0, 0.0], ddof=1) / np.sqrt(2)  # = 1.96 * 10
    # 10 - 19.6 is below any mean of these values: the low end stops at the smallest value, 0.
    assert (first["actual_lo"], first["actual_hi"]) == pytest.approx((0.0, 10 + half))
    assert first["ratio"] == pytest.approx(0.85)
    assert table["mean_actual"].tolist() == [10, 7.5, 0, 1, 1.5]


def test_unknown_values_are_left_out():
    frame = ten_rows()
    frame.loc[0, "revenue"] = np.nan  # a converter with no recorded value
    frame.loc[1, "revenue"] = np.nan  # a non-converter: its actual value is 0 whatever the column holds
    frame["mature.revenue"] = [True] * 9 + [False]
    table = vd.value_deciles(frame, "revenue", groups=8)
    assert table["rows"].sum() == 8  # row 0 (missing) and row 9 (immature) left out
    assert table["mean_predicted"].tolist() == [8, 7, 6, 5, 4, 3, 2, 1]
    assert table["mean_actual"].tolist() == [0, 5, 10, 0, 0, 2, 0, 3]


def test_gain_captures_by_hand():
    gain = vd.value_gain(ten_rows(), "revenue")
    assert list(gain.columns) == ["ranking", "top_share", "rows", "captured", "captured_share"]
    assert gain["ranking"].unique().tolist() == list(vd.RANKINGS)
    assert len(gain) == 4 * 101
    at = gain.set_index(["ranking", "top_share"])["captured_share"]
    rows = gain.set_index(["ranking", "top_share"])["rows"]
    assert rows[("expected value", 0.15)] == 1 and rows[("expected value", 0.2)] == 2  # floor(k * n / 100)
    assert at[("expected value", 0.1)] == 0.5  # row 0: 20 of 40
    assert at[("probability", 0.1)] == 0.0  # row 1 (score 0.9) did not convert
    assert at[("perfect", 0.1)] == 0.5
    assert at[("random", 0.1)] == pytest.approx(0.1)
    assert at[("expected value", 0.2)] == 0.5 and at[("probability", 0.2)] == 0.25 and at[("perfect", 0.2)] == 0.75
    assert at[("expected value", 0.5)] == 35 / 40 and at[("probability", 0.5)] == 30 / 40 and at[("perfect", 0.5)] == 1.0
    assert (at.xs(0.0, level="top_share") == 0).all() and (at.xs(1.0, level="top_share") == 1).all()
    captured = vd.capture_at(gain, 0.1)
    assert captured.to_dict() == pytest.approx({"expected value": 0.5, "probability": 0.0, "random": 0.1, "perfect": 0.5})
    words = vd.capture_words(gain, 0.1)
    assert "top 10% of rows by expected value hold 50.0%" in words and "more than the 0.0% ranking by probability" in words


def test_gain_ties_keep_row_order():
    frame = pd.DataFrame({"y": [1, 1, 1, 1], "score": [0.5] * 4, "expected_value": [1.0, 2.0, 2.0, 0.0], "revenue": [1.0, 5.0, 7.0, 3.0]})
    frame["value_if_converted"] = frame["expected_value"] * 2
    at = vd.value_gain(frame, "revenue").set_index(["ranking", "top_share"])["captured"]
    assert at[("expected value", 0.25)] == 5.0  # the first of the two tied rows
    assert at[("probability", 0.25)] == 1.0  # every score tied: row order
    assert at[("probability", 0.5)] == 6.0
    assert at[("perfect", 0.25)] == 7.0


def test_residuals_by_segment_worst_first():
    table = vd.value_residuals_by_segment(ten_rows(), "revenue", "country")
    assert table["segment"].tolist() == ["b", "a", "(missing)"]  # |z| 3.16, 0.29, NaN (one row)
    assert table["z"].iloc[0] == pytest.approx(-2 / (np.sqrt(2) / np.sqrt(5)))  # b: actual 0, 0, 2, 0, 3: sd √2
    assert table["z"].iloc[1] == pytest.approx(1.25 / (np.std([20, 0, 5, 10], ddof=1) / 2))
    assert np.isnan(table["z"].iloc[2])
    a = table.set_index("segment").loc["a"]
    assert (a["rows"], a["converters"]) == (4, 3)
    assert a["mean_predicted"] == 7.5 and a["mean_actual"] == 8.75 and a["residual"] == 1.25
    assert a["ratio"] == pytest.approx(7.5 / 8.75)
    assert a["mean_predicted_converted"] == pytest.approx((18 + 35 + 7.5) / 3)  # value_if_converted of rows 0, 2, 3
    assert a["mean_actual_converted"] == pytest.approx(35 / 3)
    assert a["residual_converted"] == pytest.approx(35 / 3 - 60.5 / 3)
    b = table.set_index("segment").loc["b"]
    assert (b["mean_predicted"], b["mean_actual"], b["residual"], b["ratio"]) == (3, 1, -2, 3)
    assert b["mean_predicted_converted"] == pytest.approx(6.25) and b["mean_actual_converted"] == 2.5
    missing = table.set_index("segment").loc["(missing)"]
    assert missing["residual"] == -0.5 and np.isnan(missing["ratio"]) and missing["converters"] == 0
    assert np.isnan(missing["mean_actual_converted"])


def test_horizon_table_marks_the_immature_horizon():
    frame = pd.DataFrame(
        {
            "y": [1, 1, 0, 1],
            "score": [0.5] * 4,
            "revenue_d1": [10.0, 4, 0, 6],
            "revenue_d7": [12.0, 4, 0, 9],
            "value_if_converted.revenue_d1": [8.0, 6, 5, 4],
            "value_if_converted.revenue_d7": [10.0, 7, 6, 5],
            "mature.revenue_d1": [True] * 4,
            "mature.revenue_d7": [True, True, True, False],
        }
    )
    for h in ("revenue_d1", "revenue_d7"):
        frame[f"expected_value.{h}"] = 0.5 * frame[f"value_if_converted.{h}"]
    table = vd.horizon_table(frame, ["revenue_d1", "revenue_d7"]).set_index("horizon")
    d1, d7 = table.loc["revenue_d1"], table.loc["revenue_d7"]
    assert (d1["rows"], d1["mature_rows"], d1["mature_share"], d1["converters"]) == (4, 4, 1.0, 3)
    assert d1["mean_predicted"] == 6 and d1["mean_actual"] == pytest.approx(20 / 3) and d1["ratio"] == pytest.approx(0.9)
    assert d1["mean_expected"] == 2.875 and d1["mean_actual_all"] == 5 and not d1["immature"] and d1["note"] == ""
    assert (d7["mature_rows"], d7["mature_share"], d7["converters"]) == (3, 0.75, 2)
    assert d7["mean_predicted"] == 8.5 and d7["mean_actual"] == 8 and d7["residual"] == -0.5 and d7["ratio"] == 1.0625
    assert d7["mean_expected"] == pytest.approx(11.5 / 3) and d7["mean_actual_all"] == pytest.approx(16 / 3)
    assert d7["immature"] and d7["note"] == "1 of 4 rows younger than the horizon: left out"
    # a horizon's own expected value is the one its deciles rank by
    assert vd.predicted_columns(frame, "revenue_d7") == ("expected_value.revenue_d7", "value_if_converted.revenue_d7")


def test_value_stage_columns_are_not_segments():
    frame = ten_rows().assign(**{"mature.revenue": True})
    assert vd.value_stage_columns(frame, ["revenue"]) == ["expected_value", "value_if_converted", "revenue", "mature.revenue"]


def test_value_columns_are_not_segment_columns():
    frame = ten_rows().assign(**{"mature.revenue": True, "expected_value.revenue": 1.0})
    frame.attrs["value_columns"] = ["revenue"]  # as runs.predictions names them from the run's tags
    assert diagnose.segment_columns(frame) == ["country"]
    assert diagnose.segment_columns(diagnose.prepared(frame)) == ["country"]  # the page's sorted frame keeps the names
    assert pd.api.types.is_float_dtype(diagnose.prepared(frame)["revenue"])  # not made categorical


def test_figures_draw_from_the_frames():
    frame = ten_rows()
    assert len(value_plots.decile_bars(vd.value_deciles(frame, "revenue"), "revenue").data) == 2
    assert [t.name for t in value_plots.gain_curves(vd.value_gain(frame, "revenue")).data] == [f"by {r}" for r in vd.RANKINGS]
    assert list(value_plots.residual_bars(vd.value_residuals_by_segment(frame, "revenue", "country"), "country").data[0].x) == [
        "b", "a", "(missing)",
    ]  # fmt: skip
    frame["value_if_converted.revenue"], frame["mature.revenue"] = frame["value_if_converted"], [True] * 9 + [False]
    chart = value_plots.horizon_chart(vd.horizon_table(frame, ["revenue"]))
    assert list(chart.data[0].x) == ["revenue (immature)"]


def test_with_no_mature_row_every_row_is_kept_and_said_immature():
    frame = ten_rows().assign(**{"mature.revenue": False})
    assert vd.value_deciles(frame, "revenue")["mean_actual"].tolist() == [20, 0, 5, 10, 0, 0, 2, 0, 3, 0]
    assert vd.maturity_note(frame, "revenue").startswith("No row is mature for revenue: every row is younger")
    frame["value_if_converted.revenue"] = frame["value_if_converted"]
    row = vd.horizon_table(frame, ["revenue"]).iloc[0]
    assert (row["mature_rows"], row["converters"], row["immature"]) == (0, 5, True)
    assert row["mean_actual"] == 8.0 and row["note"].startswith("No row is mature")
    frame["mature.revenue"] = [True] * 9 + [False]
    assert vd.maturity_note(frame, "revenue") == "1 of 10 rows younger than the horizon: left out"
    assert vd.maturity_note(ten_rows(), "revenue") == ""

"""Value-weighted threshold: each row's value_if_converted as a true positive's value, a cost per action, hand-computed."""

import json

import numpy as np
import pandas as pd
import pytest

from core.diagnostics.threshold import (
    every_cut_loses,
    policy,
    policy_cut,
    policy_text,
    suggestion_policy,
    suggestions,
    threshold_frame,
    threshold_table,
    with_value_profit,
)
from core.errors import DataError
from core.plots.threshold import profit_curve

# Five rows; B and C tie at 0.6, so the cut at 0.6 flags both.
#        A     B     C     D     E
Y = np.array([1, 0, 1, 0, 1])
SCORE = np.array([0.8, 0.6, 0.6, 0.3, 0.1])
VALUE = np.array([10.0, 20.0, 5.0, 50.0, 4.0])  # value_if_converted; score * value = 8, 12, 3, 15, 0.4
# By cut (flag nothing, 0.8, 0.6, 0.3, 0.1): flagged 0, 1, 3, 4, 5; converted value (sum of y * value) 0, 10, 15, 15, 19;
# expected value (sum of score * value) 0, 8, 23, 38, 38.4.


@pytest.fixture
def five():
    return threshold_table(Y, SCORE, VALUE)


def test_the_table_sums_converted_and_expected_value_over_the_flagged_rows(five):
    assert five["threshold"].tolist() == [np.inf, 0.8, 0.6, 0.3, 0.1]
    assert (five["tp"] + five["fp"]).tolist() == [0, 1, 3, 4, 5]
    assert five["converted_value"].tolist() == [0, 10, 15, 15, 19]
    assert five["expected_value"].to_numpy() == pytest.approx([0, 8, 23, 38, 38.4])
    # The constant-value columns are those of the table without values.
    pd.testing.assert_frame_equal(five.drop(columns=["converted_value", "expected_value"]), threshold_table(Y, SCORE))


def test_profit_at_each_cut_at_a_cost_of_6_per_action(five):
    valued = with_value_profit(five, 6.0)
    # expected: 8 - 6, 23 - 18, 38 - 24, 38.4 - 30; realised: 10 - 6, 15 - 18, 15 - 24, 19 - 30
    assert valued["expected_profit"].to_numpy() == pytest.approx([0, 2, 5, 14, 8.4])
    assert valued["realised_profit"].to_numpy() == pytest.approx([0, 4, -3, -9, -11])
    assert valued["profit"].equals(valued["expected_profit"])


def test_the_suggestion_maximises_expected_profit_and_shows_both_profits(five):
    row = suggestions(five, 0, 0, 0, cost_per_action=6.0).set_index("suggestion").loc["max expected profit"]
    assert (row["threshold"], row["flagged_share"]) == (0.3, 0.8)
    assert (row["profit"], row["realised_profit"]) == pytest.approx((14, -9))
    assert row["note"] == "" and row["precision"] == pytest.approx(2 / 4)


@pytest.mark.parametrize(
    ("capacity", "cut", "expected", "realised"),
    [
        (None, 0.3, 14, -9),
        (0.6, 0.6, 5, -3),  # 0.3 flags 80%: the best of 0.8 and 0.6 (3 rows, 60%, tied rows together)
        (0.5, 0.8, 2, 4),  # 0.6 flags 60% (B and C are tied): only 0.8 fits
        (0.1, None, None, None),  # even the top row is 20%
    ],
)
def test_capacity_bounds_the_value_suggestion(five, capacity, cut, expected, realised):
    row = suggestions(five, 0, 0, 0, capacity=capacity, cost_per_action=6.0).iloc[1]
    if cut is None:
        assert np.isnan(row["threshold"]) and row["note"].startswith("no cut flagging at most 10% of rows")
        return
    assert (row["threshold"], row["profit"], row["realised_profit"]) == pytest.approx((cut, expected, realised))
    assert policy_cut(five, policy("max_value_profit", cost_per_action=6, capacity=capacity)) == cut


def test_when_every_cut_loses_nothing_is_suggested(five):
    # cost 10: expected profit 8 - 10, 23 - 30, 38 - 40, 38.4 - 50, all below flagging nothing (0)
    valued = with_value_profit(five, 10.0)
    assert valued["expected_profit"].to_numpy()[1:] == pytest.approx([-2, -7, -2, -11.6])
    assert every_cut_loses(valued)
    row = suggestions(five, 0, 0, 0, cost_per_action=10.0).iloc[1]
    assert np.isnan(row["threshold"]) and row["note"] == "every cut loses money at these costs: flag nothing"
    assert np.isnan(policy_cut(five, policy("max_value_profit", cost_per_action=10, capacity=None)))


def test_ties_in_expected_profit_go_to_the_higher_cut():
    # score * value = 2 and 1; at a cost of 1 flagging one row or both makes 1
    table = threshold_table(np.array([0, 1]), np.array([0.5, 0.25]), np.array([4.0, 4.0]))
    assert with_value_profit(table, 1.0)["expected_profit"].tolist() == [0, 1, 1]
    assert suggestions(table, 0, 0, 0, cost_per_action=1.0)["threshold"].iat[1] == 0.5


def test_an_unscored_row_is_never_flagged_and_a_scored_row_needs_a_value():
    table = threshold_table(np.array([1, 1]), np.array([0.5, np.nan]), np.array([2.0, np.nan]))
    assert table["converted_value"].tolist() == [0, 2] and table["expected_value"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="missing or infinite on 1 scored rows"):
        threshold_table(np.array([1, 1]), np.array([0.5, 0.4]), np.array([2.0, np.nan]))


def test_a_table_without_values_cannot_take_the_value_mode():
    plain = threshold_table(Y, SCORE)
    with pytest.raises(DataError, match="no value_if_converted"):
        with_value_profit(plain, 1.0)
    with pytest.raises(DataError, match="no value_if_converted"):
        policy_cut(plain, policy("max_value_profit", cost_per_action=1, capacity=None))


def test_threshold_frame_takes_value_if_converted_from_predictions(five):
    predictions = pd.DataFrame({"y": Y, "score": SCORE, "value_if_converted": VALUE, "expected_value": SCORE * VALUE})
    pd.testing.assert_frame_equal(threshold_frame(predictions), five)
    assert "expected_value" not in threshold_frame(predictions[["y", "score"]])


def test_the_value_policy_round_trips_and_follows_the_suggestion_row(five):
    chosen = suggestion_policy(1, 10, 4, 0, 0.5, 0.8, 0.1, 0.6, cost_per_action=6.0)
    assert chosen == {"kind": "max_value_profit", "params": {"cost_per_action": 6.0, "capacity": 0.6}}
    stored = json.loads(json.dumps(chosen))  # as the wb.threshold_policy tag holds it
    assert policy(stored["kind"], **stored["params"]) == chosen
    assert policy_cut(five, stored) == 0.6
    assert policy_text(chosen) == "max expected profit (each row's value if converted per TP, cost 6 per action, capacity 60%)"
    assert policy_text(policy("max_value_profit", cost_per_action=2.5, capacity=None)).endswith("cost 2.5 per action)")
    # The other rows keep their policies in value mode.
    assert suggestion_policy(0, 10, 4, 0, 0.5, 0.8, 0.1, 0.6, cost_per_action=6.0) == policy("max_f1")
    with pytest.raises(ValueError, match="cost_per_action=-1"):
        policy("max_value_profit", cost_per_action=-1, capacity=None)
    with pytest.raises(ValueError, match="takes cost_per_action, capacity"):
        policy("max_value_profit", cost_per_action=1)
    with pytest.raises(ValueError, match="cost_per_action=-1"):
        with_value_profit(five, -1)


def test_every_suggestion_in_value_mode_carries_both_profits(five):
    frame = suggestions(five, 0, 0, 0, min_precision=0.5, min_recall=0.6, top_share=0.2, cost_per_action=6.0)
    assert list(frame.columns) == [
        "suggestion", "threshold", "precision", "recall", "f1", "flagged_share", "profit", "realised_profit", "note"
    ]  # fmt: skip
    assert frame["suggestion"].tolist()[1] == "max expected profit"
    top = frame.set_index("suggestion").loc["top 20%"]  # the cut at 0.8: expected 2, realised 4
    assert (top["threshold"], top["profit"], top["realised_profit"]) == pytest.approx((0.8, 2, 4))


def test_the_value_pass_is_vectorised():
    rng = np.random.default_rng(3)
    score = rng.random(1_000_000)
    y = (rng.random(1_000_000) < score).astype(int)
    value = rng.lognormal(3, 1, 1_000_000)
    table = threshold_table(y, score, value)
    assert table["converted_value"].iat[-1] == pytest.approx(float((y * value).sum()))
    assert table["expected_value"].iat[-1] == pytest.approx(float((score * value).sum()))


def test_the_profit_curve_draws_expected_and_realised_profit(five):
    fig = profit_curve(with_value_profit(five, 6.0), 0.3)
    assert [trace.name for trace in fig.data] == ["expected profit", "realised profit", "chosen cut"]
    assert list(fig.data[0].y) == pytest.approx([0, 2, 5, 14, 8.4]) and list(fig.data[1].y) == pytest.approx([0, 4, -3, -9, -11])
    assert (fig.data[2].x[0], fig.data[2].y[0]) == pytest.approx((0.8, 14))

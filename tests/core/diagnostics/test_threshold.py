import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_curve, precision_score, recall_score

from core.diagnostics.threshold import (
    at,
    confusion,
    every_cut_loses,
    policy,
    policy_cut,
    policy_text,
    slider_span,
    suggestion_policy,
    suggestions,
    threshold_frame,
    threshold_table,
    valued_frame,
    with_profit,
)
from core.plots.threshold import DRAWN_POINTS, confusion_heatmap, metrics_by_threshold, profit_curve

NAN = float("nan")

# Ten rows, four converters. Flagging score >= each cut gives (tp, fp): 0.9 (1,0), 0.8 (2,0), 0.7 (2,1), 0.6 (3,1),
# 0.5 (3,2), 0.4 (3,3), 0.3 (4,3), 0.2 (4,4), 0.1 (4,5), 0.05 (4,6).
TEN_Y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
TEN_SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


@pytest.fixture(scope="module")
def ten():
    return threshold_table(TEN_Y, TEN_SCORE)


@pytest.fixture(scope="module")
def tied_10k():
    """10k rows whose scores take 200 values, so most cuts have many tied rows."""
    rng = np.random.default_rng(7)
    score = rng.integers(0, 200, 10_000) / 200
    y = (rng.random(10_000) < score).astype(int)
    return y, score, threshold_table(y, score)


def suggestion(frame, name):
    return frame.set_index("suggestion").loc[name]


def test_threshold_table_counts_at_each_cut():
    table = threshold_table(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1]))
    assert list(table.columns) == ["threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "flagged_share"]
    assert table["threshold"].tolist() == [np.inf, 0.9, 0.8, 0.4, 0.1]
    assert table[["tp", "fp", "fn", "tn"]].to_numpy().tolist() == [[0, 0, 2, 2], [1, 0, 1, 2], [1, 1, 1, 1], [2, 1, 0, 1], [2, 2, 0, 0]]
    row = table.loc[table.threshold == 0.4].iloc[0]
    assert (row.tp, row.fp, row.fn, row.tn) == (2, 1, 0, 1)
    assert row.precision == pytest.approx(2 / 3)
    assert row.recall == 1.0
    assert row.f1 == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))  # 0.8
    assert table["flagged_share"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_the_first_row_flags_nothing():
    first = threshold_table(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1])).iloc[0]
    assert first.threshold == np.inf and (first.tp, first.fp, first.fn, first.tn) == (0, 0, 2, 2)
    assert np.isnan(first.precision) and first.recall == 0.0 and np.isnan(first.f1) and first.flagged_share == 0.0


def test_tied_scores_share_one_cut():
    table = threshold_table(np.array([1, 0, 0, 1]), np.array([0.7, 0.7, 0.7, 0.2]))
    assert table["threshold"].tolist() == [np.inf, 0.7, 0.2]
    assert table[["tp", "fp"]].to_numpy().tolist() == [[0, 0], [1, 2], [2, 2]]


@pytest.mark.parametrize("cut", [0.0, 0.005, 0.1, 0.2525, 0.5, 0.7, 0.9, 0.995, 1.0])
def test_counts_match_scikit_learn_confusion_matrix(tied_10k, cut):
    y, score, table = tied_10k
    row = at(table, cut)
    (tn, fp), (fn, tp) = confusion_matrix(y, score >= cut, labels=[0, 1])
    assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn)


def test_precision_and_recall_match_scikit_learn_at_every_cut(tied_10k):
    y, score, table = tied_10k
    precision, recall, thresholds = precision_recall_curve(y, score)
    expected = pd.DataFrame({"threshold": thresholds, "precision": precision[:-1], "recall": recall[:-1]})
    mine = table.iloc[1:].sort_values("threshold").reset_index(drop=True)
    assert mine["threshold"].tolist() == expected["threshold"].tolist()
    np.testing.assert_allclose(mine["precision"], expected["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine["recall"], expected["recall"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cut", [0.05, 0.3, 0.5, 0.75, 0.99])
def test_f1_precision_recall_match_scikit_learn_scores(tied_10k, cut):
    y, score, table = tied_10k
    row = at(table, cut)
    flagged = score >= cut
    assert row.precision == pytest.approx(precision_score(y, flagged), abs=1e-12)
    assert row.recall == pytest.approx(recall_score(y, flagged), abs=1e-12)
    assert row.f1 == pytest.approx(f1_score(y, flagged), abs=1e-12)
    assert row.flagged_share == flagged.mean()


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (0.95, np.inf),  # above every score: flag nothing
        (0.9, 0.9),  # exactly a table value
        (0.85, 0.9),  # between 0.8 and 0.9: only the 0.9 row has score >= 0.85
        (0.5, 0.8),
        (0.4, 0.4),
        (0.2, 0.4),
        (0.0, 0.1),  # below every score: flag everything
        (-np.inf, 0.1),
        (np.inf, np.inf),
    ],
)
def test_at_picks_the_smallest_table_threshold_at_or_above_the_cut(cut, expected):
    table = threshold_table(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1]))
    assert at(table, cut).threshold == expected


def test_at_keeps_counts_as_integers_and_refuses_nan(ten):
    row = at(ten, 0.55)
    assert isinstance(row["tp"], np.integer) and (row["tp"], row["fp"]) == (3, 1)
    with pytest.raises(ValueError, match="NaN"):
        at(ten, NAN)


def test_confusion_frame(ten):
    frame = confusion(at(ten, 0.6))
    assert list(frame.index) == ["actual 1", "actual 0"] and list(frame.columns) == ["flagged", "not flagged"]
    assert frame.to_numpy().tolist() == [[3, 1], [1, 5]]


def test_profit_by_hand(ten):
    table = with_profit(ten, value_tp=10, cost_fp=4, cost_fn=1)
    # 0.6: 10*3 - 4*1 - 1*1 = 25; 0.3: 10*4 - 4*3 - 0 = 28; flag nothing: -1 * 4 positives = -4
    assert at(table, 0.6).profit == 25
    assert at(table, 0.3).profit == 28
    assert table["profit"].iat[0] == -4
    assert "profit" not in ten.columns
    with pytest.raises(ValueError, match="cost_fp"):
        with_profit(ten, 1, -1, 0)


def test_each_suggestion_on_the_ten_rows(ten):
    frame = suggestions(ten, value_tp=10, cost_fp=4, cost_fn=0, min_precision=0.7, min_recall=0.8, top_share=0.25)
    assert list(frame.columns) == ["suggestion", "threshold", "precision", "recall", "f1", "flagged_share", "profit", "note"]
    assert frame["suggestion"].tolist() == ["max F1", "max profit", "precision ≥ 70%", "recall ≥ 80%", "top 25%"]
    assert frame["note"].tolist() == [""] * 5
    # F1 = 2tp / (flagged + 4): 0.6 gives 6/8 = 0.75, every other cut less (0.3: 8/11, 0.8: 4/6)
    assert suggestion(frame, "max F1").threshold == 0.6 and suggestion(frame, "max F1").f1 == 0.75
    # profit = 10tp - 4fp: 0.3 gives 40 - 12 = 28, above 0.6's 26 and 0.2's 24
    assert suggestion(frame, "max profit").threshold == 0.3 and suggestion(frame, "max profit").profit == 28
    # precision >= 0.7 holds at 0.9, 0.8 (1.0) and 0.6 (0.75) but not at 0.7 (2/3): the lowest is 0.6
    assert suggestion(frame, "precision ≥ 70%").threshold == 0.6
    # recall is 3/4 down to 0.4 and 4/4 from 0.3: the highest cut with recall >= 0.8 is 0.3
    assert suggestion(frame, "recall ≥ 80%").threshold == 0.3
    # 25% of ten rows is 2.5: the cut flagging two rows is 0.8
    assert suggestion(frame, "top 25%").threshold == 0.8 and suggestion(frame, "top 25%").flagged_share == 0.2


def test_precision_suggestion_takes_the_lowest_cut_even_past_a_dip(ten):
    # precision at 0.5 is met at 0.9, 0.8, 0.7, 0.6, 0.5, 0.4 (3/6), 0.3 (4/7) and 0.2 (4/8), not at 0.1 (4/9)
    frame = suggestions(ten, 1, 0, 0, min_precision=0.5)
    assert suggestion(frame, "precision ≥ 50%").threshold == 0.2


def test_ties_go_to_the_highest_threshold():
    # F1 = 2tp / (flagged + 2): cut 0.4 gives 2/3 and cut 0.1 gives 4/6, the same; 0.4 flags fewer rows
    table = threshold_table(np.array([1, 0, 0, 1]), np.array([0.4, 0.3, 0.2, 0.1]))
    # profit = tp - fp: 0.4 gives 1, 0.3 gives 0, 0.2 gives -1, 0.1 gives 0; with value 2: 0.4 gives 2 and 0.1 gives 2
    frame = suggestions(table, value_tp=2, cost_fp=1, cost_fn=0)
    assert suggestion(frame, "max F1").threshold == 0.4
    assert suggestion(frame, "max profit").threshold == 0.4 and suggestion(frame, "max profit").profit == 2


def test_every_cut_losing_money_suggests_flagging_nothing():
    # the top score is a non-converter: profit = tp - 2fp is -2, -1, -3, -2 at the four cuts, below 0 for flagging nothing
    table = threshold_table(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    frame = suggestions(table, value_tp=1, cost_fp=2, cost_fn=0)
    best = suggestion(frame, "max profit")
    assert np.isnan(best.threshold) and np.isnan(best.profit)
    assert best.note == "every cut loses money at these costs: flag nothing"
    assert every_cut_loses(with_profit(table, 1, 2, 0))
    assert suggestion(frame, "max F1").note == ""  # the other suggestions still stand


def test_a_cut_with_negative_profit_can_still_beat_flagging_nothing():
    # profit = tp - 2fp - 3fn: flag nothing -6, then 0.9: -8, 0.8: 1 - 2 - 3 = -4, 0.7: 1 - 4 - 3 = -6, 0.6: 2 - 4 = -2
    table = threshold_table(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    best = suggestion(suggestions(table, value_tp=1, cost_fp=2, cost_fn=3), "max profit")
    assert (best.threshold, best.profit, best.note) == (0.6, -2, "")
    assert not every_cut_loses(with_profit(table, 1, 2, 3))


def test_capacity_limits_max_profit_and_is_named_in_other_notes(ten):
    # at most 50% of ten rows: cuts 0.9 to 0.5; profit = 10tp - 4fp is 26 at 0.6, the best of them (0.3's 28 flags 70%)
    frame = suggestions(ten, value_tp=10, cost_fp=4, cost_fn=0, min_precision=0.7, capacity=0.5)
    assert suggestion(frame, "max profit").threshold == 0.6 and suggestion(frame, "max profit").profit == 26
    assert suggestion(frame, "recall ≥ 80%").note == "flags 70.0% of rows, more than the 50% capacity"
    assert suggestion(frame, "max F1").note == ""


def test_capacity_that_leaves_only_losing_cuts_says_so():
    # profit = tp - 2fp: only the top row fits in 25% and it loses 2; flagging all four rows would make 3 - 2 = 1
    table = threshold_table(np.array([0, 1, 1, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    best = suggestion(suggestions(table, value_tp=1, cost_fp=2, cost_fn=0, capacity=0.25), "max profit")
    assert np.isnan(best.threshold)
    assert best.note == "no cut flagging at most 25% of rows beats flagging nothing at these costs: flag nothing"
    assert every_cut_loses(with_profit(table, 1, 2, 0), capacity=0.25) and not every_cut_loses(with_profit(table, 1, 2, 0))


def test_no_cut_reaches_the_precision_and_top_share_too_small():
    table = threshold_table(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    frame = suggestions(table, 1, 0, 0, min_precision=0.9, top_share=0.2)  # best precision is 1/2; one row is 25%
    assert np.isnan(suggestion(frame, "precision ≥ 90%").threshold)
    assert suggestion(frame, "precision ≥ 90%").note == "no cut reaches precision ≥ 90%"
    assert np.isnan(suggestion(frame, "top 20%").threshold)
    assert suggestion(frame, "top 20%").note == "even the highest score alone flags more than 20% of rows: no cut fits"


def test_no_positives_gives_nans_and_notes():
    table = threshold_table(np.array([0, 0, 0]), np.array([0.3, 0.2, 0.2]))
    assert table["fp"].tolist() == [0, 1, 3] and table["precision"].tolist()[1:] == [0.0, 0.0]
    assert table["recall"].isna().all() and table["f1"].isna().all()
    frame = suggestions(table, value_tp=1, cost_fp=1, cost_fn=1, top_share=0.5)
    assert frame.set_index("suggestion")["note"].to_dict() == {
        "max F1": "no positives in these predictions: F1 is undefined",
        "max profit": "every cut loses money at these costs: flag nothing",
        "precision ≥ 50%": "no cut reaches precision ≥ 50%",
        "recall ≥ 80%": "no positives in these predictions: recall is undefined",
        "top 50%": "",
    }
    assert suggestion(frame, "top 50%").threshold == 0.3


def test_only_positives():
    table = threshold_table(np.array([1, 1, 1]), np.array([0.3, 0.2, 0.1]))
    assert table["precision"].tolist()[1:] == [1.0, 1.0, 1.0] and table["tn"].tolist() == [0, 0, 0, 0]
    frame = suggestions(table, value_tp=1, cost_fp=1, cost_fn=0)
    # every cut has precision 1 and F1 and profit grow with each row flagged, so the lowest cut wins the first three;
    # recall is 1/3, 2/3, 3/3, so recall >= 80% also needs all three rows; one row alone is already 33% > 10%
    assert frame["threshold"].tolist()[:4] == [0.1, 0.1, 0.1, 0.1]
    assert np.isnan(frame["threshold"].iat[4])


def test_empty_predictions():
    table = threshold_table(np.array([], dtype=int), np.array([]))
    assert len(table) == 1 and table["threshold"].iat[0] == np.inf
    frame = suggestions(table, 1, 1, 1)
    assert frame["threshold"].isna().all() and set(frame["note"]) == {"no scored predictions: nothing to cut"}


def test_a_nan_score_is_never_flagged():
    y, score = np.array([1, 0, 1]), np.array([NAN, 0.5, 0.5])
    table = threshold_table(y, score)
    assert table["threshold"].tolist() == [np.inf, 0.5]
    (tn, fp), (fn, tp) = confusion_matrix(y, score >= 0.5, labels=[0, 1])
    assert tuple(table.iloc[1][["tp", "fp", "fn", "tn"]]) == (tp, fp, fn, tn) == (1, 1, 1, 0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="only 0 and 1"):
        threshold_table([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="equal length"):
        threshold_table([0, 1], [0.1])
    with pytest.raises(ValueError, match="capacity"):
        suggestions(threshold_table([0, 1], [0.1, 0.2]), 1, 1, 1, capacity=5)


@pytest.mark.slow
def test_a_million_rows_builds_in_well_under_a_second_and_looks_up_in_microseconds():
    rng = np.random.default_rng(0)
    score = rng.beta(1, 15, 1_000_000)
    y = (rng.random(1_000_000) < score).astype(int)
    started = time.perf_counter()
    table = threshold_table(y, score)
    built = time.perf_counter() - started
    started = time.perf_counter()
    for cut in np.linspace(0, 1, 100):
        at(table, cut)
    lookup = (time.perf_counter() - started) / 100
    # the target is 0.3 s; the bound is loose so a busy CI machine passes, while a loop over rows (seconds) fails
    assert built < 1.5 and lookup < 0.02


def test_metrics_figure_draws_four_thinned_lines_and_the_cut(tied_10k):
    y, score = np.random.default_rng(1).random((2, 10_000))
    table = threshold_table((y < score).astype(int), score)
    fig = metrics_by_threshold(table, 0.3)
    assert [trace.name for trace in fig.data] == ["precision", "recall", "F1", "flagged share"]
    assert all(len(trace.x) == DRAWN_POINTS for trace in fig.data)
    assert fig.data[0].x[0] == table["threshold"].iat[1] and fig.data[0].x[-1] == table["threshold"].iat[-1]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 0.3
    small = metrics_by_threshold(tied_10k[2], np.inf)
    assert len(small.data[0].x) == len(tied_10k[2]) - 1 and len(small.layout.shapes) == 0


def test_profit_figure_marks_the_chosen_cut_and_the_baseline(ten):
    table = with_profit(ten, 10, 4, 1)
    fig = profit_curve(table, 0.55)
    assert [trace.name for trace in fig.data] == ["profit", "chosen cut"]
    assert list(fig.data[0].x) == table["flagged_share"].tolist() and list(fig.data[0].y) == table["profit"].tolist()
    assert (fig.data[1].x[0], fig.data[1].y[0]) == (0.4, 25)  # cut 0.55 flags the 0.6 row's four: 30 - 4 - 1
    assert fig.layout.shapes[0].y0 == -4  # flag nothing
    by_threshold = profit_curve(table, 0.55, x="threshold")
    assert len(by_threshold.data[0].x) == 10 and by_threshold.data[1].x[0] == 0.6


def test_confusion_heatmap_shows_the_four_counts(ten):
    fig = confusion_heatmap(confusion(at(ten, 0.6)))
    assert len(fig.data) == 1
    assert np.asarray(fig.data[0].z).tolist() == [[3, 1], [1, 5]]
    assert list(fig.data[0].y) == ["actual 1", "actual 0"] and list(fig.data[0].x) == ["flagged", "not flagged"]


def test_frame_adapters_read_y_and_score_from_predictions():
    predictions = pd.DataFrame({"y": TEN_Y, "score": TEN_SCORE, "score_raw": TEN_SCORE / 2, "country": ["x"] * 10})
    pd.testing.assert_frame_equal(threshold_frame(predictions), threshold_table(TEN_Y, TEN_SCORE))
    assert valued_frame(predictions, value_tp=10, cost_fp=4, cost_fn=1)["profit"].tolist() == [-4, 7, 18, 14, 25, 21, 17, 28, 24, 20, 16]


def test_figures_of_empty_predictions_have_no_points():
    table = with_profit(threshold_table(np.array([], dtype=int), np.array([])), 1, 1, 1)
    assert len(metrics_by_threshold(table, 0.5).data[0].x) == 0
    fig = profit_curve(table, 0.5)
    assert len(fig.data) == 1 and len(fig.data[0].x) == 1  # only the flag-nothing row (share NaN of no rows), no chosen-cut marker


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [  # the ten rows' suggestions, worked out by hand in test_each_suggestion_on_the_ten_rows
        (policy("max_profit", value_tp=10, cost_fp=4, cost_fn=0, capacity=None), 0.3),
        (policy("max_profit", value_tp=10, cost_fp=4, cost_fn=0, capacity=0.2), 0.8),  # 28 at 0.3 flags 70%; 0.8 (20) flags 20%
        (policy("precision", min_precision=0.7), 0.6),
        (policy("recall", min_recall=0.8), 0.3),
        (policy("top_share", top_share=0.25), 0.8),
        (policy("max_f1"), 0.6),
        (policy("fixed", threshold=0.33), 0.33),
    ],
)
def test_a_policy_gives_its_suggestions_cut(ten, chosen, expected):
    assert policy_cut(ten, chosen) == expected


def test_a_policy_without_a_cut_gives_nan_and_bad_policies_are_refused(ten):
    assert np.isnan(policy_cut(ten, policy("max_profit", value_tp=0, cost_fp=1, cost_fn=0, capacity=None)))  # no cut beats 0
    assert np.isnan(policy_cut(ten, policy("top_share", top_share=0.05)))  # the top row alone is 10%
    with pytest.raises(ValueError, match="'best' is not one of"):
        policy("best")
    with pytest.raises(ValueError, match="takes min_recall, not min_precision"):
        policy("recall", min_precision=0.5)
    with pytest.raises(ValueError, match="min_recall=1.5"):
        policy("recall", min_recall=1.5)
    with pytest.raises(ValueError, match="cost_fp=-1"):
        policy("max_profit", value_tp=1, cost_fp=-1, cost_fn=0, capacity=None)


def test_suggestion_policies_follow_the_suggestion_rows(ten):
    args = (10, 4, 0, 0.7, 0.8, 0.25, None)
    frame = suggestions(ten, 10, 4, 0, 0.7, 0.8, 0.25, None)
    cuts = [policy_cut(ten, suggestion_policy(i, *args)) for i in range(len(frame))]
    assert cuts == frame["threshold"].tolist()
    assert [policy_text(suggestion_policy(i, *args)) for i in range(len(frame))] == [
        "max F1",
        "max profit (value 10 per TP, cost 4 per FP, 0 per FN)",
        "precision ≥ 70%",
        "recall ≥ 80%",
        "top 25%",
    ]
    assert policy_text(policy("fixed", threshold=0.125)) == "fixed cut 0.125"


@pytest.mark.parametrize(
    ("score", "span"),
    [
        ([0.0123, 0.2, 0.53], (0.0123, 0.53)),  # on the step already: nothing added (0.53 / 0.0001 is 5300.000000000001)
        ([0.01234, 0.52996], (0.0123, 0.53)),  # rounded outward
        ([0.2, 0.2, np.nan], (0.2, 0.2001)),  # one score: one step wide; NaN ignored
        ([], (0.0, 1.0)),
        ([0.00001, 0.99999], (0.0, 1.0)),
    ],
)
def test_slider_span_is_the_score_range_rounded_outward_to_the_step(score, span):
    assert slider_span(np.array(score, dtype=float), 0.0001) == span

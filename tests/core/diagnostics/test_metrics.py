import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, precision_recall_curve, roc_auc_score, roc_curve

from core.diagnostics.intervals import wilson_interval
from core.diagnostics.metrics import HEADLINE, curves, ece, gain_lift, headline, scores
from core.errors import DataError
from core.plots import overview


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0])
    score = np.array([0.05, 0.15, 0.95, 0.85])
    # bins: [0,.1) {0.05: y0} gap .05; [.1,.2) {0.15: y1} gap .85; [.8,.9) {0.85: y0} gap .85; [.9,1] {0.95: y1} gap .05
    assert ece(y, score) == pytest.approx((0.05 + 0.85 + 0.85 + 0.05) / 4)


def test_a_score_of_one_falls_in_the_last_bin():
    assert ece([1, 1], [1.0, 1.0]) == pytest.approx(0.0)


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    score = rng.random(500)
    y = (rng.random(500) < score).astype(int)
    out = scores(y, score)
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert out["pr_auc"] == pytest.approx(average_precision_score(y, score))
    assert out["log_loss"] == pytest.approx(log_loss(y, score))
    assert out["brier"] == pytest.approx(brier_score_loss(y, score))
    assert (out["rows"], out["base_rate"]) == (500, y.mean())


def test_one_class_has_no_auc():
    out = scores([0, 0, 0], [0.1, 0.2, 0.3])
    assert np.isnan(out["roc_auc"]) and np.isnan(out["pr_auc"])
    assert out["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)


# Diagnostics: headline with bootstrap intervals, curves, gain and lift.


def _predictions(n, seed=0, decimals=None):
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 8, n)
    if decimals is not None:
        score = np.round(score, decimals)  # many ties
    return (rng.random(n) < score).astype(int), score


def _by_metric(frame):
    return frame.set_index("metric")


@pytest.mark.parametrize(("decimals", "cells"), [(2, 4096), (3, 4096), (None, 4096), (None, 64)])
def test_headline_values_match_scikit_learn(decimals, cells):
    y, score = _predictions(3000, seed=1, decimals=decimals)
    table = _by_metric(headline(y, score, resamples=20, cells=cells))  # cells=64 pools the intervals, never the values
    expected = {
        "roc_auc": roc_auc_score(y, score),
        "pr_auc": average_precision_score(y, score),
        "log_loss": log_loss(y, score),
        "brier": brier_score_loss(y, score),
        "ece": ece(y, score),
        "base_rate": y.mean(),
        "rows": 3000,
    }
    for name, value in expected.items():
        assert table.loc[name, "value"] == pytest.approx(value, abs=1e-9), name
    assert list(table.index) == [*HEADLINE, "base_rate", "rows"]
    assert list(table.columns) == ["value", "lo", "hi", "note"]


def test_headline_values_equal_scores():
    y, score = _predictions(2000, seed=2, decimals=3)
    table = _by_metric(headline(y, score, resamples=10))
    for name, value in scores(y, score).items():
        assert table.loc[name, "value"] == pytest.approx(value, abs=1e-9)


def test_base_rate_interval_is_wilson_and_rows_has_none():
    y, score = _predictions(500, seed=3)
    table = _by_metric(headline(y, score, resamples=10))
    lo, hi = wilson_interval([y.sum()], [500])
    assert (table.loc["base_rate", "lo"], table.loc["base_rate", "hi"]) == pytest.approx((lo[0], hi[0]))
    assert np.isnan(table.loc["rows", "lo"]) and np.isnan(table.loc["rows", "hi"])


def _reference_intervals(y, score, resamples=200, seed=7):
    """The slow bootstrap: resample rows with replacement and call scikit-learn (through scores) each time."""
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in HEADLINE}
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        for name, value in scores(y[rows], score[rows]).items():
            if name in draws:
                draws[name].append(value)
    return {name: np.percentile(values, [2.5, 97.5]) for name, values in draws.items()}


def test_bootstrap_intervals_are_close_to_the_slow_reference():
    y, score = _predictions(5000, seed=0, decimals=3)
    table = _by_metric(headline(y, score, resamples=200, seed=0))
    reference = _reference_intervals(y, score)
    for name in HEADLINE:
        assert table.loc[name, ["lo", "hi"]].to_numpy(dtype=float) == pytest.approx(reference[name], abs=0.01), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_intervals_contain_the_value(seed):
    y, score = _predictions(5000, seed=seed)
    table = _by_metric(headline(y, score, resamples=200, seed=seed))
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "base_rate"):
        assert table.loc[name, "lo"] < table.loc[name, "value"] < table.loc[name, "hi"], name


def test_ece_interval_contains_the_value_when_the_model_is_off():
    # For a well-calibrated model ECE's interval may sit above the value (ECE grows under resampling): the docstring says so.
    y, score = _predictions(5000, seed=4)
    table = _by_metric(headline(y, score * 0.8, resamples=200))
    assert table.loc["ece", "lo"] < table.loc["ece", "value"] < table.loc["ece", "hi"]


def test_headline_is_reproducible_by_seed():
    y, score = _predictions(3000, seed=5)
    pd.testing.assert_frame_equal(headline(y, score, seed=3), headline(y, score, seed=3))
    assert not headline(y, score, seed=3)["lo"].equals(headline(y, score, seed=4)["lo"])


def test_pooling_scores_into_cells_barely_moves_the_intervals():
    # 10k distinct scores pooled into 64 cells (~156 rows a cell, as 4096 cells are at 640k rows) against the exact
    # bootstrap over every distinct score: each bound moves by a small part of the interval's width.
    y, score = _predictions(10_000, seed=6)
    exact = _by_metric(headline(y, score, resamples=1000, cells=10**9))
    pooled = _by_metric(headline(y, score, resamples=1000, cells=64))
    for name in HEADLINE:
        width = exact.loc[name, "hi"] - exact.loc[name, "lo"]
        moved = np.abs(pooled.loc[name, ["lo", "hi"]].to_numpy(dtype=float) - exact.loc[name, ["lo", "hi"]].to_numpy(dtype=float))
        assert moved.max() < 0.1 * width, name


def test_single_class_has_no_auc_and_says_why():
    table = _by_metric(headline([0, 0, 0, 0], [0.1, 0.2, 0.2, 0.4], resamples=50))
    for name in ("roc_auc", "pr_auc"):
        assert np.isnan(table.loc[name, ["value", "lo", "hi"]].to_numpy(dtype=float)).all()
        assert "one class" in table.loc[name, "note"]
    assert table.loc["brier", "value"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.16) / 4)
    assert table.loc["brier", "lo"] <= table.loc["brier", "value"] <= table.loc["brier", "hi"]
    assert table.loc["base_rate", "value"] == 0 and table.loc["base_rate", "hi"] > 0


def test_resamples_that_lose_a_class_are_left_out_and_counted():
    table = _by_metric(headline([1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], resamples=100))
    assert table.loc["roc_auc", "value"] == 1.0
    assert "resamples had one class" in table.loc["roc_auc", "note"]
    assert table.loc["brier", "note"] == ""


@pytest.mark.parametrize(
    ("y", "score", "message"),
    [
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, np.nan], "between 0 and 1"),
        ([0, 1], [0.1, 1.2], "between 0 and 1"),
        ([], [], "no rows"),
    ],
)
def test_bad_input_is_a_data_error(y, score, message):
    with pytest.raises(DataError, match=message):
        headline(y, score)


def test_curves_are_scikit_learns_when_short():
    y, score = _predictions(300, seed=8, decimals=2)
    roc, pr = curves(y, score)
    fpr, tpr, roc_thresholds = roc_curve(y, score)
    precision, recall, pr_thresholds = precision_recall_curve(y, score)
    np.testing.assert_array_equal(roc.to_numpy().T, [fpr, tpr, roc_thresholds])
    np.testing.assert_array_equal(pr[["recall", "precision"]].to_numpy().T, [recall, precision])
    np.testing.assert_array_equal(pr["threshold"].to_numpy()[:-1], pr_thresholds)
    assert np.isnan(pr["threshold"].iloc[-1]) and np.isinf(roc["threshold"].iloc[0])


def test_long_curves_are_thinned_to_points_of_the_exact_curve_keeping_the_ends():
    y, score = _predictions(20_000, seed=9)
    roc, pr = curves(y, score, max_points=100)
    fpr, tpr, _ = roc_curve(y, score)
    precision, recall, _ = precision_recall_curve(y, score)
    assert len(fpr) > 1000 and len(recall) > 1000
    for thinned, (x, y_) in ((roc, (fpr, tpr)), (pr, (recall, precision))):
        assert 50 <= len(thinned) <= 100
        points = thinned.iloc[:, :2].to_numpy()
        assert tuple(points[0]) == (x[0], y_[0]) and tuple(points[-1]) == (x[-1], y_[-1])
        exact = set(zip(x, y_, strict=True))
        assert all(tuple(point) in exact for point in points)


def test_single_class_has_no_curves():
    roc, pr = curves([1, 1, 1], [0.2, 0.5, 0.9])
    assert roc.empty and list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert pr.empty and list(pr.columns) == ["recall", "precision", "threshold"]


def test_gain_and_lift_by_hand():
    score = [0.1, 0.8, 0.5, 0.9, 0.8, 0.2, 0.8, 0.5, 0.3, 0.1]
    y = [0, 1, 0, 1, 0, 0, 1, 1, 0, 0]
    # Ranked (ties in input order): 0.9 y1 | 0.8 rows 1, 4, 6: y1 y0 y1 | 0.5 rows 2, 7: y0 y1 | 0.3 y0 | 0.2 y0 | 0.1 y0 y0.
    # Two rows per group: [1 1] [0 1] [0 1] [0 0] [0 0]; the 0.8 tie block is split after row 1, as it comes first.
    table = gain_lift(y, score, groups=5)
    assert list(table.columns) == [
        "decile",
        "rows",
        "positives",
        "rate",
        "cumulative_share_rows",
        "cumulative_gain",
        "lift",
        "cumulative_lift",
    ]
    assert table["decile"].tolist() == [1, 2, 3, 4, 5]
    assert table["rows"].tolist() == [2, 2, 2, 2, 2]
    assert table["positives"].tolist() == [2, 1, 1, 0, 0]
    assert table["rate"].tolist() == pytest.approx([1, 0.5, 0.5, 0, 0])
    assert table["cumulative_share_rows"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert table["cumulative_gain"].tolist() == pytest.approx([0.5, 0.75, 1, 1, 1])
    assert table["lift"].tolist() == pytest.approx([2.5, 1.25, 1.25, 0, 0])
    assert table["cumulative_lift"].tolist() == pytest.approx([2.5, 1.875, (4 / 6) / 0.4, 1.25, 1.0])


def test_gain_groups_differ_by_at_most_one_row():
    y, score = _predictions(1003, seed=10)
    table = gain_lift(y, score)
    assert table["rows"].sum() == 1003 and table["rows"].max() - table["rows"].min() <= 1
    assert table["positives"].sum() == y.sum() and table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)


def test_overview_figures_have_the_expected_traces():
    y, score = _predictions(2000, seed=11)
    roc, pr = curves(y, score)
    table = gain_lift(y, score)
    figure = overview.roc_curve(roc, 0.75)
    assert [trace.name for trace in figure.data] == ["random", "model (AUC 0.750)"]
    assert len(figure.data[1].x) == len(roc)
    figure = overview.pr_curve(pr, 0.4, 0.2)
    assert list(figure.data[0].y) == [0.2, 0.2] and len(figure.data[1].x) == len(pr)
    figure = overview.gain_chart(table)
    assert (figure.data[1].x[0], figure.data[1].y[0]) == (0, 0) and len(figure.data[1].x) == 11
    figure = overview.lift_bars(table)
    assert [trace.type for trace in figure.data] == ["bar", "scatter"]
    assert overview.roc_curve(roc, float("nan")).data[1].name == "model (AUC n/a)"
    for figure in (overview.roc_curve(roc, 0.7), overview.pr_curve(pr, 0.4, 0.2)):
        figure.to_json()  # inf and NaN thresholds serialise


@pytest.mark.parametrize(("rows", "decimals"), [(2, None), (3, 1), (5_000, 3), (5_000, None)])
def test_unthinned_curves_equal_scikit_learns_exactly(rows, decimals):
    y, score = _predictions(rows, seed=rows, decimals=decimals)
    y[:2] = [0, 1]  # both classes, even in two rows
    roc, pr = curves(y, score, max_points=10**9)
    np.testing.assert_array_equal(roc.to_numpy().T, np.array(roc_curve(y, score)))
    precision, recall, thresholds = precision_recall_curve(y, score)
    np.testing.assert_array_equal(pr.to_numpy().T, [recall, precision, np.r_[thresholds, np.nan]])

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from core.diagnostics import calibration
from core.diagnostics.intervals import wilson_interval
from core.diagnostics.metrics import ece
from core.errors import DataError
from core.plots import calibration as plots

COLUMNS = ["bin", "lo", "hi", "n", "mean_score", "rate", "rate_lo", "rate_hi"]


def _predictions(n, seed=0):
    rng = np.random.default_rng(seed)
    score = np.round(rng.beta(2, 8, n), 2)  # ties, and scores exactly on the 0.1 edges
    return (rng.random(n) < score).astype(int), score


def test_uniform_reliability_by_hand_keeps_empty_bins():
    table = calibration.reliability([0, 1, 1, 0, 1], [0.05, 0.15, 0.95, 0.85, 1.0], bins=10, strategy="uniform")
    assert list(table.columns) == COLUMNS
    assert table["bin"].tolist() == list(range(1, 11))
    assert table["lo"].tolist() == pytest.approx([i / 10 for i in range(10)])
    assert table["hi"].tolist() == pytest.approx([i / 10 for i in range(1, 11)])
    assert table["n"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 1, 2]
    filled = table[table["n"] > 0]
    assert filled["mean_score"].tolist() == pytest.approx([0.05, 0.15, 0.85, 0.975])
    assert filled["rate"].tolist() == pytest.approx([0, 1, 0, 1])
    lo, hi = wilson_interval([0, 1, 0, 2], [1, 1, 1, 2])
    assert filled["rate_lo"].tolist() == pytest.approx(lo) and filled["rate_hi"].tolist() == pytest.approx(hi)
    assert table.loc[table["n"] == 0, ["mean_score", "rate", "rate_lo", "rate_hi"]].isna().all().all()


def test_a_uniform_edge_value_falls_in_the_bin_it_starts_as_ece_does():
    table = calibration.reliability([1, 0], [0.3, 0.7], bins=10, strategy="uniform")
    assert table.loc[table["n"] > 0, "bin"].tolist() == [4, 8]


def test_quantile_reliability_by_hand():
    score = [0.8, 0.1, 0.6, 0.3, 0.2, 0.7, 0.4, 0.5]
    y = [0, 0, 1, 0, 1, 1, 0, 1]
    # Sorted: 0.1 y0, 0.2 y1 | 0.3 y0, 0.4 y0 | 0.5 y1, 0.6 y1 | 0.7 y1, 0.8 y0; edges at ranks 0, 2, 4, 6 and the max.
    table = calibration.reliability(y, score, bins=4)
    assert list(table.columns) == COLUMNS
    assert table["lo"].tolist() == [0.1, 0.3, 0.5, 0.7]
    assert table["hi"].tolist() == [0.3, 0.5, 0.7, 0.8]
    assert table["n"].tolist() == [2, 2, 2, 2]
    assert table["mean_score"].tolist() == pytest.approx([0.15, 0.35, 0.55, 0.75])
    assert table["rate"].tolist() == pytest.approx([0.5, 0, 1, 0.5])


def test_quantile_bins_never_split_a_tie_block():
    # Sorted: 0.1, 0.2, 0.2, 0.2, 0.5, 0.6; ranks 0, 2, 4, 5 give edges 0.1, 0.2, 0.5, 0.6: the 0.2 block starts bin 2.
    table = calibration.reliability([0, 1, 0, 1, 1, 0], [0.2, 0.1, 0.2, 0.5, 0.2, 0.6], bins=3)
    assert table["lo"].tolist() == [0.1, 0.2, 0.5] and table["hi"].tolist() == [0.2, 0.5, 0.6]
    assert table["n"].tolist() == [1, 3, 2]
    assert table["rate"].tolist() == pytest.approx([1, 1 / 3, 0.5])


def test_quantile_bins_merge_under_heavy_ties_and_one_score_is_one_bin():
    table = calibration.reliability([0, 1, 0, 1], [0.2, 0.2, 0.2, 0.9], bins=4)
    assert (table["lo"].tolist(), table["hi"].tolist(), table["n"].tolist()) == ([0.2, 0.9], [0.9, 0.9], [3, 1])
    table = calibration.reliability([0, 1, 0, 1, 1], [0.1, 0.2, 0.9, 0.9, 0.9], bins=5)  # the top tie block is its own bin
    assert (table["lo"].tolist(), table["hi"].tolist(), table["n"].tolist()) == ([0.1, 0.2, 0.9], [0.2, 0.9, 0.9], [1, 1, 3])
    table = calibration.reliability([0, 1, 1], [0.1, 0.5, 0.9], bins=10)  # fewer rows than bins
    assert (table["lo"].tolist(), table["hi"].tolist(), table["n"].tolist()) == ([0.1, 0.5, 0.9], [0.5, 0.9, 0.9], [1, 1, 1])
    table = calibration.reliability([0, 1, 1], [0.3, 0.3, 0.3], bins=10)
    assert (table["lo"].tolist(), table["hi"].tolist(), table["n"].tolist()) == ([0.3], [0.3], [3])


def test_quantile_bins_hold_equal_mass_without_ties():
    rng = np.random.default_rng(1)
    score = rng.random(1000)
    table = calibration.reliability(rng.integers(0, 2, 1000), score, bins=10)
    assert table["n"].tolist() == [100] * 10


def test_unknown_strategy_is_a_data_error():
    with pytest.raises(DataError, match="quantile"):
        calibration.reliability([0, 1], [0.1, 0.9], strategy="kmeans")


def test_ece_of_a_reliability_table_by_hand():
    table = calibration.reliability([0, 1, 1, 0, 1], [0.05, 0.15, 0.95, 0.85, 1.0], strategy="uniform")
    assert calibration.ece_of(table) == pytest.approx((0.05 + 0.85 + 0.85 + 2 * 0.025) / 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_of_uniform_bins_equals_the_logged_ece(seed):
    y, score = _predictions(5000, seed)
    assert calibration.ece_of(calibration.reliability(y, score, bins=10, strategy="uniform")) == pytest.approx(ece(y, score), abs=1e-12)


def test_compare_raw_with_calibrated():
    y, calibrated = _predictions(4000, seed=3)
    raw = np.clip(calibrated * 1.5, 0, 1)
    table = calibration.compare(y, raw, calibrated)
    assert list(table.columns) == ["metric", "raw", "calibrated"]
    assert table["metric"].tolist() == [
        "ECE (10 equal-mass bins)",
        "ECE (10 equal-width bins)",
        "brier",
        "log_loss",
        "mean_score",
        "base_rate",
    ]
    rows = table.set_index("metric")
    for column, score in (("raw", raw), ("calibrated", calibrated)):
        assert rows.loc["ECE (10 equal-mass bins)", column] == calibration.ece_of(calibration.reliability(y, score))
        assert rows.loc["ECE (10 equal-width bins)", column] == pytest.approx(ece(y, score), abs=1e-12)
        assert rows.loc["brier", column] == pytest.approx(brier_score_loss(y, score), abs=1e-9)
        assert rows.loc["log_loss", column] == pytest.approx(log_loss(y, score), abs=1e-9)
        assert rows.loc["mean_score", column] == pytest.approx(score.mean())
        assert rows.loc["base_rate", column] == y.mean()
    assert rows.loc["ECE (10 equal-width bins)", "raw"] > rows.loc["ECE (10 equal-width bins)", "calibrated"]


def test_compare_with_uniform_bins_names_ece_once():
    y, score = _predictions(500, seed=4)
    table = calibration.compare(y, score, score, strategy="uniform")
    assert table["metric"].tolist() == ["ECE (10 equal-width bins)", "brier", "log_loss", "mean_score", "base_rate"]
    assert calibration.compare(y, score, score, bins=5)["metric"].iloc[0] == "ECE (5 equal-mass bins)"


def test_by_group_by_hand():
    frame = pd.DataFrame(
        {
            "device": ["a", "a", "a", "b", "b", None, None, "c"],
            "y": [1, 0, 0, 1, 1, 0, 1, 0],
            "score": [0.5, 0.3, 0.1, 0.6, 0.6, 0.2, 0.2, 0.3],
        }
    )
    table = calibration.by_group(frame, "device")
    assert list(table.columns) == [
        "group",
        "rows",
        "positives",
        "mean_score",
        "rate",
        "rate_lo",
        "rate_hi",
        "calibration_ratio",
        "ratio_lo",
        "ratio_hi",
        "note",
    ]
    # All intervals cover 1, so worst first is by distance of the ratio from 1: missing 0.4, b 0.6, a 0.9; c has none.
    assert table["group"].iloc[1:].tolist() == ["b", "a", "c"] and pd.isna(table["group"].iloc[0])
    assert table["rows"].tolist() == [2, 2, 3, 1]
    assert table["positives"].tolist() == [1, 2, 1, 0]
    assert table["mean_score"].tolist() == pytest.approx([0.2, 0.6, 0.3, 0.3])
    assert table["rate"].tolist() == pytest.approx([0.5, 1, 1 / 3, 0])
    assert table["calibration_ratio"].iloc[:3].tolist() == pytest.approx([0.4, 0.6, 0.9])
    lo, hi = wilson_interval([1, 2, 1], [2, 2, 3])
    assert table["ratio_lo"].iloc[:3].tolist() == pytest.approx(np.array([0.2, 0.6, 0.3]) / hi)
    assert table["ratio_hi"].iloc[:3].tolist() == pytest.approx(np.array([0.2, 0.6, 0.3]) / lo)
    assert table.loc[3, ["calibration_ratio", "ratio_lo", "ratio_hi"]].isna().all()
    assert table.loc[3, "note"] == "no positives: the ratio is undefined"
    assert table["note"].iloc[:3].str.startswith("fewer than 10 positives").all()


def test_by_group_puts_a_clear_miscalibration_before_a_noisy_one():
    rng = np.random.default_rng(5)
    big = pd.DataFrame({"segment": "big", "y": (rng.random(20_000) < 0.1).astype(int), "score": 0.13})  # ratio ≈ 1.3, sure
    small = pd.DataFrame({"segment": "small", "y": [1] + [0] * 19, "score": 0.15})  # ratio 3, interval covers 1
    fair = pd.DataFrame({"segment": "fair", "y": (rng.random(20_000) < 0.1).astype(int)})
    fair["score"] = fair["y"].mean()  # ratio exactly 1
    table = calibration.by_group(pd.concat([fair, small, big]), "segment")
    assert table["group"].tolist() == ["big", "small", "fair"]
    assert table.loc[0, "ratio_lo"] > 1 > table.loc[1, "ratio_lo"]


def test_by_group_reads_a_categorical_column_and_names_a_missing_one():
    frame = pd.DataFrame({"plan": pd.Categorical(["x", "y", "x"], categories=["x", "y", "z"]), "y": [1, 1, 0], "score": [0.5, 0.5, 0.5]})
    assert sorted(calibration.by_group(frame, "plan")["group"].astype(str)) == ["x", "y"]
    with pytest.raises(DataError, match="country"):
        calibration.by_group(frame, "country")


def test_histogram_by_hand():
    table = calibration.histogram([0, 1, 0, 1, 0], [0.25, 0.5, 0.75, 1.0, 1.0], bins=3)
    assert list(table.columns) == ["lo", "hi", "positives", "negatives", "positive_share", "negative_share"]
    assert table["lo"].tolist() == [0.25, 0.5, 0.75] and table["hi"].tolist() == [0.5, 0.75, 1.0]
    assert table["positives"].tolist() == [0, 1, 1] and table["negatives"].tolist() == [1, 0, 2]
    assert table["positive_share"].tolist() == [0, 0.5, 0.5]
    assert table["negative_share"].tolist() == pytest.approx([1 / 3, 0, 2 / 3])
    assert calibration.histogram([0, 1], [0.4, 0.4])["positives"].tolist() == [1]


def test_calibration_figures_have_the_expected_traces():
    y, score = _predictions(3000, seed=6)
    raw_table = calibration.reliability(y, np.clip(score * 1.5, 0, 1))
    calibrated_table = calibration.reliability(y, score, strategy="uniform")
    figure = plots.reliability(raw_table, calibrated_table)
    assert [trace.name for trace in figure.data] == ["perfect calibration", "raw score", "calibrated score"]
    assert list(figure.data[2].error_y.array) == pytest.approx(
        (calibrated_table["rate_hi"] - calibrated_table["rate"]).tolist(), nan_ok=True
    )
    assert list(figure.data[2].marker.size) == calibrated_table["n"].tolist()
    assert len(plots.reliability(None, calibrated_table).data) == 2
    figure = plots.score_distribution(calibration.histogram(y, score))
    assert [trace.type for trace in figure.data] == ["bar", "bar"] and len(figure.data[0].x) == 50
    frame = pd.DataFrame({"y": y, "score": score, "device": np.resize(["a", "b", None], 3000)})
    table = calibration.by_group(frame, "device")
    figure = plots.ratio_bars(table)
    assert len(figure.data) == 1 and list(figure.data[0].x) == table["group"].astype("string").fillna("(missing)").tolist()
    assert (figure.layout.shapes[0].y0, figure.layout.shapes[0].y1) == (0.8, 1.25)
    assert len(plots.ratio_bars(table, top=2).data[0].x) == 2
    figure.to_json()

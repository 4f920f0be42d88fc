"""bench.value's quality figures on hand-made frames (no training): capture, deciles, R², the row join, horizons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from bench.value import horizon_quality, joined, quality, span_s, targets


def _predictions() -> pd.DataFrame:
    """Ten test rows, highest expected value first; rows 2 and 7 do not convert. Total revenue 42.5."""
    score = np.array([0.5, 0.9, 0.4, 0.7, 0.6, 0.5, 0.2, 0.3, 0.1, 0.1])
    value = np.array([20.0, 10, 20, 10, 10, 10, 20, 10, 20, 10])
    return pd.DataFrame(
        {
            "y": [1, 1, 0, 1, 1, 1, 1, 0, 1, 1],
            "score": score,
            "value_if_converted": value,
            "expected_value": score * value,  # 10, 9, 8, …, 1
            "revenue": [12.0, 9, 0, 7, 4, 5, 2, 0, 1.5, 2],
            "true_p": np.where(np.arange(10) == 3, 0.95, score),
            "true_value": np.where(np.arange(10) == 3, 20.0, value),  # the oracle ranks row 3 first: 0.95 × 20 = 19
        }
    )


def test_capture_in_the_top_tenth_by_each_ranking():
    capture = quality(_predictions())["capture"]
    assert capture["expected_value"] == pytest.approx(12 / 42.5)  # row 0
    assert capture["probability"] == pytest.approx(9 / 42.5)  # row 1, score 0.9
    assert capture["oracle"] == pytest.approx(7 / 42.5)  # row 3
    assert capture["perfect"] == pytest.approx(12 / 42.5)


def test_decile_gap_is_the_worst_ratio_among_deciles_holding_value():
    found = quality(_predictions())
    ratios = [d["ratio"] for d in found["deciles"]]  # one row per decile: expected value / revenue
    np.testing.assert_allclose(ratios, [10 / 12, 1, np.nan, 1, 6 / 4, 1, 2, np.nan, 2 / 1.5, 1 / 2])
    assert found["worst_decile_gap"] == pytest.approx(1.0) and found["worst_decile"] == 7  # 4 predicted, 2 actual
    # The oracle ranks row 3 first at 0.95 × 20 = 19 against its 7 of revenue; the rest as before or nearer.
    assert found["worst_decile_gap_with"]["oracle"] == pytest.approx(19 / 7 - 1)
    assert found["worst_decile_gap_with"]["score × true_value"] == pytest.approx(1.0)  # row 3: 0.7 × 20 = 14 against 7


def test_r2_on_converters_of_the_value_stage_and_of_true_value():
    frame = _predictions()
    converters = frame[frame["y"] == 1]
    found = quality(frame)
    assert found["converters"] == 8
    assert found["r2"]["value_stage"] == pytest.approx(r2_score(converters["revenue"], converters["value_if_converted"]))
    assert found["r2"]["true_value"] == pytest.approx(r2_score(converters["revenue"], converters["true_value"]))
    assert found["r2"]["gap"] == pytest.approx(found["r2"]["true_value"] - found["r2"]["value_stage"])
    assert found["calibration_ratio"] == pytest.approx(frame["score"].mean() / 0.8)


def test_targets_say_which_of_the_three_hold():
    found = targets({"quality": quality(_predictions())})
    assert [t["name"].endswith("(temporal split)") for t in found] == [True] * 3
    met = [t["met"] for t in found]
    r2_gap = quality(_predictions())["r2"]["gap"]
    assert met == [True, False, r2_gap <= 0.05]  # 12/42.5 > 9/42.5; gap 1.0 > 0.1


def test_join_by_position_adds_the_oracle_and_refuses_shifted_rows():
    demo = pd.DataFrame(
        {
            "event_time": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]).astype("datetime64[ms]"),
            "converted": [0, 1, 0, 1],
            "revenue": [0.0, 5.0, 0.0, 7.0],
            "country": ["US", "DE", "US", "FR"],
            "true_p": [0.1, 0.2, 0.3, 0.4],
            "true_value": [1.0, 2.0, 3.0, 4.0],
        }
    )
    predictions = pd.DataFrame(
        {"row": [3, 1], "time": pd.to_datetime(["2026-01-04", "2026-01-02"]), "y": [1, 1], "revenue": [7.0, 5.0], "country": ["FR", "DE"]}
    )
    out = joined(predictions, demo)
    assert out["true_p"].tolist() == [0.4, 0.2] and out["true_value"].tolist() == [4.0, 2.0]
    with pytest.raises(SystemExit, match="time differs"):
        joined(predictions.assign(row=[2, 0]), demo)
    with pytest.raises(SystemExit, match="country differs"):
        joined(predictions.assign(country=["FR", "US"]), demo)


def test_horizon_r2_on_mature_converters_and_rows_that_decrease():
    predictions = pd.DataFrame(
        {
            "y": [1, 1, 1, 0],
            "a_d1": [10.0, 20.0, 30.0, 0.0],
            "a_d7": [12.0, 20.0, 40.0, 0.0],
            "mature.a_d1": [True, True, True, True],
            "mature.a_d7": [True, True, False, True],
            "value_if_converted.a_d1": [11.0, 19.0, 25.0, 9.0],
            "value_if_converted.a_d7": [13.0, 18.0, 30.0, 9.0],  # row 1 decreases: 19 -> 18
        }
    )
    found = horizon_quality(predictions, ["a_d1", "a_d7"])
    assert found["horizons"]["a_d1"]["r2"] == pytest.approx(r2_score([10, 20, 30], [11, 19, 25]))
    assert found["horizons"]["a_d7"]["rows"] == 2 and found["horizons"]["a_d7"]["r2"] == pytest.approx(r2_score([12, 20], [13, 18]))
    assert found["horizons"]["a_d7"]["mature_share"] == pytest.approx(0.75)
    assert found["rows_decreasing"] == 1


def test_span_runs_from_one_progress_line_to_the_next_that_starts_so():
    stderr = "[    1.0s] test ROC AUC 0.5\n[    4.5s] calibrated (isotonic)\n[    4.6s] value stage: fitting\nnoise\n[    6.2s] test ROC AUC 0.7\n"
    assert span_s(stderr, "calibrated", "test ROC AUC") == pytest.approx(1.7)  # not the earlier test line
    assert span_s(stderr, "fitting", "test ROC AUC") is None

"""The words on raw against calibrated ECE: exactly what the Train page and the Calibration tab say."""

import numpy as np

from core.diagnostics import calibration
from core.diagnostics.calibration import OFF_ECE, calibration_note, compare_note, ece_line, run_note

OVERSAMPLED = " Oversampling the training rows distorts the model's own probabilities."


def test_raw_scores_off_and_calibration_fixing_them():
    assert calibration_note(0.12, 0.01, False, mean_raw=0.2, rate=0.08) == (
        "Raw scores over-predict: ECE 0.120 before calibration, 0.010 after — use the calibrated scores."
    )
    assert calibration_note(0.12, 0.01, True, mean_raw=0.2, rate=0.08) == (
        "Raw scores over-predict: ECE 0.120 before calibration, 0.010 after — use the calibrated scores." + OVERSAMPLED
    )
    assert calibration_note(0.05, 0.004, False, mean_raw=0.03, rate=0.08).startswith("Raw scores under-predict: ECE 0.050")
    assert calibration_note(0.05, 0.004, False).startswith("Raw scores are off: ECE 0.050")  # no means: no direction


def test_nothing_to_say_below_the_threshold_or_without_numbers():
    assert calibration_note(OFF_ECE - 1e-9, 0.001, True) is None
    assert (
        calibration_note(OFF_ECE, 0.001, False)
        == "Raw scores are off: ECE 0.020 before calibration, 0.001 after — use the calibrated scores."
    )
    assert calibration_note(float("nan"), 0.01, True) is None
    assert calibration_note(0.1, float("nan"), True) is None


def test_uncalibrated_and_still_off_runs():
    assert calibration_note(0.08, 0.08, True, 0.15, 0.07) == (
        "Scores over-predict: ECE 0.080 and the run is not calibrated — retrain with isotonic calibration." + OVERSAMPLED
    )
    assert calibration_note(0.08, 0.03, False, 0.15, 0.07) == (
        "Raw scores over-predict: ECE 0.080 before calibration, 0.030 after — the calibrated scores are off too: "
        "read the reliability chart and calibration by segment."
    )


def test_a_runs_logged_metrics_and_tag():
    metrics = {"test_ece_raw": 0.0272, "ece": 0.0064, "test_mean_score_raw": 0.0858, "test_base_rate": 0.0587}
    assert run_note(metrics, {"wb.imbalance": "smote"}) == (
        "Raw scores over-predict: ECE 0.027 before calibration, 0.006 after — use the calibrated scores." + OVERSAMPLED
    )
    assert run_note(metrics, {"wb.imbalance": "undersample"}).endswith("use the calibrated scores.")
    assert run_note(metrics, {}).endswith("use the calibrated scores.")  # runs from before the tag
    assert run_note({"ece": 0.1}, {}) is None  # runs from before test_ece_raw
    assert ece_line(metrics) == "Test ECE: raw scores 0.0272, calibrated 0.0064"
    assert ece_line({"ece": 0.1}) is None


def test_the_compare_table_notes_its_own_rows():
    y = np.array([0, 0, 0, 1] * 25)
    raw = np.full(100, 0.45)  # mean 0.45 against a rate of 0.25: 0.20 over
    calibrated = np.full(100, 0.25)
    compared = calibration.compare(y, raw, calibrated)
    assert compare_note(compared, {"wb.imbalance": "adasyn"}) == (
        "Raw scores over-predict: ECE 0.200 before calibration, 0.000 after — use the calibrated scores." + OVERSAMPLED
    )
    assert compare_note(calibration.compare(y, calibrated, calibrated), {}) is None

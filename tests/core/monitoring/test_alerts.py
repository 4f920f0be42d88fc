"""Alert rules fire exactly when a limit is crossed: at the limit no alert, just past it one."""

import numpy as np
import pandas as pd
import pytest

from core.monitoring.alerts import ALERT_COLUMNS, Limits, alerts

LIMITS = Limits(score_psi=0.2, feature_psi=0.25, calibration_band=(0.8, 1.25), roc_auc=0.6)
EPS = 1e-9
STARTS = pd.date_range("2026-10-01", periods=3, freq="D")


def window_frame(**columns) -> pd.DataFrame:
    """Three windows that fire nothing, with `columns` replacing the defaults."""
    base = {
        "start": STARTS,
        "psi": [0.0, 0.0, 0.0],
        "calibration_ratio": [1.0, 1.0, 1.0],
        "mature": [True, True, True],
        "few_positives": [False, False, False],
        "roc_auc": [0.8, 0.8, 0.8],
        "est_roc_auc": [0.8, 0.8, 0.8],
    }
    return pd.DataFrame({**base, **columns})


NO_DRIFT = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns]"), "feature": pd.Series(dtype=object), "psi": pd.Series(dtype=float)})


def fired(windows, drift=NO_DRIFT) -> pd.DataFrame:
    table = alerts(windows, drift, LIMITS)
    assert list(table.columns) == ALERT_COLUMNS
    return table


def test_nothing_fires_inside_every_limit():
    assert fired(window_frame()).empty


def test_score_psi_fires_only_strictly_above_the_limit():
    table = fired(window_frame(psi=[0.2 - EPS, 0.2, 0.2 + EPS]))
    assert table[["rule", "window_start", "value", "limit", "estimated"]].to_dict("records") == [
        {"rule": "score_psi", "window_start": STARTS[2], "value": 0.2 + EPS, "limit": 0.2, "estimated": False}
    ]
    assert table["feature"].iloc[0] is None


def test_feature_psi_fires_per_feature_strictly_above_the_limit():
    drift = pd.DataFrame(
        {
            "start": [STARTS[0], STARTS[0], STARTS[0], STARTS[1]],
            "feature": ["channel", "offer", "hour", "channel"],
            "psi": [0.25 + EPS, 0.25, 0.25 - EPS, 0.9],
        }
    )
    table = fired(window_frame(), drift)
    assert table[["window_start", "feature", "value", "limit"]].values.tolist() == [
        [STARTS[0], "channel", 0.25 + EPS, 0.25],
        [STARTS[1], "channel", 0.9, 0.25],
    ]
    assert (table["rule"] == "feature_psi").all() and not table["estimated"].any()


def test_a_small_windows_feature_psi_must_clear_three_times_its_sampling_noise():
    drift = pd.DataFrame(
        {
            "start": [STARTS[0], STARTS[1], STARTS[2]],
            "feature": ["campaign", "campaign", "campaign"],
            "psi": [0.3, 0.3 + EPS, 0.26],
            "psi_noise": [0.1, 0.1, 0.01],  # 3 x 0.1 = 0.3 is the limit in the first two windows; the setting's 0.25 in the last
        }
    )
    table = fired(window_frame(), drift)
    assert table[["window_start", "value", "limit"]].values.tolist() == [
        [STARTS[1], 0.3 + EPS, pytest.approx(0.3)],
        [STARTS[2], 0.26, 0.25],
    ]


@pytest.mark.parametrize(
    "ratio, limit",
    [(0.8 - EPS, 0.8), (1.25 + EPS, 1.25)],
)
def test_calibration_ratio_fires_outside_the_band_with_the_bound_crossed(ratio, limit):
    table = fired(window_frame(calibration_ratio=[0.8, 1.25, ratio]))  # the bounds themselves are inside the band
    assert table[["rule", "window_start", "value", "limit"]].values.tolist() == [["calibration_ratio", STARTS[2], ratio, limit]]


def test_calibration_ratio_only_on_mature_windows_with_enough_positives():
    windows = window_frame(calibration_ratio=[2.0, 2.0, 2.0], mature=[False, True, True], few_positives=[False, True, False])
    assert fired(windows)["window_start"].tolist() == [STARTS[2]]


def test_roc_auc_uses_the_realised_value_on_mature_windows_else_the_estimate():
    windows = window_frame(
        roc_auc=[0.6 - EPS, 0.5, np.nan],  # the second window is immature: its partial realised AUC is not used
        est_roc_auc=[0.9, 0.6 - EPS, 0.59],
        mature=[True, False, True],  # the third is mature without a realised AUC (one class): the estimate stands in
    )
    table = fired(windows)
    assert table[["window_start", "value", "limit", "estimated"]].values.tolist() == [
        [STARTS[0], 0.6 - EPS, 0.6, False],
        [STARTS[1], 0.6 - EPS, 0.6, True],
        [STARTS[2], 0.59, 0.6, True],
    ]


def test_roc_auc_exactly_at_the_floor_does_not_fire():
    assert fired(window_frame(roc_auc=[0.6, 0.6, 0.6], est_roc_auc=[0.6, 0.6, 0.6], mature=[True, False, True])).empty


def test_nan_values_never_fire():
    windows = window_frame(psi=[np.nan] * 3, calibration_ratio=[np.nan] * 3, roc_auc=[np.nan] * 3, est_roc_auc=[np.nan] * 3)
    drift = pd.DataFrame({"start": [STARTS[0]], "feature": ["channel"], "psi": [np.nan]})
    assert fired(windows, drift).empty


def test_alerts_sort_by_window_then_rule():
    windows = window_frame(psi=[0.3, 0.0, 0.3], calibration_ratio=[2.0, 1.0, 1.0], roc_auc=[0.5, 0.8, 0.8])
    drift = pd.DataFrame({"start": [STARTS[0]], "feature": ["offer"], "psi": [0.5]})
    table = fired(windows, drift)
    assert table[["window_start", "rule"]].values.tolist() == [
        [STARTS[0], "score_psi"],
        [STARTS[0], "feature_psi"],
        [STARTS[0], "calibration_ratio"],
        [STARTS[0], "roc_auc"],
        [STARTS[2], "score_psi"],
    ]


def test_limits_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("WB_MONITOR_MAX_SCORE_PSI", "0.3")
    monkeypatch.setenv("WB_MONITOR_MAX_FEATURE_PSI", "0.4")
    monkeypatch.setenv("WB_MONITOR_CALIBRATION_BAND", "0.9, 1.1")
    monkeypatch.setenv("WB_GATE_MIN_ROC_AUC", "0.7")
    assert Limits.from_settings() == Limits(0.3, 0.4, (0.9, 1.1), 0.7)


@pytest.mark.parametrize("text", ["0.9", "1.2,0.8", "a,b", "-0.1,1"])
def test_a_bad_calibration_band_names_its_variable(monkeypatch, text):
    from core.errors import WorkbenchError

    monkeypatch.setenv("WB_MONITOR_CALIBRATION_BAND", text)
    with pytest.raises(WorkbenchError, match="WB_MONITOR_CALIBRATION_BAND"):
        Limits.from_settings()

"""bench.monitor's pure parts: the per-window statistics of a pass and their spread before and during the drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.monitor import STAT_COLUMNS, first_drift_day, spread, window_stats

STARTS = pd.to_datetime(["2026-10-06", "2026-10-07", "2026-10-08"])


def pass_tables():
    table = pd.DataFrame(
        {
            "start": STARTS,
            "end": STARTS + pd.Timedelta(days=7),
            "rows": [100, 110, 120],
            "positives": [10, 11, 12],
            "max_feature_psi": [0.001, 0.03, 0.05],
            "top_feature": ["hour", "offer", "channel"],
            "calibration_ratio": [0.98, 1.05, 1.2],
            "psi": [0.0002, 0.001, np.nan],
            "roc_auc": [0.71, 0.70, 0.69],
        }
    )
    drift = pd.DataFrame(
        {
            "start": np.repeat(STARTS, 3),
            "feature": ["channel", "offer", "hour"] * 3,
            "psi": [0.0001, 0.0002, 0.001, 0.01, 0.03, 0.0, 0.05, 0.03, 0.0],
        }
    )
    fired = pd.DataFrame(
        {
            "rule": ["feature_psi", "feature_psi", "calibration_ratio", "feature_psi"],
            "window_start": [STARTS[1], STARTS[2], STARTS[2], STARTS[2]],
            "feature": ["offer", "channel", None, "offer"],
        }
    )
    return table, drift, fired


def test_first_drift_day_is_the_first_of_the_demos_last_two_weeks():
    assert first_drift_day(56) == pd.Timestamp("2026-10-13")


def test_window_stats_picks_channel_and_offer_and_marks_windows_ending_after_the_drift_starts():
    stats = window_stats(*pass_tables(), pd.Timestamp("2026-10-13"))
    assert list(stats.columns) == STAT_COLUMNS
    # The first window ends exactly on the first drift day: not drifting.
    assert stats["drifting"].tolist() == [False, True, True]
    assert stats["channel_psi"].tolist() == [0.0001, 0.01, 0.05]
    assert stats["offer_psi"].tolist() == [0.0002, 0.03, 0.03]
    assert stats["alerts"].tolist() == ["", "feature_psi", "calibration_ratio,feature_psi"]
    assert stats["score_psi"].tolist()[:2] == [0.0002, 0.001]


def test_spread_before_and_during():
    result = spread(window_stats(*pass_tables(), pd.Timestamp("2026-10-13")))
    before, during = result["before"], result["during"]
    assert before["windows"] == 1 and before["windows_alerted"] == 0
    assert before["calibration_gap_max"] == pytest.approx(0.02)
    assert during["windows"] == 2 and during["windows_alerted"] == 2 and during["rows_min"] == 110
    assert during["channel_psi"] == [0.01, 0.05]
    assert during["calibration_ratio"] == [1.05, 1.2]
    assert during["calibration_gap_max"] == pytest.approx(0.2)
    assert during["score_psi_max"] == 0.001  # NaN skipped
    assert during["roc_auc"] == [0.69, 0.70]

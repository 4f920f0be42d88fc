"""The Monitor page's words and picks from a pass's tables, on hand-made frames."""

import pandas as pd
import pytest

from core.errors import RegistryError
from core.monitoring import summary

T0 = pd.Timestamp("2026-10-20")
DAY = pd.Timedelta(days=1)


def alerts_of(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["rule", "window_start", "value", "limit", "feature", "estimated"])


def test_headline_counts_alerts_and_names_each_rule_from_its_first_window():
    alerts = alerts_of(
        [
            ("feature_psi", T0, 0.3, 0.2, "channel", False),
            ("score_psi", T0 + DAY, 0.25, 0.2, None, False),
            ("feature_psi", T0 + DAY, 0.4, 0.2, "channel", False),
            ("feature_psi", T0 + DAY, 0.21, 0.2, "offer", False),
            ("roc_auc", T0 + 2 * DAY, 0.55, 0.6, None, True),
        ]
    )
    assert summary.headline(alerts) == (
        "5 alerts: feature_psi (channel) since 2026-10-20 in 2 windows; score_psi since 2026-10-21 in 1 window; "
        "feature_psi (offer) since 2026-10-21 in 1 window; roc_auc estimated since 2026-10-22 in 1 window"
    )
    assert summary.headline(alerts.iloc[:1]) == "1 alert: feature_psi (channel) since 2026-10-20 in 1 window"
    assert summary.headline(alerts.iloc[:0]) == "No alerts: every window is within its limits."


def test_window_drift_keeps_one_window_highest_psi_first():
    drift = pd.DataFrame(
        {
            "start": [T0, T0, T0 + DAY, T0 + DAY],
            "end": [T0 + 7 * DAY, T0 + 7 * DAY, T0 + 8 * DAY, T0 + 8 * DAY],
            "feature": ["a", "channel", "a", "channel"],
            "kind": ["numeric", "categorical"] * 2,
            "psi": [0.01, 0.02, 0.05, 0.5],
            "unseen_share": [0.0, 0.0, 0.0, 0.1],
            "missing_reference": 0.0,
            "missing_current": 0.0,
            "missing_change": 0.0,
            "rows": 10,
        }
    )
    table = summary.window_drift(drift, T0 + DAY)
    assert list(table.columns) == summary.DRIFT_COLUMNS
    assert table["feature"].tolist() == ["channel", "a"] and table["psi"].tolist() == [0.5, 0.05]


def test_version_choices_put_the_champion_first_then_other_aliases_then_numbers():
    versions = pd.DataFrame(
        {
            "model": ["m", "m", "m", "other"],
            "version": [3, 2, 1, 1],
            "run_id": ["r3", "r2", "r1", "o1"],
            "aliases": ["challenger", "champion", "", "champion"],
        }
    )
    assert summary.version_choices(versions, "m") == {
        "champion": "champion (version 2)",
        "challenger": "challenger (version 3)",
        "3": "version 3",
        "2": "version 2",
        "1": "version 1",
    }


def test_chosen_version_finds_an_alias_or_a_number():
    versions = pd.DataFrame({"model": ["m", "m"], "version": [2, 1], "run_id": ["r2", "r1"], "aliases": ["champion, challenger", ""]})
    assert summary.chosen_version(versions, "m", "challenger") == (2, "r2")
    assert summary.chosen_version(versions, "m", "1") == (1, "r1")
    with pytest.raises(RegistryError, match="has no alias 'shadow'"):
        summary.chosen_version(versions, "m", "shadow")


def test_the_default_since_is_the_first_day_of_the_test_predictions():
    predictions = pd.DataFrame({"time": pd.to_datetime(["2026-10-07 13:00", "2026-10-06 23:59", None]), "score": [0.1, 0.2, 0.3]})
    assert summary.first_unfitted_day(predictions) == pd.Timestamp("2026-10-06").date()
    assert summary.first_unfitted_day(predictions.drop(columns="time")) is None

"""The pass's own pieces: CBPE estimates against realised metrics, the window table's drift columns, alert records and tags."""

import json

import numpy as np
import pandas as pd
import pytest

from core.diagnostics.intervals import wilson_interval
from core.diagnostics.rolling import COLUMNS, windows
from core.monitoring.alerts import ALERT_COLUMNS
from core.monitoring.monitor_pass import MONITOR_COLUMNS, alert_records, model_uri, window_table
from core.monitoring.passes import alerts_tag

T0 = pd.Timestamp("2026-10-05")


def calibrated(rows: int, days: int, seed: int) -> pd.DataFrame:
    """Perfectly calibrated scores: y ~ Bernoulli(score), times spread over `days`."""
    rng = np.random.default_rng(seed)
    score = rng.beta(1, 6, rows)
    times = T0 + pd.to_timedelta(rng.uniform(0, days * 86_400, rows), unit="s")
    return pd.DataFrame({"time": times, "y": (rng.random(rows) < score).astype(int), "score": score})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cbpe_estimates_fall_within_the_realised_metrics_intervals(seed):
    frame = calibrated(30_000, days=21, seed=seed)
    cut = 0.3
    table = windows(frame, 7, 7, threshold=cut, reference_scores=frame["score"].to_numpy()[:5000])
    assert len(table) == 3
    for row in table.itertuples():
        part = frame[(frame["time"] >= row.start) & (frame["time"] < row.end)]
        flagged = part["score"] >= cut
        hits = int((flagged & (part["y"] == 1)).sum())
        assert row.roc_auc_lo <= row.est_roc_auc <= row.roc_auc_hi
        lo, hi = wilson_interval(np.array([hits]), np.array([int(flagged.sum())]))
        assert lo[0] <= row.est_precision <= hi[0]
        lo, hi = wilson_interval(np.array([hits]), np.array([int(part["y"].sum())]))
        assert lo[0] <= row.est_recall <= hi[0]
        # The realised values are the same counts: the intervals are around them.
        assert row.precision == hits / flagged.sum() and row.recall == hits / part["y"].sum()


def test_cbpe_estimates_move_off_the_realised_ones_when_calibration_breaks():
    frame = calibrated(30_000, days=7, seed=4)
    frame["y"] = (np.random.default_rng(9).random(len(frame)) < frame["score"] * 0.5).astype(int)  # half the predicted rate
    row = windows(frame, 7, 7, threshold=0.3).iloc[0]
    lo, hi = wilson_interval(
        np.array([int(((frame["score"] >= 0.3) & (frame["y"] == 1)).sum())]), np.array([int((frame["score"] >= 0.3).sum())])
    )
    assert not lo[0] <= row.est_precision <= hi[0]
    assert row.calibration_ratio == pytest.approx(frame["score"].mean() / frame["y"].mean())


def test_window_table_adds_each_window_worst_feature_and_its_alert_count():
    frame = calibrated(2_000, days=3, seed=0)
    base = windows(frame, 1, 1)
    starts = base["start"]
    drift = pd.DataFrame(
        {
            "start": [starts[0], starts[0], starts[1], starts[1]],
            "feature": ["channel", "offer", "channel", "offer"],
            "psi": [0.3, 0.1, np.nan, 0.05],
        }
    )
    fired = pd.DataFrame(
        {"rule": ["feature_psi", "score_psi", "roc_auc"], "window_start": [starts[0], starts[0], starts[2]], "value": [0.3, 0.4, 0.5],
         "limit": [0.2, 0.2, 0.6], "feature": ["channel", None, None], "estimated": [False, False, True]}
    )  # fmt: skip
    table = window_table(base, drift, fired)
    assert list(table.columns) == MONITOR_COLUMNS == [*COLUMNS, "max_feature_psi", "top_feature", "alerts"]
    assert table["max_feature_psi"].tolist()[:2] == [0.3, 0.05] and np.isnan(table["max_feature_psi"].iloc[2])
    assert table["top_feature"].tolist()[:2] == ["channel", "offer"] and pd.isna(table["top_feature"].iloc[2])
    assert table["alerts"].tolist() == [2, 0, 1]


def test_alert_records_are_plain_json_and_the_tag_keeps_whole_alerts_that_fit():
    fired = pd.DataFrame(
        {"rule": ["feature_psi", "roc_auc"], "window_start": pd.to_datetime(["2026-10-01", "2026-10-02"]), "value": [0.3, 0.55],
         "limit": [0.2, 0.6], "feature": ["channel", None], "estimated": [False, True]}
    )  # fmt: skip
    records = alert_records(fired)
    assert records == [
        {
            "rule": "feature_psi",
            "window_start": "2026-10-01T00:00:00",
            "value": 0.3,
            "limit": 0.2,
            "feature": "channel",
            "estimated": False,
        },
        {"rule": "roc_auc", "window_start": "2026-10-02T00:00:00", "value": 0.55, "limit": 0.6, "feature": None, "estimated": True},
    ]
    assert list(records[0]) == ALERT_COLUMNS
    many = records * 400
    text = alerts_tag(many)
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    kept = json.loads(text)
    assert len(text) <= MAX_TAG_VAL_LENGTH and 0 < len(kept) < len(many) and kept == many[: len(kept)]
    assert json.loads(alerts_tag(records)) == records


def test_model_uri_takes_a_version_number_or_an_alias():
    assert model_uri("churn", None) == "models:/churn@champion"
    assert model_uri("churn", "challenger") == "models:/churn@challenger"
    assert model_uri("churn", 3) == "models:/churn/3"
    from core.errors import RegistryError

    with pytest.raises(RegistryError, match="letters, digits"):
        model_uri("no/slash", None)


def test_the_model_name_pattern_is_the_registry_one():
    from core import registry
    from core.monitoring import passes

    assert passes.MODEL_NAME.pattern == registry.MODEL_NAME.pattern

"""Issue 15, point 4: a model trained on the demo's first five weeks alerts on channel mix and calibration in the
drifting windows, and raises nothing before them, with the default limits."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from core import demo

ROWS, DAYS, SEED = 200_000, 56, 7
TRAIN_BEFORE, NOW = "2026-10-06", "2026-12-01"
DRIFT_FROM = pd.Timestamp(demo.START) + pd.Timedelta(days=DAYS - demo.DRIFT_DAYS)  # 2026-10-13
WINDOW = pd.Timedelta(days=7)


def demo_pass(root, store: str, rows: int = ROWS, seed: int = SEED) -> dict:
    """Trains a small gbdt on the first five weeks of a fresh demo, promotes it and monitors the rest; monitor's JSON."""
    from core import registry, train
    from core.monitoring.monitor_pass import Log, monitor

    demo.write(demo.generate(rows, DAYS, seed=seed), root / "demo")
    args = ["--data", "demo", "--target", "converted", "--time-column", "event_time", "--exclude", *demo.NOT_FEATURES, "user_id",
            "--param", "n_estimators=60", "num_leaves=15", "--calibration", "isotonic", "--filter", f"event_time < {TRAIN_BEFORE}"]  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("WB_SHAP_ROWS", "50")
        for name in ("WB_MONITOR_MAX_SCORE_PSI", "WB_MONITOR_MAX_FEATURE_PSI", "WB_MONITOR_CALIBRATION_BAND", "WB_GATE_MIN_ROC_AUC"):
            env.delenv(name, raising=False)  # the defaults are what this test holds
        run_id = train.train(train.parse_args(args)[0], log=train.Log(io.StringIO()))["run_id"]
        version = registry.register(run_id, "demo-drift")
        registry.promote("demo-drift", version, "trained on the first five weeks")
        return monitor("demo-drift", "champion", "demo", "event_time", TRAIN_BEFORE, now=NOW, log=Log(io.StringIO()))


@pytest.mark.slow
def test_demo_drift_alerts_channel_and_calibration_only_in_drifting_windows(tmp_path):
    result = demo_pass(tmp_path / "root", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    fired = pd.DataFrame(result["alerts"])
    ends = pd.to_datetime(fired["window_start"]) + WINDOW
    assert (ends > DRIFT_FROM).all(), fired[ends <= DRIFT_FROM]  # nothing in a window entirely before the drift
    # The window starting on TRAIN_BEFORE ends on the first drift day: it exists and raised nothing.
    assert pd.Timestamp(TRAIN_BEFORE) + WINDOW <= DRIFT_FROM and result["windows"] > 7
    channel = fired[(fired["rule"] == "feature_psi") & (fired["feature"] == "channel")]
    calibration = fired[fired["rule"] == "calibration_ratio"]
    assert len(channel) and len(calibration), fired
    assert (calibration["value"] > calibration["limit"]).all()  # the model overestimates once conversion ramps down
    assert not calibration["estimated"].any()

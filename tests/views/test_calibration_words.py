"""The Train job board and the Diagnostics Calibration tab say in words when a run's raw scores are off."""

from streamlit.testing.v1 import AppTest

from core import runs, tracking
from core.diagnostics import calibration
from core.settings import PROJECT


def run(path, **state):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_calibration_tab_says_the_oversampled_runs_raw_scores_over_predict(train_env, smote_run):
    at = run("views/diagnostics.py", **{"diag.run": smote_run, "diag.tab": "Calibration"})
    assert not at.error, [e.value for e in at.error]
    frame = runs.predictions(smote_run)
    expected = calibration.compare_note(calibration.compare(frame["y"], frame["score_raw"], frame["score"]), {"wb.imbalance": "smote"})
    assert expected.startswith("Raw scores over-predict: ECE ") and "use the calibrated scores" in expected
    assert expected.endswith("Oversampling the training rows distorts the model's own probabilities.")
    assert [w.value for w in at.warning] == [expected]


def test_the_job_board_shows_raw_against_calibrated_ece_of_a_finished_run(train_env, smote_run, demo_run):
    at = run("views/train.py", **{"train.job": smote_run})
    found = tracking.client().get_run(smote_run).data.metrics
    expected = (
        f"Raw scores over-predict: ECE {found['test_ece_raw']:.3f} before calibration, {found['ece']:.3f} after — use the "
        "calibrated scores. Oversampling the training rows distorts the model's own probabilities."
    )
    assert expected in [w.value for w in at.warning]
    plain = tracking.client().get_run(demo_run).data
    at = run("views/train.py", **{"train.job": demo_run})
    if calibration.run_note(plain.metrics, plain.tags) is None:  # the gbdt run's raw scores are close: numbers only
        assert calibration.ece_line(plain.metrics) in [c.value for c in at.caption]
    else:
        assert calibration.run_note(plain.metrics, plain.tags) in [w.value for w in at.warning]


def test_choosing_oversampling_without_calibration_warns(train_env):
    at = run("views/train.py")
    at.selectbox(key="train.imbalance").set_value("adasyn").run()
    at.selectbox(key="train.calibration").set_value("none").run()
    assert not at.exception
    assert "adasyn adds synthetic positives, so the model's own probabilities run high: keep calibration on." in [
        w.value for w in at.warning
    ]

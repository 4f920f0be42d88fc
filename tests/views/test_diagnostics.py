"""Diagnostics renders every tab for a finished demo run, moves the threshold and saves it."""

import mlflow
from sklearn.metrics import confusion_matrix, roc_auc_score
from streamlit.testing.v1 import AppTest

from core import runs, threshold
from core.settings import PROJECT

TABS = ["Overview", "Calibration", "Threshold", "Over time", "Segments", "Explain"]


def run(path="views/diagnostics.py", **state):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_every_tab_renders_for_a_demo_run(train_env, demo_run):
    at = run(**{"diag.run": demo_run})
    assert [t.label for t in at.tabs] == TABS
    frame = runs.predictions(demo_run)
    # The Overview's ROC AUC is scikit-learn's on the run's test predictions.
    assert metric(at, "ROC AUC") == f"{roc_auc_score(frame['y'], frame['score']):.4f}"
    charts = {}
    for tab in TABS:  # only the open tab computes, so open each in turn
        at.session_state["diag.tab"] = tab
        at.run()
        assert not at.exception, (tab, [e.value for e in at.exception])
        assert not at.error, (tab, [e.value for e in at.error])
        charts[tab] = len(at.get("plotly_chart"))
    assert charts == {"Overview": 4, "Calibration": 2, "Threshold": 3, "Over time": 2, "Segments": 3, "Explain": 5}
    assert "no time column" not in " ".join(i.value for i in at.info)


def test_the_page_opens_through_the_app_and_from_a_train_link(train_env, demo_run):
    at = run("app.py", **{"diag.open": demo_run})
    at.switch_page("views/diagnostics.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="diag.run").value == demo_run


def test_moving_the_threshold_changes_the_confusion_matrix_and_saving_tags_the_run(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Threshold"})
    frame = runs.predictions(demo_run)
    for cut in (0.05, 0.2):
        at.slider(key="diag.threshold").set_value(cut).run()
        assert not at.exception
        tn, fp, fn, tp = confusion_matrix(frame["y"], frame["score"] >= cut).ravel()
        assert metric(at, "TP / FP") == f"{tp:,} / {fp:,}"
    at.button(key="diag.save").click().run()
    assert mlflow.get_run(demo_run).data.tags["wb.threshold"] == "0.2"
    assert any("Saved threshold 0.2000" in s.value for s in at.success)


def test_a_suggestion_moves_the_slider_to_its_exact_cut(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Threshold"})
    frame = runs.predictions(demo_run)
    table = threshold.with_profit(threshold.threshold_table(frame["y"].to_numpy(), frame["score"].to_numpy()), 1.0, 0.1, 0.0)
    best = threshold.suggestions(table, 1.0, 0.1, 0.0).set_index("suggestion").loc["max F1", "threshold"]
    at.button(key="diag.suggest.0").click().run()
    assert at.session_state["diag.cut"] == best
    assert abs(at.slider(key="diag.threshold").value - best) <= 0.00005
    tp = int((frame["score"] >= best)[frame["y"] == 1].sum())
    assert metric(at, "TP / FP").startswith(f"{tp:,} /")


def test_a_filter_applies_to_every_tab(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.filters": [("channel", "=", "search")]})
    frame = runs.predictions(demo_run)
    kept = frame[frame["channel"] == "search"]
    assert metric(at, "ROC AUC") == f"{roc_auc_score(kept['y'], kept['score']):.4f}"
    assert any(f"Filtered: {len(kept):,} of {len(frame):,} rows" in c.value for c in at.caption)


def test_no_finished_run_says_where_to_start(train_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    at = run()
    assert any("No finished training run" in i.value for i in at.info)


def test_a_run_without_time_or_segments_says_so(train_env, demo_run, tmp_path):
    frame = runs.predictions(demo_run)[["row", "y", "score", "score_raw"]]
    client = mlflow.tracking.MlflowClient()
    made = client.create_run(client.get_run(demo_run).info.experiment_id, tags={"wb.family": "gbdt", "wb.dataset": "demo"})
    frame.to_parquet(tmp_path / "predictions.parquet", index=False)
    client.log_artifact(made.info.run_id, str(tmp_path / "predictions.parquet"))
    client.set_terminated(made.info.run_id, "FINISHED")
    infos = ""
    for tab in ("Over time", "Segments"):
        infos += " ".join(i.value for i in run(**{"diag.run": made.info.run_id, "diag.tab": tab}).info)
    assert "no time column" in infos and "no segment columns" in infos

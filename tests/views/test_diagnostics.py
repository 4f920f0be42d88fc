"""Diagnostics renders every tab for a finished demo run, moves the threshold and saves it."""

import math

import mlflow
from sklearn.metrics import confusion_matrix, roc_auc_score
from streamlit.testing.v1 import AppTest

from core import runs, settings
from core.diagnostics import diagnose, explain, slice_finder, threshold
from core.settings import PROJECT

TABS = ["Overview", "Calibration", "Threshold", "Over time", "Segments", "Explain", "Value"]


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
    assert charts == {"Overview": 4, "Calibration": 2, "Threshold": 3, "Over time": 2, "Segments": 2, "Explain": 5, "Value": 0}
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
        assert (metric(at, "TP"), metric(at, "FP"), metric(at, "FN")) == (f"{tp:,}", f"{fp:,}", f"{fn:,}")
    at.button(key="diag.save").click().run()
    tags = mlflow.get_run(demo_run).data.tags
    assert tags["wb.threshold"] == "0.2" and runs.saved_policy(tags) == {"kind": "fixed", "params": {"threshold": 0.2}}  # by hand
    assert any("Saved threshold 0.2000 (fixed by hand)" in s.value for s in at.success)


def test_a_suggestion_moves_the_slider_to_its_exact_cut(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Threshold"})
    frame = runs.predictions(demo_run)
    table = threshold.with_profit(threshold.threshold_table(frame["y"].to_numpy(), frame["score"].to_numpy()), 1.0, 0.1, 0.0)
    best = threshold.suggestions(table, 1.0, 0.1, 0.0).set_index("suggestion").loc["max F1", "threshold"]
    at.button(key="diag.suggest.0").click().run()
    assert at.session_state["diag.cut"] == best
    assert abs(at.slider(key="diag.threshold").value - best) <= 0.00005
    tp = int((frame["score"] >= best)[frame["y"] == 1].sum())
    assert metric(at, "TP") == f"{tp:,}"


def test_the_slider_spans_the_scores_and_saving_a_suggestion_records_its_policy(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Threshold"})
    score = runs.predictions(demo_run)["score"]
    slider = at.slider(key="diag.threshold")
    # The lowest and highest score rounded outward to the slider's step of 0.0001, by hand.
    assert (slider.min, slider.max) == (math.floor(score.min() * 10_000) / 10_000, math.ceil(score.max() * 10_000) / 10_000)
    assert slider.max < 0.9  # the demo's scores end well below 1: 0–1 would leave most of the slider idle
    at.number_input(key="diag.min_recall").set_value(0.5).run()
    at.button(key="diag.suggest.3").click().run()  # recall ≥ 50%
    chosen = threshold.policy("recall", min_recall=0.5)
    assert at.session_state["diag.cut"] == threshold.policy_cut(threshold.threshold_frame(runs.predictions(demo_run)), chosen)
    at.button(key="diag.save").click().run()
    tags = mlflow.get_run(demo_run).data.tags
    assert runs.saved_policy(tags) == chosen and float(tags["wb.threshold"]) == at.session_state["diag.cut"]
    assert any("(recall ≥ 50%)" in s.value for s in at.success)
    at.session_state["diag.filters"] = [("channel", "=", "search")]  # other rows: the span follows their scores
    at.run()
    kept = score[runs.predictions(demo_run)["channel"] == "search"]
    assert at.slider(key="diag.threshold").max == math.ceil(kept.max() * 10_000) / 10_000


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


def test_over_time_says_when_the_test_split_is_shorter_than_a_window_plus_the_conversion_window(train_env, demo_run):
    times = runs.predictions(demo_run)["time"]
    days = (times.max().floor("D") - times.min().floor("D")).days + 1  # the small demo's test split: a few days
    at = run(**{"diag.run": demo_run, "diag.tab": "Over time"})
    assert [w.value for w in at.warning] == [
        f"These test rows span {days} days, fewer than one 7-day window plus the 7-day conversion window (14 days): "
        "no window is both inside the data and mature, so every window here is partial, immature or both. "
        "Read the est_* estimates, shorten the windows, or train with a larger test share to see settled windows."
    ]
    assert at.dataframe[-1].value["past_end"].any()
    at.number_input(key="diag.window_days").set_value(1).run()
    at.number_input(key="diag.conversion_days").set_value(0.0).run()
    assert not at.warning and not at.exception


def test_explain_opens_on_the_top_feature_and_the_highest_scored_row(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Explain"})
    shap = runs.explanation(demo_run)
    assert at.selectbox(key="diag.dependence").value == explain.mean_abs(shap)["feature"].iloc[0]
    picks = explain.waterfall_rows(shap, runs.predictions(demo_run), at.session_state["diag.cut"])
    shown = at.selectbox(key="diag.waterfall_pick").options
    assert [o.split(" · ")[0] for o in shown] == [*picks["pick"], "a row key…"]
    assert shown[0] == f"highest score · score {picks['score'].iloc[0]:.4f} · y = {picks['y'].iloc[0]}"
    assert at.selectbox(key="diag.waterfall_pick").value == "highest score"
    assert any(c.value == f"Row key {picks['row'].iloc[0]}" for c in at.caption)
    assert picks["score"].iloc[0] == runs.predictions(demo_run).set_index("row").loc[shap["row"], "score"].max()
    at.selectbox(key="diag.waterfall_pick").set_value("a row key…").run()
    at.number_input(key="diag.waterfall_row").set_value(int(shap["row"].iloc[3])).run()
    assert not at.exception and not at.error


def test_the_slice_finder_says_how_many_slices_it_tested_when_none_is_worse(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Segments"})
    frame = runs.predictions(demo_run)
    found = slice_finder.find_slices(frame, diagnose.segment_columns(frame), min_rows=settings.get("slice_min_rows"))
    assert found.empty and found.attrs["tested"] > 0  # the small demo's test split proves no slice worse
    tested = found.attrs["tested"]
    assert f"None of {tested:,} slices tested does significantly worse than the rest (Benjamini–Hochberg q < 0.05)." in [
        c.value for c in at.caption
    ]

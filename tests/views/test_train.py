"""Train renders, suggests exclusions, builds the spec, launches a real job and lists it."""

import time

import mlflow
import pytest
import yaml
from streamlit.testing.v1 import AppTest

import models
from core import demo, jobs
from core.settings import PROJECT


def run(path="views/train.py"):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_renders_with_suggested_exclusions(train_env):
    at = run()
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="train.dataset").value == "demo"
    assert at.selectbox(key="train.target").value == "converted"
    assert at.selectbox(key="train.time_column").value == "event_time"
    assert at.multiselect(key="train.exclude.demo.converted").value == ["user_id", "site_id", *demo.NOT_FEATURES]
    assert not at.button(key="train.launch").disabled


@pytest.mark.parametrize(("family", "widget"), [("linear", "C"), ("forest", "n_estimators"), ("hashed_sgd", "alpha")])
def test_family_widgets_come_from_the_parameter_table(train_env, family, widget):
    at = run()
    at.selectbox(key="train.family").set_value(family).run()
    assert not at.exception and not at.error
    assert at.number_input(key=f"train.param.{family}.{widget}").value == next(
        p.default for p in models.family(family).PARAMS if p.name == widget
    )


def test_a_leak_blocks_launch_with_the_reason(train_env):
    at = run()
    at.multiselect(key="train.exclude.demo.converted").set_value(["user_id", "site_id", "true_p"]).run()
    assert any("leak (revenue)" in e.value for e in at.error)
    assert at.button(key="train.launch").disabled


def test_a_bad_filter_is_one_line(train_env):
    at = run()
    at.text_input(key="train.filter_text").set_value("country ~ US")
    at.button(key="train.filter_add").click().run()
    assert any("Cannot read filter" in e.value for e in at.error)
    assert not at.exception


@pytest.mark.slow
def test_launch_runs_a_job_that_the_board_lists(train_env):
    at = run()
    at.number_input(key="train.param.gbdt.n_estimators").set_value(30).run()
    at.button(key="train.launch").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state["train.job"]
    deadline = time.monotonic() + 120
    while mlflow.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert mlflow.get_run(run_id).info.status == "FINISHED", jobs.log_tail(run_id)
    at.run()
    board = next(frame.value for frame in at.dataframe if "status" in frame.value.columns)  # not Compare families' table
    assert board.set_index("run_id").loc[run_id, "status"] == "FINISHED"
    spec = yaml.safe_load(jobs.job_dir(run_id).joinpath("spec.yaml").read_text())
    assert spec["model"]["params"]["n_estimators"] == 30
    assert spec["features"]["exclude"] == ["user_id", "site_id", *demo.NOT_FEATURES]


def test_explore_carries_its_segment_into_train(train_env):
    at = run("app.py")
    at.selectbox(key="explore.filter_column").set_value("country").run()
    at.text_input(key="explore.filter_value").set_value("US")
    at.button(key="explore.filter_add").click().run()
    at.button(key="explore.train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["train.filters"] == [("country", "=", "US")]
    assert at.selectbox(key="train.dataset").value == "demo"
    assert at.button(key="train.filter_remove.0").label == "✕ country = US"


def test_search_settings_reach_the_spec_and_defaults_stay_out(train_env):
    at = run()
    at.number_input(key="train.n_trials").set_value(5).run()
    at.number_input(key="train.param.gbdt.num_leaves").set_value(15).run()
    assert not at.exception and not at.error
    spec = yaml.safe_load(at.code[0].value)
    assert spec["search"] == {"n_trials": 5, "timeout_s": None, "metric": "roc_auc"}
    assert spec["model"]["params"] == {"num_leaves": 15}


@pytest.mark.parametrize(("target", "reason"), [("event_time", "has type TIMESTAMP"), ("country", "is not binary")])
def test_a_wrong_target_keeps_a_disabled_launch_and_the_job_board(train_env, target, reason):
    at = run()
    at.selectbox(key="train.target").set_value(target).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error if reason in e.value], [e.value for e in at.error]
    launch = at.button(key="train.launch")
    assert launch.disabled and reason in launch.help
    assert any(reason in c.value for c in at.caption if c.value.startswith("Launch is off"))
    assert "Jobs" in [h.value for h in at.header]


@pytest.mark.slow
def test_launching_a_running_job_again_asks_first(train_env):
    at = run()
    at.selectbox(key="train.family").set_value("forest").run()
    at.number_input(key="train.param.forest.n_estimators").set_value(2000).run()
    at.number_input(key="train.param.forest.min_samples_leaf").set_value(1).run()
    at.button(key="train.launch").click().run()
    first = at.session_state["train.job"]
    launched = []
    try:
        assert not at.warning
        at.button(key="train.launch").click().run()  # the same spec while the first job runs
        assert at.session_state["train.job"] == first and jobs.running() == [first]
        assert any(f"identical job is already running (run {first[:8]})" in w.value for w in at.warning)
        at.button(key="train.launch_anyway").click().run()
        assert not at.exception and not at.error
        launched.append(at.session_state["train.job"])
        assert launched[0] != first and set(jobs.running()) == {first, launched[0]}
        assert not at.warning and not [b for b in at.button if b.key == "train.launch_anyway"]
    finally:
        for run_id in [first, *launched]:
            jobs.cancel(run_id)


def test_the_engine_choice_shows_only_with_a_dask_scheduler(train_env, monkeypatch):
    monkeypatch.delenv("WB_DASK_SCHEDULER", raising=False)
    at = run()
    assert "train.engine" not in [s.key for s in at.selectbox]
    assert yaml.safe_load(at.code[0].value)["engine"] == "local"

    monkeypatch.setenv("WB_DASK_SCHEDULER", "tcp://127.0.0.1:8786")  # not contacted until a dask job runs
    at = run()
    assert at.selectbox(key="train.engine").options == ["local", "dask"]
    at.selectbox(key="train.engine").set_value("dask").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert yaml.safe_load(at.code[0].value)["engine"] == "dask"
    at.selectbox(key="train.family").set_value("linear").run()
    assert any("The dask engine trains gbdt only" in e.value for e in at.error)
    assert at.button(key="train.launch").disabled

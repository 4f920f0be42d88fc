"""Monitor renders without a model, shows a real pass of the small demo (alerts equal alerts.parquet), and launches a pass."""

import io
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import jobs, registry, runs
from core.errors import DataError, RegistryError
from core.monitoring import monitor_pass, summary
from core.settings import PROJECT

MODEL = "monitor-page"
LIMITS = {"WB_MONITOR_MAX_FEATURE_PSI": "0.03"}  # low enough that the small demo's drift fires alerts


@pytest.fixture(scope="module")
def monitored(demo_root, store, demo_run) -> str:
    """demo_run registered as MODEL's champion and one monitoring pass of it over the small demo; the pass's run id."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(demo_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        for name, value in LIMITS.items():
            env.setenv(name, value)
        version = registry.register(demo_run, MODEL)
        registry.promote(MODEL, version, "monitored on the page")
        result = monitor_pass.monitor(MODEL, "champion", "demo", "event_time", log=monitor_pass.Log(io.StringIO()))
    return result["run_id"]


@pytest.fixture
def page_env(train_env, monkeypatch):
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    return train_env


def run(path="views/monitor.py", **state):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table_with(at, columns: list[str]) -> pd.DataFrame:
    """The page's one table with exactly these columns."""
    (found,) = [d.value for d in at.dataframe if list(d.value.columns) == columns]
    return found


def test_without_a_registered_model_the_page_says_where_to_start(train_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    at = run()
    assert [i.value for i in at.info] == ["No registered model yet: register and promote a run on the Registry page, then monitor it here."]


def test_the_latest_pass_shows_its_alerts_timelines_and_drift(page_env, monitored):
    at = run(**{"monitor.model": MODEL, "monitor.pass": monitored})  # other tests add newer passes; the newest opens first (below)
    assert at.selectbox(key="monitor.version").value == "champion"
    assert at.selectbox(key="monitor.dataset").value == "demo" and at.selectbox(key="monitor.time_column").value == "event_time"
    assert at.selectbox(key="monitor.pass").value == monitored
    found = summary.load(monitored)
    assert len(found.alerts), "the low feature PSI limit fires on the small demo"
    shown = table_with(at, list(found.alerts.columns))
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), found.alerts)
    assert [e.value for e in at.error] == [summary.headline(found.alerts)]
    assert f"{len(found.alerts)} alerts: " in summary.headline(found.alerts) and "feature_psi (channel) since 2026-09-" in summary.headline(
        found.alerts
    )
    assert sorted(c.key for c in at.get("plotly_chart")) == sorted([
        "monitor.scores", "monitor.roc_auc", "monitor.calibration", "monitor.volume", "monitor.drift_heatmap",
        "monitor.drift_bars", "monitor.histogram",
    ])  # fmt: skip
    last = found.windows["start"].iloc[-1]
    assert at.selectbox(key="monitor.window").value == last
    pd.testing.assert_frame_equal(table_with(at, summary.DRIFT_COLUMNS), summary.window_drift(found.drift, last))
    assert at.selectbox(key="monitor.feature").value == summary.window_drift(found.drift, last)["feature"].iloc[0]
    assert not at.button(key="monitor.retrain").disabled


def wait_ended(run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.list_jobs().set_index("run_id").loc[run_id, "status"]
        if status not in jobs.ACTIVE:
            return status
        time.sleep(0.5)
    jobs.cancel(run_id)
    raise AssertionError(f"the monitoring job {run_id} did not end in {timeout} s; cancelled")


def test_run_monitoring_pass_starts_a_real_job_and_the_page_opens_its_result(page_env, monitored):
    at = run(**{"monitor.model": MODEL})
    at.number_input(key="monitor.window_days").set_value(3)
    at.button(key="monitor.launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = at.session_state["monitor.job"]
    tags = runs.run_tags(job)
    assert (tags["wb.kind"], tags["wb.model"], tags["wb.dataset"], tags["wb.time_column"]) == ("monitor", MODEL, "demo", "event_time")
    assert job in jobs.list_jobs()["run_id"].tolist()  # on the job board, with its progress
    assert wait_ended(job) == "FINISHED", jobs.log_tail(job)
    at.run()  # the job fragment sees the pass end and opens it
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["monitor.pass"] == job and at.selectbox(key="monitor.pass").value == job
    assert monitor_pass.history(MODEL)["run_id"].iloc[0] == job
    windows = summary.load(job).windows
    assert (windows["end"] - windows["start"]).eq(pd.Timedelta(days=3)).all()
    assert job not in runs.finished()["run_id"].tolist()  # a pass is not a training run for Diagnostics


def test_through_the_app_the_links_open_the_versions_diagnostics_and_registry_entry(page_env, monitored):
    at = run("app.py")
    at.switch_page("views/monitor.py").run()
    at.selectbox(key="monitor.model").set_value(MODEL).run()
    assert not at.exception and at.title[0].value == "Monitor", [e.value for e in at.exception]
    at.button(key="monitor.to_registry").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Registry" and at.selectbox(key="registry.model").value == MODEL

    at.switch_page("views/monitor.py").run()
    at.selectbox(key="monitor.model").set_value(MODEL).run()
    at.button(key="monitor.to_diagnostics").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Diagnostics" and at.selectbox(key="diag.version").value == f"{MODEL}/1"


def test_a_pass_that_fails_says_why_on_the_page(page_env, monitored):
    at = run(**{"monitor.model": MODEL, "monitor.since": pd.Timestamp("2027-01-01").date()})
    at.button(key="monitor.launch").click().run()
    job = at.session_state["monitor.job"]
    assert wait_ended(job) == "FAILED"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No rows of demo since 2027-01-01" in e.value for e in at.error), [e.value for e in at.error]
    offered = at.selectbox(key="monitor.pass").options
    assert any(monitored[:8] in label for label in offered)  # finished passes stay on offer
    assert not any(job[:8] in label for label in offered)  # the failed pass is not offered


def test_launching_an_unknown_alias_or_dataset_is_refused_before_any_job(page_env, monitored):
    before = len(jobs.list_jobs())
    with pytest.raises(RegistryError, match="has no alias 'shadow'"):
        jobs.launch_monitor(MODEL, "demo", "event_time", alias="shadow")
    with pytest.raises(DataError):
        jobs.launch_monitor(MODEL, "no-such-data", "event_time")
    assert len(jobs.list_jobs()) == before


def test_an_unreachable_tracking_server_is_one_clear_error(train_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on the discard port
    at = run()
    assert [e.value for e in at.error if "Cannot reach the MLflow tracking server at http://127.0.0.1:9" in e.value]

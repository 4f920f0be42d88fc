"""In Chromium: a promoted model whose monitoring pass fired an alert; the Monitor page shows it and starts Retrain & promote."""

import io
import re
import time

import pandas as pd
import pytest
from playwright.sync_api import expect

from core import jobs, registry, runs
from core.monitoring import monitor_pass, summary
from tests.e2e.conftest import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = "monitor-browser"
LIMITS = {"WB_MONITOR_MAX_FEATURE_PSI": "0.03"}  # low enough that the small demo's last windows fire feature_psi alerts


def test_from_a_promoted_model_to_an_alert_and_retrain(demo_root, store, demo_run, page, monkeypatch, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    version = registry.register(demo_run, MODEL)
    registry.promote(MODEL, version, "champion to monitor")
    since = summary.first_unfitted_day(runs.predictions(demo_run))  # the page's default Since: the model's test days
    result = monitor_pass.monitor(MODEL, "champion", "demo", "event_time", since=since, log=monitor_pass.Log(io.StringIO()))
    assert result["alerts"], "the low limit fires on the small demo"
    headline = summary.headline(summary.load(result["run_id"]).alerts)

    with served(demo_root, store, tmp_path, **LIMITS) as url:
        page.goto(f"{url}/monitor")
        expect(page.get_by_role("heading", name="Monitor")).to_be_visible()
        page.get_by_role("combobox", name="Model").click()  # other tests' models may live in this store: pick ours
        page.get_by_role("option", name=MODEL, exact=True).click()
        expect(page.get_by_text(headline)).to_be_visible()
        expect(page.get_by_text("Scores per window")).to_be_visible()  # a figure title
        # A new pass from the page: a job with its progress, then the page opens the finished pass by itself.
        page.get_by_role("button", name="Run monitoring pass").click()
        expect(page.get_by_text("Monitoring pass ")).to_be_visible()
        deadline = time.monotonic() + 180
        while len(monitor_pass.history(MODEL)) < 2 or monitor_pass.history(MODEL)["status"].iloc[0] in jobs.ACTIVE:
            assert time.monotonic() < deadline, "the monitoring job did not end in 180 s"
            time.sleep(0.5)
        newest = monitor_pass.history(MODEL).iloc[0]
        assert newest["status"] == "FINISHED", jobs.log_tail(newest["run_id"])
        expect(page.get_by_role("combobox", name="Pass")).to_have_value(re.compile(newest["run_id"][:8]))  # the new pass is shown
        expect(page.get_by_text(headline)).to_be_visible()  # the same rows, the same alerts
        page.set_viewport_size({"width": 1400, "height": 4600})  # Streamlit scrolls inside its own container: a tall window shows it all
        expect(page.get_by_text("reference against current")).to_be_visible()  # the last figure, drawn
        page.screenshot(path=str(tmp_path / "monitor-alert.png"))

        clicked = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=1)
        page.get_by_role("button", name="Retrain & promote").click()
        expect(page.get_by_text("Retrain job")).to_be_visible(timeout=60_000)
        board = jobs.list_jobs()
        started = board[board["name"].fillna("").str.startswith("retrain") & (board["started"] >= clicked)]
        assert len(started) == 1, board.head()
        page.screenshot(path=str(tmp_path / "monitor-retrain.png"))
        if started["status"].iloc[0] in jobs.ACTIVE:  # the whole retrain is another test's subject: stop it here
            jobs.cancel(started["run_id"].iloc[0])

"""The core journey in Chromium: launch a small job on Train, watch it finish, open its diagnostics,
move the threshold and save it."""

import re
import time

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def settled(locator, wanted, timeout_s: float = 60.0) -> str:
    """The one element's text once it satisfies `wanted` (during a rerun Streamlit shows the stale element too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        texts = locator.all_inner_texts()
        if len(texts) == 1 and wanted(texts[0]):
            return texts[0]
        time.sleep(0.2)
    raise AssertionError(f"still {locator.all_inner_texts()} after {timeout_s:.0f} s")


def test_launch_a_job_then_read_and_save_its_threshold(app_url, app_store, page, tmp_path):
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Features and data checks")).to_be_visible()
    rounds = page.get_by_role("spinbutton", name="n_estimators")
    rounds.fill("30")
    rounds.press("Enter")
    launch = page.get_by_role("button", name="Launch")
    expect(launch).to_be_enabled()
    page.wait_for_timeout(1000)
    launch.click()
    board = page.locator('[data-testid="stDataFrame"]:visible').last
    expect(board).to_contain_text("FINISHED", timeout=120_000)
    expect(page.get_by_text(re.compile(r'"status": "FINISHED"'))).to_be_visible(timeout=30_000)
    page.screenshot(path=tmp_path / "train.png", full_page=True)

    page.get_by_role("button", name="Open diagnostics").click()
    expect(page.get_by_role("heading", name="Diagnostics")).to_be_visible()
    threshold_tab = page.get_by_role("tab", name="Threshold")
    threshold_tab.click()
    expect(page.get_by_role("slider").first).to_be_visible(timeout=120_000)
    if threshold_tab.get_attribute("aria-selected") != "true":  # a rerun that ended after the click reset the tabs
        threshold_tab.click()
    counts = page.locator('[data-testid="stMetric"]').filter(has_text="TP / FP").locator('[data-testid="stMetricValue"]')
    before = settled(counts, lambda text: re.fullmatch(r"[\d,]+ / [\d,]+", text) is not None, timeout_s=120)
    assert before != "0 / 0"
    page.get_by_role("slider").first.focus()
    page.keyboard.press("End")  # threshold 1: nothing scores >= 1, so nothing is flagged
    settled(counts, lambda text: text == "0 / 0")
    page.keyboard.press("Home")  # threshold 0: every row is flagged
    flagged = settled(counts, lambda text: text not in ("0 / 0", before))
    assert int(flagged.split(" / ")[0].replace(",", "")) > int(before.split(" / ")[0].replace(",", ""))
    page.get_by_role("button", name="Save threshold").click()
    expect(page.get_by_text(re.compile(r"Saved threshold 0\.0000 on run"))).to_be_visible()
    page.screenshot(path=tmp_path / "diagnostics.png", full_page=True)

    client = MlflowClient(app_store)
    run = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FINISHED'")[0]
    assert run.data.tags["wb.threshold"] == "0.0"

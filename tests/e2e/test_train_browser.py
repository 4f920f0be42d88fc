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


NUMBER = re.compile(r"[\d,]+")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def count(page, label: str):
    """The value of the metric labelled exactly `label` (TP, FP, ...)."""
    labelled = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$"))
    return page.locator('[data-testid="stMetric"]').filter(has=labelled).locator('[data-testid="stMetricValue"]')


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
    expect(page.get_by_role("heading", name="Jobs")).to_be_in_viewport()  # the board sits right under Launch
    page.screenshot(path=tmp_path / "launched.png")
    # The job board (its "duration (s)" column), not a leaderboard's table a test before left in the store.
    board = page.locator('[data-testid="stDataFrame"]:visible').filter(has_text="duration (s)")
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
    tp, fp = count(page, "TP"), count(page, "FP")
    before = settled(tp, NUMBER.fullmatch, timeout_s=120), settled(fp, NUMBER.fullmatch)
    assert before != ("0", "0")
    page.get_by_role("slider").first.focus()
    page.keyboard.press("End")  # the highest cut on the slider (it spans the scores): fewer rows flagged
    fewest = settled(tp, lambda text: number(text) < number(before[0])), settled(fp, NUMBER.fullmatch)
    page.keyboard.press("Home")  # the lowest cut: every row is flagged
    flagged = settled(tp, lambda text: number(text) > number(before[0]))
    assert number(fewest[0]) + number(fewest[1]) < number(before[0]) + number(before[1])
    assert number(flagged) > number(before[0])
    page.get_by_role("button", name="Save threshold").click()
    saved = page.get_by_text(re.compile(r"Saved threshold (\d\.\d{4}) \(fixed by hand\) on run"))
    expect(saved).to_be_visible()
    cut = re.search(r"Saved threshold (\d\.\d{4})", saved.inner_text()).group(1)
    page.screenshot(path=tmp_path / "diagnostics.png", full_page=True)

    client = MlflowClient(app_store)
    run = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FINISHED'")[0]
    assert float(run.data.tags["wb.threshold"]) == float(cut)

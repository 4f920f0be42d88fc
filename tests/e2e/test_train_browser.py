"""Launch a small training job from the Train page in Chromium and watch it finish."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_launch_a_job_and_see_it_finish(app_url, page, tmp_path):
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

"""The Value tab in Chromium: Diagnostics of a value run, the Value tab's decile table and its gain statement."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_value_tab_of_a_value_run(demo_root, store, value_run, browser, page, tmp_path):
    with served(demo_root, store, tmp_path) as url:
        page.goto(f"{url}/diagnostics?run={value_run}")
        expect(page.get_by_role("heading", name="Diagnostics")).to_be_visible()
        page.get_by_role("tab", name="Value").click()
        expect(page.get_by_role("heading", name="Predicted against actual, by decile of expected value")).to_be_visible()
        expect(page.get_by_text(re.compile(r"The top 10% of rows by expected value hold \d+\.\d% of the actual value"))).to_be_visible()
        expect(page.get_by_text("RMSLE", exact=True)).to_be_visible()
        tables = page.locator('[data-testid="stDataFrame"]')
        deciles = tables.filter(has_text="mean_predicted").first
        expect(deciles).to_contain_text("decile")
        expect(deciles).to_contain_text("mean_actual")
        page.set_viewport_size({"width": 1400, "height": 4000})  # the app scrolls inside its own block: a tall window shows it all
        page.wait_for_timeout(1500)
        page.screenshot(path=tmp_path / "value_tab.png")
        assert (tmp_path / "value_tab.png").stat().st_size > 10_000

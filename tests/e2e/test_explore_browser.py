"""The Explore journey in Chromium against a real streamlit server."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_explore_shows_the_segment_table_and_runs_sql(app_url, page, tmp_path):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Conversion by segment")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("20,000")
    table = page.locator('[data-testid="stDataFrame"]:visible').first
    expect(table).to_be_visible()
    expect(table).to_contain_text("social")
    expect(page.locator(".js-plotly-plot").first).to_contain_text("search")
    page.screenshot(path=tmp_path / "explore.png", full_page=True)

    # Split by two columns: the heatmap replaces the bars.
    page.get_by_test_id("stMultiSelect").first.click()
    page.keyboard.type("device")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expect(page.locator(".js-plotly-plot").first).to_contain_text("Rate by channel × device")

    # A refused statement gets a one-line error, not a traceback.
    box = page.get_by_label("Query")
    box.fill("COPY (SELECT 1) TO 'x.csv'")
    box.press("Control+Enter")
    page.get_by_role("button", name="Run query").click()
    expect(page.get_by_text(re.compile("only read-only SELECT queries run here"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=tmp_path / "explore-sql.png", full_page=True)

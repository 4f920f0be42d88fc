"""Compare families in Chromium: launch a 3-family leaderboard on the demo from the Train page and read the ranked table."""

import re

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from core.selection import leaderboard as board

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_compare_three_families_on_the_demo(app_url, app_store, page, tmp_path, monkeypatch):
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Compare families")).to_be_visible()
    rounds = page.get_by_role("spinbutton", name="n_estimators")  # gbdt's; forest has the same parameter and gets it too
    rounds.fill("30")
    rounds.press("Enter")
    compare = page.get_by_role("button", name="Compare", exact=True)
    expect(compare).to_be_enabled()
    page.wait_for_timeout(1000)
    compare.click()
    section = page.locator('[data-testid="stVerticalBlock"]').filter(has=page.get_by_role("heading", name="Compare families")).last
    expect(section.get_by_role("button", name=re.compile(r"^Register best \((gbdt|linear|forest)\)$"))).to_be_visible(timeout=300_000)
    table = section.locator('[data-testid="stDataFrame"]').last
    table.scroll_into_view_if_needed()
    for family in ("gbdt", "linear", "forest"):
        expect(table).to_contain_text(family)
    expect(table).to_contain_text("ROC AUC (mean ± std)")
    page.screenshot(path=tmp_path / "leaderboard.png", full_page=True)
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000

    monkeypatch.setenv("MLFLOW_TRACKING_URI", app_store)
    listed = board.listing()
    assert listed["status"].iloc[0] == "FINISHED"
    stored = board.stored(listed["run_id"].iloc[0])
    assert len(stored) == 3 and sorted(stored["family"]) == ["forest", "gbdt", "linear"]
    assert stored["roc_auc_mean"].is_monotonic_decreasing
    client = MlflowClient(app_store)
    for run_id in stored["run_id"]:
        assert client.get_run(run_id).data.tags["mlflow.parentRunId"] == listed["run_id"].iloc[0]
    text = table.text_content()  # the grid draws on a canvas; its accessible table holds the cells
    assert [text.index(family) for family in stored["family"]] == sorted(text.index(family) for family in stored["family"])  # best first
    assert text.count("/diagnostics?run=") == 3  # a Diagnostics link per family
    assert "best" in text and "± " in text

    gbdt = stored.set_index("family").loc["gbdt", "run_id"]  # the first family trained: not the newest finished run
    page.goto(f"{app_url}/diagnostics?run={gbdt}")  # the table's link
    expect(page.get_by_role("heading", name="Diagnostics")).to_be_visible()
    expect(page.locator("code", has_text=gbdt)).to_be_visible()  # the run line under the picker names the opened run
    expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile(f"^gbdt · demo · .* · {gbdt[:8]}$"))

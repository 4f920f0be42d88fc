"""In Chromium: promote a registered version from the Registry page, see the champion change, retrain and see it change again."""

import io

import pytest
from playwright.sync_api import expect

from core import registry, train
from tests.conftest import DEMO_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_press_promote_and_see_the_champion_change(app_url, app_store, demo_root, page, monkeypatch, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", app_store)  # the server's store
    spec, _ = train.parse_args([*DEMO_ARGS, "--param", "n_estimators=20", "num_leaves=7"])
    run_id = train.train(spec, log=train.Log(io.StringIO()))["run_id"]
    version = registry.register(run_id, "browser-test")

    page.goto(f"{app_url}/registry")
    expect(page.get_by_text("No champion yet")).to_be_visible()
    page.get_by_role("combobox", name="Model").click()  # several models may exist in this store: pick ours
    page.get_by_role("option", name="browser-test").click()
    reason = page.get_by_role("textbox", name="Reason", exact=True).first  # not the "Help for Reason" button
    reason.fill("first champion, from the browser")
    reason.press("Enter")
    page.get_by_text(f"Yes, make version {version} the champion").click()
    page.get_by_role("button", name="Promote", exact=True).click()
    expect(page.get_by_text(f"Champion: version {version}")).to_be_visible()
    assert registry.champion("browser-test") == version
    expect(page.get_by_text("first champion, from the browser")).to_be_attached()  # a history cell (drawn on canvas)
    # One click, one move: the confirmation and the reason are cleared after the move.
    expect(page.get_by_role("checkbox", name=f"Yes, make version {version} the champion")).not_to_be_checked()
    expect(reason).to_have_value("")
    expect(page.get_by_role("button", name="Promote", exact=True)).to_be_disabled()

    # Retrain & promote: when the job ends, the whole page shows the new champion without a reload.
    page.get_by_role("button", name="Retrain & promote").click()
    expect(page.get_by_text(f"Version {version + 1} passed the gate and is the champion")).to_be_visible(timeout=240_000)
    expect(page.get_by_text(f"Champion: version {version + 1}", exact=True)).to_be_visible()  # the caption above the versions
    assert registry.champion("browser-test") == version + 1
    page.screenshot(path=str(tmp_path / "registry-after-retrain.png"), full_page=True)

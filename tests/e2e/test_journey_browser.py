"""The whole loop on an analyst's own file, in Chromium: upload a latin-1 CSV with bracketed and integer columns, train
with the default target, read diagnostics, register, promote, retrain & promote, then score with the champion."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from core.settings import PROJECT
from tests.e2e.conftest import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = "shop-visits"
REGIONS = ["Île-de-France", "Zürich", "São Paulo", "Kraków", "Bretagne"]  # every character is in latin-1


def shop_visits(rows: int = 4000, seed: int = 11) -> pd.DataFrame:
    """A click log as an analyst's export: a date first, accented text, a bracketed price, integer visits, 0/1 `bought`."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, rows)
    channel = rng.choice(["search", "social", "email"], rows, p=[0.5, 0.3, 0.2])
    visits = rng.poisson(3, rows)
    price = np.round(rng.gamma(2.0, 20.0, rows), 2)
    logit = -2.2 + 0.9 * (channel == "search") + 0.25 * visits - 0.015 * price + 0.6 * (region == "Zürich")
    bought = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    day = pd.Timestamp("2026-09-01") + pd.to_timedelta(np.sort(rng.integers(0, 50, rows)), unit="D")
    return pd.DataFrame(
        {"day": day.strftime("%Y-%m-%d"), "région": region, "channel": channel, "price[usd]": price, "visits": visits, "bought": bought}
    )


def _click_nav(page, name: str) -> None:
    """Go to a page through the sidebar, keeping the session (a fresh URL would start a new one)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()


def test_own_file_from_upload_to_scoring_with_the_retrained_champion(browser, tmp_path):
    root, shots = tmp_path / "data", tmp_path / "shots"
    root.mkdir()
    shots.mkdir()
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    export = tmp_path / "shop visits.csv"
    shop_visits().to_csv(export, index=False, encoding="latin-1")
    # A dataset already there, split by `plan` when it opens: the upload must replace its choices, not keep them.
    pd.DataFrame({"plan": ["a", "b"] * 20, "signed_up": [0, 1, 1, 0] * 10}).to_csv(root / "first.csv", index=False)
    # Floors loose enough for a 600-row test split; the gate itself is tested in tests/core.
    gate = {"WB_GATE_MAX_ECE": "0.5", "WB_GATE_MIN_ROC_AUC": "0.55", "WB_SHAP_ROWS": "200"}
    with served(root, store, tmp_path, **gate) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        expect.set_options(timeout=30_000)

        # Explore: upload the export; it opens with `bought` as the target and its own split.
        page.goto(url)
        split_by = page.get_by_test_id("stMultiSelect").first
        expect(split_by).to_contain_text("plan")
        page.get_by_text("Upload a CSV or parquet file").click()
        page.locator('input[type="file"]').set_input_files(export)
        page.get_by_role("button", name="Add dataset").click()
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("shop_visits.csv").first).to_be_visible()
        expect(page.get_by_role("heading", name="Conversion by segment")).to_be_visible()
        expect(sidebar.get_by_role("combobox", name="Target")).to_have_value("bought")
        expect(page.get_by_test_id("stMetricValue").first).to_have_text("4,000")
        expect(split_by).to_contain_text("channel")
        expect(split_by).not_to_contain_text("plan")
        page.screenshot(path=shots / "1-explore.png", full_page=True)

        # Train with the defaults the page chose, on a few rounds.
        _click_nav(page, "Train")
        expect(page.get_by_role("heading", name="Features and data checks")).to_be_visible()
        expect(page.get_by_role("combobox", name="Dataset")).to_have_value("shop_visits.csv")  # as Explore left it
        expect(page.get_by_role("combobox", name="Target")).to_have_value("bought")
        rounds = page.get_by_role("spinbutton", name="n_estimators")
        rounds.fill("60")
        rounds.press("Enter")
        launch = page.get_by_role("button", name="Launch", exact=True)
        expect(launch).to_be_enabled()
        page.wait_for_timeout(1000)
        launch.click()
        board = page.locator('[data-testid="stDataFrame"]:visible').filter(has_text="progress")
        expect(board).to_contain_text("FINISHED", timeout=180_000)
        page.screenshot(path=shots / "2-train.png", full_page=True)

        # Diagnostics: the names the analyst gave, then save the max-profit threshold.
        page.get_by_role("button", name="Open diagnostics").click()
        expect(page.get_by_role("heading", name="Diagnostics")).to_be_visible()
        expect(page.get_by_text("gbdt · shop_visits.csv").first).to_be_visible()
        page.get_by_role("tab", name="Explain").click()
        expect(page.get_by_text("price[usd]").first).to_be_attached(timeout=120_000)
        page.screenshot(path=shots / "3-explain.png", full_page=True)
        page.get_by_role("tab", name="Threshold").click()
        expect(page.get_by_role("slider").first).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Save threshold").click()
        expect(page.get_by_text(re.compile(r"Saved threshold [\d.]+ \(max profit"))).to_be_visible()  # the cut it opened on
        page.screenshot(path=shots / "4-threshold.png", full_page=True)

        # Registry: register, promote, then retrain & promote.
        _click_nav(page, "Registry")
        expect(page.get_by_role("heading", name="Registry")).to_be_visible()
        name = page.get_by_role("textbox", name="Registered model", exact=True)
        name.fill(MODEL)
        name.press("Enter")
        page.get_by_role("button", name="Register", exact=True).click()
        expect(page.get_by_text("No champion yet")).to_be_visible()
        reason = page.get_by_role("textbox", name="Reason", exact=True).first
        reason.fill("first model on the shop export")
        reason.press("Enter")
        page.get_by_text("Yes, make version 1 the champion").click()
        page.get_by_role("button", name="Promote", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Champion: version 1"))).to_be_visible()
        expect(reason).to_have_value("")  # one click is one move
        page.get_by_role("button", name="Retrain & promote").click()
        expect(page.get_by_text(re.compile(r"^Champion: version 2"))).to_be_visible(timeout=240_000)
        expect(page.get_by_text(re.compile(r"Version 2 passed the gate .* by max profit"))).to_be_visible()
        page.screenshot(path=shots / "5-registry.png", full_page=True)
        context.close()

    # A scheduler scores the raw export with the retrained champion at its re-derived cut.
    out = tmp_path / "scored.parquet"
    env = {"WB_DATA_ROOT": str(root), "MLFLOW_TRACKING_URI": store, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "core.score", "--model", f"models:/{MODEL}@champion", "--data", "shop_visits.csv", "--out", str(out)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["version"], result["rows"]) == (2, 4000)
    scored = pd.read_parquet(out)
    assert len(scored) == 4000 and {"score", "decision"} <= set(scored.columns)
    version = MlflowClient(store).get_model_version(MODEL, "2")
    assert float(version.tags["wb.threshold"]) == pytest.approx(result["threshold"])
    assert version.tags["wb.threshold_policy"]

"""Four analysts at once on one `streamlit run`: each explores, runs SQL, uploads, reads a run's threshold and
launches a job, at the same moment as the others. No session sees an exception box or another's state, the job cap
holds, and views answer within a measured bound.

Playwright's sync objects belong to the thread that made them, so one thread drives the four pages: each step is
sent to all four before any is awaited, and the server (a thread per session) handles the four reruns at once. Each
page times itself: from its last click or key press to the first moment its own answer is on screen.
"""

from __future__ import annotations

import io
import re
import statistics
import threading
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from core import data, demo, jobs, runs, train
from core.diagnostics import diagnose, threshold
from tests.conftest import DEMO_ARGS
from tests.e2e.conftest import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSIONS = 4
MAX_JOBS = 2
COUNTRIES = ["US", "GB", "DE", "FR"]  # each session's own filter
SPLITS = ["device", "os", "placement", "country"]  # each session's own second split
ENDS = ["Home", "End", "Home", "End"]  # each session's own threshold: the lowest cut or the highest
# Seconds from an interaction to its answer on screen for the cached views (split, filter, Threshold tab and slider),
# four sessions at once on 2 cores. Measured while other work loaded the machine (load average 4-9): median 1.2 s,
# worst 2.3 s (a slider move); the bar of 2 s holds for the median, the worst gets a margin. One clean-clone
# CI run saw a single 5.85 s Threshold-tab click (its other three 1.6-2.0 s, median of all 1.85 s): one stall of a
# shared 2-core machine, not a slow path (quiet reruns: median 1.04 s, worst 2.04 s), so the worst bound is 8 s.
MEDIAN_BOUND_S = 2.0
WORST_BOUND_S = 8.0
COLD_BOUND_S = 30.0  # four first visits to a fresh server at once (imports, first scans): measured 13-19 s

# Installed in a page before a step: notes the time of each click or key press until `found()` holds, then the time
# it first holds (checked every 25 ms). `want` is ["metric", label, exact value or null for any count] or ["css", selector, text].
WATCH = """([kind, key, text]) => {
    const texts = (css) => [...document.querySelectorAll(css)].map((e) => e.textContent);
    const found = () => {
        if (kind === "metric") {
            const values = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .filter((m) => m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === key)
                .map((m) => m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim());
            return values.length === 1 && (text === null ? /^[0-9,]+$/.test(values[0]) : values[0] === text);
        }
        return texts(key).filter((t) => t.includes(text)).length === 1;
    };
    const w = (window.__watch = { t0: null, t1: null });
    const mark = () => { if (w.t1 === null) w.t0 = performance.now(); };
    for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, mark, true);
    const timer = setInterval(() => {
        if (w.t0 !== null && found()) { w.t1 = performance.now(); clearInterval(timer); }
    }, 25);
}"""

SEEN = """([kind, key, text]) => [window.__watch.t0, kind === "metric"
    ? [...document.querySelectorAll('[data-testid="stMetric"]')].map((m) => m.innerText)
    : [...document.querySelectorAll(key)].map((e) => e.textContent.slice(0, 300))]"""


def step(name: str, pages, act, want, timeout_s: float = 60.0) -> list[float]:
    """Watches `want(i)` on every page, sends `act(page, i)` to each, waits for all; seconds per session."""
    for i, page in enumerate(pages):
        page.evaluate(WATCH, list(want(i)))
    for i, page in enumerate(pages):
        act(page, i)
    deadline = time.monotonic() + timeout_s
    while not all(page.evaluate("window.__watch.t1 !== null") for page in pages):
        if time.monotonic() > deadline:
            stuck = [i for i, page in enumerate(pages) if page.evaluate("window.__watch.t1 === null")]
            seen = [pages[i].evaluate(SEEN, list(want(i))) for i in stuck]
            raise AssertionError(f"{name}: sessions {stuck} did not show {[want(i) for i in stuck]} in {timeout_s:.0f} s: {seen}")
        time.sleep(0.1)
    assert [page.get_by_test_id("stException").count() for page in pages] == [0] * len(pages), name
    seconds = [round(page.evaluate("(window.__watch.t1 - window.__watch.t0) / 1000"), 2) for page in pages]
    print(f"{name:26s} {seconds}", flush=True)
    return seconds


def first_visit(name: str, pages, path: str, ready) -> list[float]:
    """Opens `path` in every page at once; seconds from each one's navigation to `ready(page)`."""
    began = []
    for page in pages:
        began.append(time.monotonic())
        page.goto(path, wait_until="commit")
    took: dict[int, float] = {}
    deadline = time.monotonic() + 90
    while len(took) < len(pages) and time.monotonic() < deadline:
        took.update({i: time.monotonic() - began[i] for i, page in enumerate(pages) if i not in took and ready(page)})
        time.sleep(0.1)
    assert len(took) == len(pages), f"{name}: sessions {sorted(set(range(len(pages))) - set(took))} never showed"
    seconds = [round(took[i], 2) for i in range(len(pages))]
    print(f"{name:26s} {seconds}", flush=True)
    return seconds


def metric(page, label: str):
    labelled = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$"))
    return page.locator('[data-testid="stMetric"]').filter(has=labelled).locator('[data-testid="stMetricValue"]')


def pick(page, label: str, option: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("combobox", name=label, exact=True).click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")


class JobWatch(threading.Thread):
    """Counts the store's running jobs every 0.2 s; `most` is the highest count seen."""

    def __init__(self, store: str):
        super().__init__(daemon=True)
        self.client, self.most, self.done = MlflowClient(store), 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            ids = [e.experiment_id for e in self.client.search_experiments()]
            active = [r for r in self.client.search_runs(ids) if r.info.status in jobs.ACTIVE] if ids else []
            self.most = max(self.most, len(active))
            self.done.wait(0.2)


@pytest.fixture
def load_env(tmp_path, monkeypatch):
    """Its own data root (the small demo) and store holding one finished run; the env points at both."""
    root = tmp_path / "data"
    demo.write(demo.generate(20_000, 21, seed=3), root / "demo")
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    for name, value in {"WB_DATA_ROOT": str(root), "MLFLOW_TRACKING_URI": store, "WB_SHAP_ROWS": "100"}.items():
        monkeypatch.setenv(name, value)
    spec, _ = train.parse_args([*DEMO_ARGS, "--param", "n_estimators=20", "num_leaves=7", "--calibration", "none"])
    return root, store, train.train(spec, log=train.Log(io.StringIO()))["run_id"]


def test_four_sessions_explore_upload_launch_and_move_thresholds_at_once(browser, load_env, tmp_path):
    root, store, run_id = load_env
    con = data.connect(root)
    rows_for = [int(data.segment_rates(con, "demo", "converted", ["channel"], [("country", "=", c)])["rows"].sum()) for c in COUNTRIES]
    frame = diagnose.prepared(runs.predictions(run_id))
    top = threshold.slider_span(frame["score"].to_numpy(), 0.0001)[1]
    tp_at = {"Home": int(frame["y"].sum()), "End": int(((frame["y"] == 1) & (frame["score"] >= top)).sum())}
    warm, watch = {}, JobWatch(store)
    expect.set_options(timeout=60_000)
    with served(root, store, tmp_path, WB_MAX_JOBS=str(MAX_JOBS), WB_SHAP_ROWS="100") as url:
        contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(SESSIONS)]
        pages = [context.new_page() for context in contexts]
        try:
            cold = first_visit("explore, first visit", pages, url, lambda p: metric(p, "Rows").all_inner_texts() == ["20,000"])

            # Explore: each session its own second split, its own filter, then back (every answer warm by then).
            warm["split by"] = step(
                "split by",
                pages,
                lambda p, i: (p.get_by_test_id("stMultiSelect").first.click(), p.keyboard.type(SPLITS[i]), p.keyboard.press("Enter")),
                lambda i: ("css", ".js-plotly-plot", f"Rate by channel × {SPLITS[i]}"),
            )
            for i, page in enumerate(pages):
                page.keyboard.press("Escape")
                pick(page, "Column", "country")
                value = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Value", exact=True)
                value.fill(COUNTRIES[i])
                value.press("Enter")
            for i, page in enumerate(pages):
                expect(page.get_by_test_id("stSidebar").get_by_role("textbox", name="Value", exact=True)).to_have_value(COUNTRIES[i])
            warm["add filter"] = step(
                "add filter",
                pages,
                lambda p, i: p.get_by_role("button", name="Add filter").click(),
                lambda i: ("metric", "Rows", f"{rows_for[i]:,}"),
            )
            warm["remove filter"] = step(
                "remove filter",
                pages,
                lambda p, i: p.get_by_role("button", name=f"✕ country = {COUNTRIES[i]}").click(),
                lambda i: ("metric", "Rows", "20,000"),
            )
            for i, page in enumerate(pages):
                box = page.get_by_label("Query")
                box.fill(f"SELECT 'session-{i}' AS tag, count(*) AS n FROM \"demo\"")
                box.press("Control+Enter")
            step(  # never cached: each query registers the views and runs
                "sql",
                pages,
                lambda p, i: p.get_by_role("button", name="Run query").click(),
                lambda i: ("css", '[data-testid="stDataFrame"]', f"session-{i}"),
            )
            for i, page in enumerate(pages):  # each session still shows only its own answers
                for n in set(range(SESSIONS)) - {i}:
                    expect(page.get_by_test_id("stDataFrame").filter(has_text=f"session-{n}")).to_have_count(0)
                    expect(page.locator(".js-plotly-plot").filter(has_text=f"Rate by channel × {SPLITS[n]}")).to_have_count(0)
                expect(page.locator(".js-plotly-plot").filter(has_text=f"Rate by channel × {SPLITS[i]}")).to_have_count(1)

            # Upload: each session a small CSV of its own name, opened in that session only.
            for i, page in enumerate(pages):
                upload = tmp_path / f"load_{i}.csv"
                pd.DataFrame({"x": range(30 + i), "converted": [n % 2 for n in range(30 + i)]}).to_csv(upload, index=False)
                page.get_by_text("Upload a CSV or parquet file").click()
                page.locator('input[type="file"]').set_input_files(upload)
                expect(page.get_by_role("button", name="Add dataset")).to_be_enabled()
            step(
                "upload",
                pages,
                lambda p, i: p.get_by_role("button", name="Add dataset").click(),
                lambda i: ("css", '[data-testid="stCaptionContainer"]', f"load_{i}.csv · {30 + i} rows"),
            )
            for i, page in enumerate(pages):
                expect(page.get_by_text(f"Added load_{i}.csv ({30 + i} rows)")).to_be_visible()
            assert sorted(p.name for p in root.glob("load_*.csv")) == [f"load_{i}.csv" for i in range(SESSIONS)]

            # Diagnostics of a finished run: the Threshold tab, then each session's own cut.
            first_visit("diagnostics, first visit", pages, f"{url}/diagnostics?run={run_id}", lambda p: p.get_by_role("tab").count() > 3)
            warm["threshold tab"] = step(
                "threshold tab", pages, lambda p, i: p.get_by_role("tab", name="Threshold").click(), lambda i: ("metric", "TP", None)
            )
            assert all(metric(page, "TP").inner_text() not in (f"{tp_at['Home']:,}", f"{tp_at['End']:,}") for page in pages)
            warm["threshold move"] = step(
                "threshold move",
                pages,
                lambda p, i: (p.get_by_role("slider").first.focus(), p.keyboard.press(ENDS[i])),
                lambda i: ("metric", "TP", f"{tp_at[ENDS[i]]:,}"),
            )
            for i, page in enumerate(pages):  # each slider stays where its own session put it
                slider = page.get_by_test_id("stSlider").filter(has_text="Threshold: flag rows")
                cut = float(slider.get_by_test_id("stSliderThumbValue").inner_text())
                assert cut == (top if ENDS[i] == "End" else threshold.slider_span(frame["score"].to_numpy(), 0.0001)[0])
                expect(metric(page, "TP")).to_have_text(f"{tp_at[ENDS[i]]:,}")

            # Train: four launches at once, each its own spec (seed); WB_MAX_JOBS lets two run, the others are told.
            for i, page in enumerate(pages):
                page.goto(f"{url}/train")
                for label, value in (("n_estimators", "10"), ("Seed", str(i + 1))):
                    box = page.get_by_role("spinbutton", name=label)
                    box.fill(value)
                    box.press("Enter")
            for page in pages:
                expect(page.get_by_role("button", name="Launch", exact=True)).to_be_enabled()
            pages[0].wait_for_timeout(1000)  # the spec's last rerun
            watch.start()
            refused = f"jobs are running (WB_MAX_JOBS={MAX_JOBS})"
            for page in pages:
                page.get_by_role("button", name="Launch", exact=True).click()
            for page in pages:
                expect(page.get_by_text(re.compile(f"Launched run|{re.escape(refused)}")).first).to_be_visible()
            outcomes = sorted("refused" if page.get_by_text(refused).count() else "launched" for page in pages)
            assert outcomes == ["launched"] * MAX_JOBS + ["refused"] * (SESSIONS - MAX_JOBS)
            time.sleep(3)  # the launched jobs run meanwhile; the watch keeps counting
            assert [page.get_by_test_id("stException").count() for page in pages] == [0] * SESSIONS
        finally:
            watch.done.set()
            for run in jobs.running():
                jobs.cancel(run)
            for context in contexts:
                context.close()
    assert watch.most == MAX_JOBS, f"{watch.most} jobs ran at once (WB_MAX_JOBS={MAX_JOBS})"
    every = [s for seconds in warm.values() for s in seconds]
    print(f"cached views: median {statistics.median(every):.2f} s, worst {max(every):.2f} s; first visits {cold}")
    assert statistics.median(every) < MEDIAN_BOUND_S and max(every) < WORST_BOUND_S, warm
    assert max(cold) < COLD_BOUND_S

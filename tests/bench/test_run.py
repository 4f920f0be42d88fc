"""`python -m bench.run --quick`: the shape of results.json (paths, sizes, sides, medians, ratios, exponents, targets), not the timings."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
PATHS = ["explore", "train", "diagnostics", "report", "score"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[dict, str]:
    """The quick benchmark run once, in a subprocess, on demo data of its own: (results.json, stdout)."""
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "results.json"
    argv = [sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--data-dir", str(folder / "data")]
    done = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text()), done.stdout


def completed_sizes(results: dict):
    """(path, size entry) for every size of every path."""
    return [(path, size) for path, entry in results["paths"].items() for size in entry["sizes"]]


def test_results_name_the_machine_and_the_mode(quick):
    results, _ = quick
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["ram_gb"] > 0 and machine["cpu"] and machine["python"].startswith("3.")
    assert results["mode"] == "quick" and results["repeat"] >= 3 and results["seconds"] > 0


def test_one_entry_per_path_every_size_completed(quick):
    results, stdout = quick
    assert list(results["paths"]) == PATHS
    for path, size in completed_sizes(results):
        assert "error" not in size, (path, size)
        assert set(results["paths"][path]["sides"]) <= set(size), path
    assert all(results["paths"][p]["sizes"] for p in PATHS)
    assert "RSS ratio" in stdout and all(p in stdout for p in PATHS)


def test_each_side_has_positive_repeats_and_their_medians(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        for side in results["paths"][path]["sides"]:
            measured = size[side]
            assert len(measured["seconds"]) == len(measured["rss_mb"]) == results["repeat"], (path, side)
            assert all(v > 0 for v in measured["seconds"] + measured["rss_mb"]), (path, side, measured)
            assert measured["median_s"] == statistics.median(measured["seconds"])
            assert measured["median_rss_mb"] == statistics.median(measured["rss_mb"])


def test_ratios_are_ours_over_raw_medians(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        ours, raw = size["ours"], size["raw"]
        assert size["ratio"] == pytest.approx(ours["median_s"] / raw["median_s"]), path
        assert size["rss_ratio"] == pytest.approx(ours["median_rss_mb"] / raw["median_rss_mb"]), path
        assert size["throughput_ratio"] == pytest.approx(raw["median_s"] / ours["median_s"]), path
    explore = results["paths"]["explore"]["sizes"][0]
    assert explore["pandas_over_ours"] == pytest.approx(explore["pandas"]["median_s"] / explore["ours"]["median_s"])


def test_both_sides_did_the_same_work(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        if "agree" in size:
            assert size["agree"]["equal"], (path, size["agree"])


def test_growth_exponents_where_two_sizes_ran(quick):
    results, _ = quick
    for path, entry in results["paths"].items():
        two = len({s["rows"] for s in entry["sizes"]}) >= 2
        for side in ("ours", "raw"):
            fitted = entry["growth"][side]
            assert set(fitted) == {"k", "m"}
            assert all(isinstance(v, float) for v in fitted.values()) if two else fitted == {"k": None, "m": None}, (path, side)
    assert len(results["paths"]["explore"]["sizes"]) >= 2  # --quick still fits one path's exponents


def test_every_target_is_read_with_its_verdict(quick):
    results, _ = quick
    names = {t["name"] for t in results["targets"]}
    assert len(names) == len(results["targets"]) >= 7 + len(PATHS)
    for target in results["targets"]:
        assert {"name", "path", "value", "op", "limit", "met"} <= set(target)
        if target["value"] is not None and target.get("applies", True):
            assert target["met"] in (True, False), target
    assert all(t["value"] is not None for t in results["targets"] if "growth" not in t["name"])

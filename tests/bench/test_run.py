"""`python -m bench.run --quick`: the shape of results.json (paths, sizes, sides, medians, ratios, exponents, targets), not the timings;
and bench.summary's arithmetic on hand-made numbers."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import summary

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


@pytest.mark.slow
def test_results_name_the_machine_and_the_mode(quick):
    results, _ = quick
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["ram_gb"] > 0 and machine["cpu"] and machine["python"].startswith("3.")
    assert results["mode"] == "quick" and results["repeat"] >= 3 and results["seconds"] > 0


@pytest.mark.slow
def test_one_entry_per_path_every_size_completed(quick):
    results, stdout = quick
    assert list(results["paths"]) == PATHS
    for path, size in completed_sizes(results):
        assert "error" not in size, (path, size)
        assert set(results["paths"][path]["sides"]) <= set(size), path
    assert all(results["paths"][p]["sizes"] for p in PATHS)
    assert "RSS ratio" in stdout and all(p in stdout for p in PATHS)


@pytest.mark.slow
def test_each_side_has_positive_repeats_and_their_medians(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        for side in results["paths"][path]["sides"]:
            measured = size[side]
            assert len(measured["seconds"]) == len(measured["rss_mb"]) == results["repeat"], (path, side)
            assert all(v > 0 for v in measured["seconds"] + measured["rss_mb"]), (path, side, measured)
            assert measured["median_s"] == statistics.median(measured["seconds"])
            assert measured["median_rss_mb"] == statistics.median(measured["rss_mb"])


@pytest.mark.slow
def test_ratios_are_ours_over_raw_medians(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        ours, raw = size["ours"], size["raw"]
        assert size["ratio"] == pytest.approx(ours["median_s"] / raw["median_s"]), path
        assert size["rss_ratio"] == pytest.approx(ours["median_rss_mb"] / raw["median_rss_mb"]), path
        assert size["throughput_ratio"] == pytest.approx(raw["median_s"] / ours["median_s"]), path
    explore = results["paths"]["explore"]["sizes"][0]
    assert explore["pandas_over_ours"] == pytest.approx(explore["pandas"]["median_s"] / explore["ours"]["median_s"])


@pytest.mark.slow
def test_both_sides_did_the_same_work(quick):
    results, _ = quick
    for path, size in completed_sizes(results):
        if "agree" in size:
            assert size["agree"]["equal"], (path, size["agree"])


@pytest.mark.slow
def test_growth_exponents_where_two_sizes_ran(quick):
    results, _ = quick
    for path, entry in results["paths"].items():
        two = len({s["rows"] for s in entry["sizes"]}) >= 2
        for side in ("ours", "raw"):
            fitted = entry["growth"][side]
            assert set(fitted) == {"k", "m"}
            assert all(isinstance(v, float) for v in fitted.values()) if two else fitted == {"k": None, "m": None}, (path, side)
    assert len(results["paths"]["explore"]["sizes"]) >= 2  # --quick still fits one path's exponents


@pytest.mark.slow
def test_every_target_is_read_with_its_verdict(quick):
    results, _ = quick
    names = {t["name"] for t in results["targets"]}
    assert len(names) == len(results["targets"]) >= 7 + len(PATHS)
    for target in results["targets"]:
        assert {"name", "path", "value", "op", "limit", "met"} <= set(target)
        if target["value"] is not None and target.get("applies", True):
            assert target["met"] in (True, False), target
    assert all(t["value"] is not None for t in results["targets"] if "growth" not in t["name"])


def test_slope_is_the_log_log_least_squares_exponent():
    assert summary.slope([1_000, 4_000, 16_000], [2.0, 8.0, 32.0]) == pytest.approx(1.0)
    assert summary.slope([1_000, 10_000], [1.0, 100.0]) == pytest.approx(2.0)
    assert summary.slope([1_000, 1_000], [1.0, 3.0]) is None  # one size: no exponent


def test_size_summary_ratios_and_growth_skip_failed_sizes():
    sizes = [
        summary.size_summary(10, {"ours": summary.side_summary([3.0, 1.0, 2.0], [100, 300, 200]),
                                  "raw": summary.side_summary([1.0, 1.0, 4.0], [100, 100, 100])}),
        {"rows": 100, "error": "failed"},
        summary.size_summary(1000, {"ours": summary.side_summary([200.0] * 3, [200] * 3), "raw": summary.side_summary([10.0] * 3, [100] * 3)}),
    ]  # fmt: skip
    assert (sizes[0]["ratio"], sizes[0]["rss_ratio"], sizes[0]["throughput_ratio"]) == (2.0, 2.0, 0.5)
    fitted = summary.growth(sizes, ("ours", "raw"))
    assert fitted["ours"]["k"] == pytest.approx(1.0) and fitted["ours"]["m"] == pytest.approx(0.0)
    assert fitted["raw"]["k"] == pytest.approx(0.5)
    found = {t["name"]: t for t in summary.targets({"train": {"sizes": sizes, "growth": fitted}})}
    wall = found["training / raw lightgbm.train, wall"]
    assert (wall["rows"], wall["value"], wall["met"]) == (1000, 20.0, False)  # the size nearest 1M rows
    assert found["train: growth exponent k of ours where raw's is <= 1.1"]["met"] is True
    assert "core.report seconds" not in found  # the targets of paths not run are left out
    unmeasured = summary.targets({"report": {"sizes": [{"rows": 10, "error": "failed"}], "growth": summary.growth([], ("ours", "raw"))}})
    assert [(t["value"], t["met"]) for t in unmeasured] == [(None, None), (None, None)]

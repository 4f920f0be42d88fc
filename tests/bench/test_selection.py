"""`python -m bench.selection --quick`: the shape of its JSON (parts, per-run times and RSS, ratios, targets), not the timings;
and the stage arithmetic on hand-made progress lines."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import selection

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[dict, str]:
    """The quick benchmark run once, in a subprocess, on demo data of its own: (selection JSON, stdout)."""
    folder = tmp_path_factory.mktemp("bench_selection")
    out = folder / "selection.json"
    argv = [sys.executable, "-m", "bench.selection", "--quick", "--out", str(out), "--data-dir", str(folder / "data")]
    done = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text()), done.stdout


@pytest.mark.slow
def test_cv_part_times_both_jobs_and_their_stages(quick):
    results, _ = quick
    cv = results["parts"]["cv"]
    assert cv["rows"] == selection.QUICK["cv_rows"] and cv["folds"] == 5
    for key in (
        "cv_stage_s",
        "fit_stage_s",
        "holdout_fit_stage_s",
        "holdout_job_s",
        "cv_job_s",
        "holdout_rss_mb",
        "cv_rss_mb",
        "cv_over_fit_each",
    ):
        assert len(cv[key]) == 1 and all(v > 0 for v in cv[key]), key
    assert cv["cv_over_fit"] == statistics.median(cv["cv_over_fit_each"])
    assert cv["cv_rss_ratio"] == pytest.approx(cv["cv_rss_mb"][0] / cv["holdout_rss_mb"][0], abs=0.01)
    assert 0.5 < cv["cv_roc_auc_mean"] <= 1 and cv["cv_roc_auc_std"] > 0 and 0.5 < cv["test_roc_auc"] <= 1


@pytest.mark.slow
def test_board_part_compares_one_process_with_the_sum_of_its_members(quick):
    results, _ = quick
    board = results["parts"]["board"]
    assert set(board["members_s"]) == set(selection.FAMILIES)
    total = sum(board["members_s"][f][0] for f in selection.FAMILIES)
    assert board["members_sum_s"][0] == pytest.approx(total, abs=0.2)
    assert board["board_over_sum"] == pytest.approx(board["board_s"][0] / board["members_sum_s"][0], abs=0.02)
    assert {row["family"] for row in board["leaderboard"]} == set(selection.FAMILIES)
    for row in board["leaderboard"]:
        assert {"family", "run_id", "roc_auc_mean", "roc_auc_std", "p_value_vs_best"} <= set(row)
    # Same spec, same folds: the leaderboard's CV means are its members' own.
    assert board["max_cv_difference_board_vs_members"] == pytest.approx(0, abs=1e-9)


@pytest.mark.slow
def test_flaml_part_reports_both_sides_or_why_it_was_skipped(quick):
    results, _ = quick
    flaml = results["parts"]["flaml"]
    if "skipped" in flaml:  # no .venv-bench (a fresh clone): the reason names how to make it
        assert "make bench-selection" in flaml["skipped"]
        return
    theirs, ours = flaml["flaml"], flaml["ours"]
    assert theirs["versions"]["flaml"] == "2.7.0" and theirs["rows"] == flaml["exported_rows"]
    for side in (theirs, ours):
        assert 0.5 < side["best_cv_roc_auc"] <= 1 and 0.5 < side["test_roc_auc"] <= 1 and side["wall_s"] > 0
    assert flaml["cv_gap"] == pytest.approx(theirs["best_cv_roc_auc"] - ours["best_cv_roc_auc"], abs=1e-5)
    assert flaml["search_s_per_family"] == pytest.approx(selection.QUICK["budget"] / 3, abs=0.05)


@pytest.mark.slow
def test_every_target_is_listed_with_its_verdict(quick):
    results, stdout = quick
    assert [t["limit"] for t in results["targets"]] == list(selection.LIMITS.values())
    for target in results["targets"]:
        assert target["met"] is None if target["value"] is None else target["met"] == (target["value"] <= target["limit"])
    assert results["mode"] == "quick" and results["machine"]["cores"] >= 1 and "target <=" in stdout


def test_cv_stages_read_from_progress_lines():
    stderr = "\n".join(
        [
            "[    1.0s] loaded 100 rows × 3 features from demo",
            "[    2.0s] CV fold 1/2 (kfold): 50 training rows, 50 validation rows",
            "[    2.5s] fitting gbdt on 40 rows",
            "[    4.0s] CV fold 1/2: ROC AUC 0.7000, log loss 0.3000",
            "[    4.1s] CV fold 2/2 (kfold): 50 training rows, 50 validation rows",
            "[    4.2s] fitting gbdt on 40 rows",
            "[    6.0s] CV fold 2/2: ROC AUC 0.7100, log loss 0.3000",
            "[    6.5s] fitting gbdt on 70 rows",
            "[    7.5s] calibrated (isotonic) on 15 valid rows",
            "[    8.5s] test ROC AUC 0.7000, ECE 0.0100",
        ]
    )
    assert selection.cv_stages(stderr, folds=2) == {"cv_s": 4.0, "fit_s": 2.0, "ratio": 2.0}


def test_targets_hold_at_the_limit_and_are_unmeasured_without_their_part():
    result = {"parts": {"cv": {"cv_over_fit": 5.5, "cv_rss_ratio": 1.6}}}
    found = {t["name"]: t for t in selection.targets(result)}
    assert found["5-fold CV / one holdout fit (same run)"]["met"] is True
    assert found["peak RSS CV job / holdout job"]["met"] is False
    assert found["leaderboard / sum of its members"]["met"] is None


def test_bench_requirements_pin_what_they_share_with_the_runtime_as_it_does():
    def pins(name: str) -> dict[str, str]:
        lines = (PROJECT / name).read_text().splitlines()
        found = [line.split("#")[0].strip() for line in lines if "==" in line.split("#")[0]]
        return {spec.split("==")[0].split("[")[0].lower(): spec.split("==")[1] for spec in found}

    bench, runtime = pins("requirements-bench.txt"), pins("requirements.txt")
    assert bench.pop("flaml") == "2.7.0" and "flaml" not in runtime
    assert bench and all(runtime[name] == version for name, version in bench.items())


def test_family_seconds_split_one_leaderboard_job_by_family():
    stderr = "\n".join(
        [
            "[    1.5s] reading demo once for 3 families",
            "[    3.0s] training gbdt (1 of 3) as run a1",
            "[    9.0s] gbdt: model logged",
            "[   10.0s] training linear (2 of 3) as run b2",
            "[   14.5s] training forest (3 of 3) as run c3",
            "[   30.0s] ranking by roc_auc (kfold)",
        ]
    )
    assert selection.family_seconds(stderr) == {"read": 3.0, "gbdt": 7.0, "linear": 4.5, "forest": 15.5}

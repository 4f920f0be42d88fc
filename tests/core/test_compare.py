"""Paired comparison and the gate: exact values against scikit-learn, the bootstrap against a per-resample loop."""

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from core import compare, runs
from core.diagnostics import metrics
from core.diagnostics.metrics import EPS
from core.errors import DataError

# Twelve rows with ties inside each score and across labels.
Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1])
A = np.array([0.9, 0.8, 0.8, 0.3, 0.3, 0.6, 0.1, 0.2, 0.7, 0.45, 0.05, 0.3])
B = np.array([0.7, 0.7, 0.5, 0.2, 0.4, 0.4, 0.2, 0.1, 0.9, 0.6, 0.0, 0.35])


def _sklearn(y, score, weight=None):
    score = np.clip(score, EPS, 1 - EPS)
    bins = np.minimum((score * 10).astype(int), 9)
    w = np.ones(len(y)) if weight is None else weight
    gap = np.abs(np.bincount(bins, w * y, 10) - np.bincount(bins, w * score, 10)).sum() / w.sum()
    both = (w * y).sum() > 0 and (w * (1 - y)).sum() > 0  # else the AUCs are undefined: that resample leaves their intervals
    return {
        "roc_auc": roc_auc_score(y, score, sample_weight=weight) if both else np.nan,
        "pr_auc": average_precision_score(y, score, sample_weight=weight) if both else np.nan,
        "log_loss": log_loss(y, score, sample_weight=weight, labels=[0, 1]),
        "brier": brier_score_loss(y, score, sample_weight=weight),
        "ece": gap,
    }


def test_point_values_equal_scikit_learn_and_diff_is_challenger_minus_champion():
    table = compare.paired_bootstrap(Y, A, B, resamples=50, seed=1).set_index("metric")
    assert list(table.reset_index().columns) == compare.COMPARE_COLUMNS
    assert table.index.tolist() == ["roc_auc", "pr_auc", "log_loss", "brier", "ece"]
    expected_a, expected_b = _sklearn(Y, A), _sklearn(Y, B)
    for name in table.index:
        assert table.loc[name, "challenger"] == pytest.approx(expected_a[name], abs=1e-12)
        assert table.loc[name, "champion"] == pytest.approx(expected_b[name], abs=1e-12)
        assert table.loc[name, "diff"] == pytest.approx(expected_a[name] - expected_b[name], abs=1e-12)
    assert table.loc["roc_auc", "challenger"] == pytest.approx(59 / 70)  # 29.5 of 5 × 7 pairs: three ties count one half


def test_intervals_equal_a_loop_of_weighted_scikit_learn_calls_on_the_same_poisson_rows():
    resamples, seed = 200, 7
    table = compare.paired_bootstrap(Y, A, B, resamples=resamples, seed=seed).set_index("metric")
    weights = np.random.default_rng(seed).poisson(1.0, (resamples, len(Y))).astype(float)
    diffs = {name: [] for name in table.index}
    for w in weights:
        first, second = _sklearn(Y, A, w), _sklearn(Y, B, w)
        for name in diffs:
            diffs[name].append(first[name] - second[name])
    for name, values in diffs.items():
        lo, hi = np.nanpercentile(values, [2.5, 97.5])
        assert table.loc[name, "diff_lo"] == pytest.approx(lo, abs=1e-9), name
        assert table.loc[name, "diff_hi"] == pytest.approx(hi, abs=1e-9), name
    # Blocks of resamples draw the same weights in the same order: the block size never changes the answer.
    small_blocks = compare.paired_bootstrap(Y, A, B, resamples=resamples, seed=seed, block=len(Y) * 7)
    pd.testing.assert_frame_equal(small_blocks, table.reset_index())


def test_pooling_many_distinct_scores_moves_the_bounds_by_a_small_fraction_of_the_width():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 15, 20_000)
    y = (rng.random(len(p)) < p).astype(int)
    a, b = np.clip(p + rng.normal(0, 0.01, len(p)), 0, 1), np.clip(p + rng.normal(0, 0.03, len(p)), 0, 1)
    exact = compare.paired_bootstrap(y, a, b, resamples=100, cells=10**9).set_index("metric")
    pooled = compare.paired_bootstrap(y, a, b, resamples=100, cells=256).set_index("metric")
    pd.testing.assert_frame_equal(pooled[["challenger", "champion", "diff"]], exact[["challenger", "champion", "diff"]])
    width = exact["diff_hi"] - exact["diff_lo"]
    for bound in ("diff_lo", "diff_hi"):
        assert ((pooled[bound] - exact[bound]).abs() < width / 10).all(), bound


def test_identical_scores_differ_by_exactly_zero_and_no_champion_leaves_its_columns_empty():
    same = compare.paired_bootstrap(Y, A, A.copy(), resamples=40)
    assert (same[["diff", "diff_lo", "diff_hi"]].to_numpy() == 0).all()
    alone = compare.paired_bootstrap(Y, A, None)
    assert alone["champion"].isna().all() and alone["diff_lo"].isna().all()
    assert alone.attrs["rows"] == 12
    with pytest.raises(DataError, match="at least one resample"):
        compare.paired_bootstrap(Y, A, B, resamples=0)


def _comparison(roc_auc=0.7, ece=0.01, diff=-0.004):
    return pd.DataFrame(
        [("roc_auc", roc_auc, roc_auc - diff, diff, diff - 0.02, diff + 0.02), ("ece", ece, 0.01, ece - 0.01, -0.01, 0.01)],
        columns=compare.COMPARE_COLUMNS,
    )


def test_gate_reads_floors_ceiling_and_the_paired_difference_from_settings(monkeypatch):
    table = compare.gate(_comparison(), has_champion=True)
    assert list(table.columns) == compare.GATE_COLUMNS
    assert table["rule"].tolist() == ["ROC AUC ≥ floor", "ECE ≤ ceiling", "ROC AUC not worse than the champion by more than delta"]
    assert table["value"].tolist() == pytest.approx([0.7, 0.01, -0.004])
    assert table["limit"].tolist() == pytest.approx([0.6, 0.02, -0.005])
    assert table["passed"].tolist() == [True, True, True]
    assert compare.gate(_comparison(diff=-0.006), True)["passed"].tolist() == [True, True, False]
    assert len(compare.gate(_comparison(diff=-0.5), has_champion=False)) == 2  # first champion: floors only
    monkeypatch.setenv("WB_GATE_MIN_ROC_AUC", "0.75")
    monkeypatch.setenv("WB_GATE_MAX_ECE", "0.005")
    assert compare.gate(_comparison(), True)["passed"].tolist() == [False, False, True]
    assert not compare.gate(_comparison(roc_auc=np.nan), False)["passed"].iloc[0]  # undefined AUC never passes


@pytest.mark.slow
def test_a_streamed_runs_test_split_is_the_rows_its_predictions_name(train_env):
    from core import train
    from tests.conftest import DEMO_ARGS

    args = [*DEMO_ARGS, "--family", "hashed_sgd", "--param", "batch_rows=4000", "--split", "random"]
    run_id = train.train(train.parse_args(args)[0], log=train.Log(io.StringIO()))["run_id"]
    recorded = runs.predictions(run_id)
    frame, y = compare.holdout(run_id, ["country", "device", "hour"])
    assert list(frame.columns) == ["country", "device", "hour"]
    assert np.array_equal(y, recorded["y"].to_numpy()) and len(y) == len(recorded)
    assert 0 < metrics.scores(y, recorded["score"])["roc_auc"] < 1

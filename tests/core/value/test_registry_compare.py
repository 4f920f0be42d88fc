"""Value metrics side by side and the value gate rule: exact values against scikit-learn and by hand."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, root_mean_squared_log_error

from core import compare
from core.value import compare as value_compare

# Eight holdout rows: five converters, one of them with an unknown value; non-converters carry 0 or NaN.
Y = np.array([1, 0, 1, 1, 0, 1, 1, 0])
ACTUAL = np.array([10.0, 0.0, 30.0, np.nan, 0.0, 5.0, 60.0, np.nan])
A = np.array([12.0, 9.0, 25.0, 40.0, 8.0, 6.0, 50.0, 7.0])
B = np.array([20.0, 9.0, 20.0, 40.0, 8.0, 10.0, 30.0, 7.0])
KEEP = np.array([0, 2, 5, 6])  # converters with a known value


def _sklearn(actual, predicted, weight=None):
    return {
        "rmse": mean_squared_error(actual, predicted, sample_weight=weight) ** 0.5,
        "mae": mean_absolute_error(actual, predicted, sample_weight=weight),
        "r2": r2_score(actual, predicted, sample_weight=weight),
        "rmsle": root_mean_squared_log_error(actual, predicted, sample_weight=weight),
    }


def test_value_metrics_are_scikit_learns_on_the_converters_with_a_known_value():
    table = value_compare.value_comparison(Y, ACTUAL, A, B, resamples=50).set_index("metric")
    assert table.index.tolist() == ["value_rmse", "value_mae", "value_r2", "value_rmsle"]
    assert table.attrs["rows"] == 4
    first, second = _sklearn(ACTUAL[KEEP], A[KEEP]), _sklearn(ACTUAL[KEEP], B[KEEP])
    for m in value_compare.METRICS:
        assert table.loc[f"value_{m}", "challenger"] == pytest.approx(first[m], abs=1e-12)
        assert table.loc[f"value_{m}", "champion"] == pytest.approx(second[m], abs=1e-12)
        assert table.loc[f"value_{m}", "diff"] == pytest.approx(first[m] - second[m], abs=1e-12)
    # By hand: MAE of A is (2 + 5 + 1 + 10) / 4 and of B (10 + 10 + 5 + 30) / 4.
    assert table.loc["value_mae", "diff"] == pytest.approx(18 / 4 - 55 / 4)


def test_the_rmsle_difference_by_hand():
    y, actual = np.array([1, 1]), np.array([0.0, np.e - 1])  # log1p: 0 and 1
    challenger, champion = np.array([np.e - 1, np.e - 1]), np.array([0.0, np.e**2 - 1])  # log1p: (1, 1) and (0, 2)
    table = value_compare.value_comparison(y, actual, challenger, champion, resamples=20).set_index("metric")
    # challenger: sqrt((1 + 0) / 2); champion: sqrt((0 + 1) / 2); equal, so the difference is exactly zero.
    assert table.loc["value_rmsle", "challenger"] == pytest.approx(np.sqrt(0.5))
    assert table.loc["value_rmsle", "diff"] == pytest.approx(0.0, abs=1e-15)
    worse = value_compare.value_comparison(y, actual, np.array([np.e - 1, np.e**3 - 1]), champion, resamples=20)
    # challenger log1p (1, 3): errors 1 and 2 → sqrt(5 / 2); champion sqrt(1 / 2).
    assert worse.set_index("metric").loc["value_rmsle", "diff"] == pytest.approx(np.sqrt(2.5) - np.sqrt(0.5))


def test_intervals_equal_a_loop_of_weighted_scikit_learn_calls_on_the_same_poisson_rows():
    rng = np.random.default_rng(4)
    n = 60
    y = (rng.random(n) < 0.7).astype(int)
    actual = np.where(y == 1, rng.lognormal(3, 1, n), 0.0)
    a, b = actual * rng.lognormal(0, 0.3, n), actual * rng.lognormal(0, 0.5, n) + 1
    resamples, seed = 100, 9
    table = value_compare.value_comparison(y, actual, a, b, resamples=resamples, seed=seed).set_index("metric")
    keep = y == 1
    weights = np.random.default_rng(seed).poisson(1.0, (resamples, keep.sum())).astype(float)
    diffs = {m: [] for m in value_compare.METRICS}
    for w in weights:
        first, second = _sklearn(actual[keep], a[keep], w), _sklearn(actual[keep], b[keep], w)
        for m in diffs:
            diffs[m].append(first[m] - second[m])
    for m, values in diffs.items():
        lo, hi = np.percentile(values, [2.5, 97.5])
        assert table.loc[f"value_{m}", "diff_lo"] == pytest.approx(lo, rel=1e-9, abs=1e-9), m
        assert table.loc[f"value_{m}", "diff_hi"] == pytest.approx(hi, rel=1e-9, abs=1e-9), m
    small = value_compare.value_comparison(y, actual, a, b, resamples=resamples, seed=seed)
    blocked = value_compare.value_draws(actual[keep], {"a": a[keep]}, resamples, seed, block=int(keep.sum()) * 7)
    whole = value_compare.value_draws(actual[keep], {"a": a[keep]}, resamples, seed)
    np.testing.assert_allclose(blocked["a"]["rmse"], whole["a"]["rmse"], rtol=1e-12)  # the same draws, whatever the block
    pd.testing.assert_frame_equal(small.set_index("metric"), table)


def test_a_side_without_a_value_stage_is_empty():
    table = value_compare.value_comparison(Y, ACTUAL, A, np.full(len(Y), np.nan))
    assert table["champion"].isna().all() and table["diff_lo"].isna().all() and table["challenger"].notna().all()


def _comparison(rmsle_diff=0.01, champion_rmsle=0.5, note=""):
    rows = [
        ("roc_auc", 0.7, 0.7, 0.0, -0.01, 0.01),
        ("ece", 0.01, 0.01, 0.0, -0.01, 0.01),
        ("value_rmsle", champion_rmsle + rmsle_diff, champion_rmsle, rmsle_diff, rmsle_diff - 0.05, rmsle_diff + 0.05),
    ]
    table = pd.DataFrame(rows, columns=compare.COMPARE_COLUMNS)
    table.attrs["value_note"] = note
    return table


def test_gate_adds_the_value_rule_against_the_setting(monkeypatch):
    table = compare.gate(_comparison(rmsle_diff=0.015), has_champion=True)
    assert table["rule"].tolist()[-1] == "Value RMSLE not worse than the champion's by more than delta"
    assert table.iloc[-1]["value"] == pytest.approx(0.015) and table.iloc[-1]["limit"] == pytest.approx(0.02)
    assert table["passed"].tolist() == [True, True, True, True]
    assert not compare.gate(_comparison(rmsle_diff=0.021), True)["passed"].iloc[-1]
    monkeypatch.setenv("WB_GATE_MAX_RMSLE_INCREASE", "-0.02")  # negative: the challenger must improve by 0.02
    assert compare.gate(_comparison(rmsle_diff=-0.02), True)["passed"].iloc[-1]
    assert not compare.gate(_comparison(rmsle_diff=-0.019), True)["passed"].iloc[-1]
    assert len(compare.gate(_comparison(), has_champion=False)) == 2  # no champion: floors only
    assert not compare.gate(_comparison(champion_rmsle=np.nan), True)["passed"].iloc[-1]  # undefined never passes
    monkeypatch.setenv("WB_GATE_MAX_RMSLE_INCREASE", "nan")
    with pytest.raises(Exception, match="WB_GATE_MAX_RMSLE_INCREASE='nan' is not valid"):
        compare.gate(_comparison(), True)


def test_gate_skips_the_value_rule_and_says_why_when_the_champion_has_no_value_stage():
    comparison = _comparison(rmsle_diff=np.nan, champion_rmsle=np.nan, note="the champion has no value stage")
    table = compare.gate(comparison, has_champion=True)
    last = table.iloc[-1]
    assert last["rule"] == "Value RMSLE not worse than the champion's by more than delta: skipped, the champion has no value stage"
    assert np.isnan(last["value"]) and last["passed"]
    assert table["passed"].all()
    no_value = _comparison().iloc[:2]
    assert len(compare.gate(no_value, True)) == 3  # neither has a value stage: the rules of before


def test_only_mature_converters_count_unless_none_is():
    mature = np.array([True, True, False, True, True, True, False, True])  # row 2 (a converter) is still accruing
    table = value_compare.value_comparison(Y, ACTUAL, A, B, resamples=20, mature=mature).set_index("metric")
    keep = np.array([0, 5])
    assert table.attrs["rows"] == 2 and table.attrs["mature_share"] == pytest.approx(2 / 4)
    assert table.loc["value_mae", "challenger"] == pytest.approx(mean_absolute_error(ACTUAL[keep], A[keep]))
    none = value_compare.value_comparison(Y, ACTUAL, A, B, resamples=20, mature=np.zeros(8, dtype=bool))
    assert none.attrs["rows"] == 4 and none.attrs["mature_share"] == 0  # as a run's metrics: every known converter
    assert value_compare.maturity_note(0.5, 7) == "on the 50% of converters whose 7 days have passed"
    assert value_compare.maturity_note(0.0, 1).startswith("immature: no converter here is 1 day older than the last time")
    assert value_compare.maturity_note(1.0, 7) == value_compare.maturity_note(0.3, None) == ""


def test_a_horizon_is_mature_when_its_days_have_passed_by_the_last_time():
    times = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-08", "2024-01-10", None]))
    # Last time 2024-01-10: a 7-day horizon has passed for rows up to 2024-01-03; a row without a time never counts.
    assert compare._mature("revenue_d7", times, 5).tolist() == [True, True, False, False, False]
    assert compare._mature("revenue", times, 5).all() and compare._mature("revenue_d7", None, 3).all()

"""Paired tests: the t-test over folds by hand and against scipy, the bootstrap's sign-flip p-value and determinism."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from core.compare import bootstrap_draws
from core.errors import DataError
from core.selection.paired import holdout_tests, sign_flip_p, t_test_p


def test_t_test_over_three_folds_by_hand():
    # Differences 0.1, 0.02, 0.1: mean 0.22/3, sample sd sqrt(0.0064/3), t = 2.75 exactly; with 2 degrees of freedom
    # the two-sided p-value has the closed form 1 - t / sqrt(2 + t²).
    best, other = [0.8, 0.7, 0.9], [0.7, 0.68, 0.8]
    t = 2.75
    assert t_test_p(best, other) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)
    assert t_test_p(best, other) == pytest.approx(stats.ttest_rel(best, other).pvalue, abs=1e-15)
    assert t_test_p(other, best) == pytest.approx(t_test_p(best, other), abs=1e-15)  # two-sided


def test_t_test_of_equal_folds_is_one_and_unequal_folds_are_refused():
    assert t_test_p([0.7, 0.8, 0.75], [0.7, 0.8, 0.75]) == 1.0
    with pytest.raises(DataError, match="same folds"):
        t_test_p([0.7, 0.8], [0.7, 0.8, 0.9])
    with pytest.raises(DataError, match="at least two"):
        t_test_p([0.7], [0.6])


@pytest.mark.parametrize(
    ("differences", "observed", "p"),
    [
        ([1.0, 2.0, 3.0, -1.0], 0.5, 0.5),  # one of four flips: 2 × 1/4
        ([-1.0, -2.0, -3.0, 1.0], -0.5, 0.5),  # the same with the sign turned
        ([1.0, 2.0, -1.0, 0.0], 1.0, 1.0),  # a zero counts as flipped: 2 × 2/4
        ([1.0, 2.0, 3.0, 4.0], 1.0, 0.0),  # never flips
        ([1.0, -1.0, -2.0, -3.0], 1.0, 1.0),  # capped at 1
        ([1.0, np.nan, -1.0, 2.0, 3.0], 1.0, 0.5),  # NaN resamples (one class left) are dropped
        ([1.0, -1.0], 0.0, 1.0),  # no observed difference
    ],
)
def test_sign_flip_p_value(differences, observed, p):
    assert sign_flip_p(differences, observed) == p


RNG = np.random.default_rng(7)
Y = (RNG.random(400) < 0.3).astype(int)
GOOD = np.clip(0.3 + 0.4 * (Y - 0.3) + RNG.normal(0, 0.2, 400), 0.01, 0.99)
NOISE = RNG.uniform(0.01, 0.99, 400)


def test_holdout_tests_point_std_and_p_from_shared_draws():
    found = holdout_tests(Y, {"good": GOOD, "noise": NOISE}, "roc_auc", "good", resamples=300, seed=4)
    assert found["good"][0] == pytest.approx(roc_auc_score(Y, GOOD), abs=1e-12)
    assert found["noise"][0] == pytest.approx(roc_auc_score(Y, NOISE), abs=1e-12)
    assert found["good"][2] is None
    drawn = bootstrap_draws(Y, {"good": GOOD, "noise": NOISE}, 300, 4)
    assert found["noise"][1] == pytest.approx(np.std(drawn["noise"]["roc_auc"], ddof=1), abs=1e-15)
    flips = np.mean(drawn["good"]["roc_auc"] - drawn["noise"]["roc_auc"] <= 0)
    assert found["noise"][2] == pytest.approx(min(1.0, 2 * flips), abs=1e-15)
    assert found["noise"][2] < 0.01  # a real model against noise: the sign never flips


def test_holdout_tests_are_deterministic_and_a_twin_is_not_different():
    named = {"good": GOOD, "twin": GOOD.copy(), "noise": NOISE}
    first = holdout_tests(Y, named, "log_loss", "good", resamples=200, seed=1)
    assert first == holdout_tests(Y, named, "log_loss", "good", resamples=200, seed=1)
    assert first != holdout_tests(Y, named, "log_loss", "good", resamples=200, seed=2)
    assert first["twin"][2] == 1.0  # same scores: no difference in any resample
    assert first["good"][0] == pytest.approx(log_loss(Y, GOOD), abs=1e-12)

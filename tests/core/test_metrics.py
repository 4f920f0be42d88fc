import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from core.metrics import ece, scores


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0])
    score = np.array([0.05, 0.15, 0.95, 0.85])
    # bins: [0,.1) {0.05: y0} gap .05; [.1,.2) {0.15: y1} gap .85; [.8,.9) {0.85: y0} gap .85; [.9,1] {0.95: y1} gap .05
    assert ece(y, score) == pytest.approx((0.05 + 0.85 + 0.85 + 0.05) / 4)


def test_a_score_of_one_falls_in_the_last_bin():
    assert ece([1, 1], [1.0, 1.0]) == pytest.approx(0.0)


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    score = rng.random(500)
    y = (rng.random(500) < score).astype(int)
    out = scores(y, score)
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert out["pr_auc"] == pytest.approx(average_precision_score(y, score))
    assert out["log_loss"] == pytest.approx(log_loss(y, score))
    assert out["brier"] == pytest.approx(brier_score_loss(y, score))
    assert (out["rows"], out["base_rate"]) == (500, y.mean())


def test_one_class_has_no_auc():
    out = scores([0, 0, 0], [0.1, 0.2, 0.3])
    assert np.isnan(out["roc_auc"]) and np.isnan(out["pr_auc"])
    assert out["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)

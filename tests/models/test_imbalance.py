import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from models.imbalance import PriorCorrection, undersample


def test_prior_correction_by_hand():
    # A model fitted on 1 positive : 1 negative, after keeping 20% of negatives, says 0.5.
    X, y = np.zeros((4, 1)), np.array([1, 1, 0, 0])
    model = PriorCorrection(DummyClassifier(strategy="prior"), sampling_rate=0.2).fit(X, y)
    assert model.predict_proba(X[:1])[0, 1] == pytest.approx(0.2 * 0.5 / (0.2 * 0.5 + 0.5))  # 1/6
    assert model.predict(X[:1]).tolist() == [0]


def test_undersample_keeps_every_positive():
    y = np.array([1] * 50 + [0] * 10_000)
    keep = undersample(y, 0.1, seed=0)
    assert keep[:50].all()
    assert 800 < keep[50:].sum() < 1200

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.naive_bayes import GaussianNB  # like our families: predict_proba, no decision_function

from models.calibrated import calibrate_on_scores, calibrated_scores


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_scores_equal_the_calibrated_models_predictions(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(size=400) > 0.8).astype(int)
    model = GaussianNB().fit(X[:200], y[:200])
    final = CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(X[200:300], y[200:300])
    raw = model.predict_proba(X[300:])[:, 1]
    np.testing.assert_allclose(calibrated_scores(final, raw), final.predict_proba(X[300:])[:, 1], rtol=0, atol=1e-15)
    assert calibrated_scores(model, raw) is raw


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrating_on_scores_equals_calibrating_the_model(method):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] - X[:, 2] + rng.normal(size=600) > 0.5).astype(int)
    model = GaussianNB().fit(X[:200], y[:200])
    usual = CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(X[200:400], y[200:400])
    ours = calibrate_on_scores(model, model.predict_proba(X[200:400])[:, 1], y[200:400], method)
    np.testing.assert_allclose(ours.predict_proba(X[400:]), usual.predict_proba(X[400:]), rtol=0, atol=1e-15)
    assert ours.estimator.estimator is model and ours.n_features_in_ == 3
    assert all(pair.estimator is ours.estimator for pair in ours.calibrated_classifiers_)

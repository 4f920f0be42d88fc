import numpy as np
import pandas as pd
import pytest

from models.value import GBDTRegressor, LinearRegressor, LogValueRegressor, ValueModel


def _log_normal(rows: int, seed: int, sigma: float = 0.8) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(X, value, true mean): log1p(value) = 5 + 1.5 x + N(0, sigma), so E[value | x] = exp(5 + 1.5 x + sigma²/2) - 1 (never negative in practice: that needs a 6-sigma draw)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, rows)
    X = pd.DataFrame({"x": x, "kind": np.where(x > 0.5, "high", "low")})
    value = np.expm1(5 + 1.5 * x + rng.normal(0, sigma, rows))
    return X, value, np.expm1(5 + 1.5 * x + sigma**2 / 2)


def test_smearing_recovers_the_true_mean_within_one_percent():
    X, value, _ = _log_normal(40_000, 0)
    X_new, _, true_mean = _log_normal(20_000, 1)
    model = LogValueRegressor(LinearRegressor(categorical=["kind"])).fit(X, value)
    assert model.smearing_ == pytest.approx(np.exp(0.8**2 / 2), rel=0.02)
    assert model.predict(X_new).mean() == pytest.approx(true_mean.mean(), rel=0.01)
    # Without the correction the back-transform gives the median: about exp(-σ²/2) = 0.73 of the mean here.
    median_based = np.expm1(model.predict_log(X_new)).mean()
    assert median_based < 0.8 * true_mean.mean()


def test_smearing_uses_held_out_residuals_for_a_boosted_model():
    X, value, _ = _log_normal(6_000, 2)
    X_valid, valid_value, _ = _log_normal(2_000, 3)
    model = LogValueRegressor(GBDTRegressor(n_estimators=50, min_child_samples=20)).fit(X, value, eval_set=(X_valid, valid_value))
    residual = np.log1p(valid_value) - model.predict_log(X_valid)
    assert model.smearing_ == pytest.approx(np.mean(np.exp(residual)))
    assert model.predict(X_valid).min() >= 0


def test_a_negative_target_is_refused():
    X, _, _ = _log_normal(50, 0)
    with pytest.raises(ValueError, match=">= 0"):
        LogValueRegressor(LinearRegressor()).fit(X, -np.ones(50))


class _Constant:
    """A fitted stand-in classifier: P(convert) 0.25 for every row."""

    def predict_proba(self, X):
        return np.tile([0.75, 0.25], (len(X), 1))


def test_value_model_adds_increments_so_horizons_never_decrease():
    X, value, _ = _log_normal(2_000, 4)
    level = LogValueRegressor(LinearRegressor()).fit(X, value)
    increment = LogValueRegressor(LinearRegressor()).fit(X, value * 0.5)
    model = ValueModel(_Constant(), [level, increment], ["rev_d1", "rev_d7"], "rev_d7")
    values = model.value_if_converted(X)
    assert (values["rev_d7"] >= values["rev_d1"]).all()
    np.testing.assert_allclose(values["rev_d7"] - values["rev_d1"], increment.predict(X))
    out = model.predict(X)
    assert out.columns.tolist() == ["probability", "expected_value", "expected_value.rev_d1", "expected_value.rev_d7"]
    np.testing.assert_allclose(out["expected_value"], 0.25 * values["rev_d7"])
    np.testing.assert_allclose(out["expected_value.rev_d1"], 0.25 * values["rev_d1"])
    assert model.horizons == ["rev_d1", "rev_d7"]


def test_a_single_value_column_has_no_horizon_columns():
    X, value, _ = _log_normal(500, 5)
    model = ValueModel(_Constant(), [LogValueRegressor(LinearRegressor()).fit(X, value)], ["revenue"], "revenue")
    assert model.predict(X).columns.tolist() == ["probability", "expected_value"]
    assert model.horizons == []

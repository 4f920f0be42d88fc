import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, root_mean_squared_log_error

from core.errors import DataError
from core.value.metrics import regression_metrics, regression_table


def test_metrics_by_hand_on_three_rows():
    found = regression_metrics([1.0, 2.0, 3.0], [1.0, 3.0, 5.0])  # errors 0, -1, -2
    assert found["rmse"] == pytest.approx((5 / 3) ** 0.5)
    assert found["mae"] == pytest.approx(1.0)
    assert found["r2"] == pytest.approx(1 - (5 / 3) / (2 / 3))
    expected_rmsle = np.sqrt(np.mean((np.log([2, 4, 6]) - np.log([2, 3, 4])) ** 2))
    assert found["rmsle"] == pytest.approx(expected_rmsle)


def test_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    actual = rng.lognormal(3, 1, 500)
    predicted = actual * rng.lognormal(0, 0.5, 500)
    found = regression_metrics(actual, predicted)
    assert found["rmse"] == pytest.approx(mean_squared_error(actual, predicted) ** 0.5, rel=1e-12)
    assert found["mae"] == pytest.approx(mean_absolute_error(actual, predicted), rel=1e-12)
    assert found["r2"] == pytest.approx(r2_score(actual, predicted), rel=1e-12)
    assert found["rmsle"] == pytest.approx(root_mean_squared_log_error(actual, predicted), rel=1e-12)


def test_table_intervals_hold_the_value_and_repeat_with_the_seed():
    rng = np.random.default_rng(1)
    actual = rng.lognormal(3, 1, 300)
    predicted = actual * rng.lognormal(0, 0.3, 300)
    table = regression_table(actual, predicted, resamples=120, seed=4)
    assert table["metric"].tolist() == ["rmse", "mae", "r2", "rmsle"]
    assert (table["lo"] < table["value"]).all() and (table["value"] < table["hi"]).all()
    assert table.equals(regression_table(actual, predicted, resamples=120, seed=4))
    assert table.set_index("metric")["value"].to_dict() == pytest.approx(regression_metrics(actual, predicted))


def test_constant_actuals_have_no_r2():
    assert np.isnan(regression_metrics([5.0, 5.0], [4.0, 6.0])["r2"])


@pytest.mark.parametrize(
    ("actual", "predicted", "message"),
    [([], [], "no converters"), ([1.0, np.nan], [1.0, 2.0], "finite"), ([-1.0], [1.0], "clip refunds"), ([1.0], [1.0, 2.0], "one length")],
)
def test_bad_input_says_what_to_fix(actual, predicted, message):
    with pytest.raises(DataError, match=message):
        regression_metrics(actual, predicted)


def test_no_resamples_gives_the_values_without_intervals():
    table = regression_table([1.0, 2.0, 4.0], [1.5, 2.0, 3.0], resamples=0)
    assert table["lo"].isna().all() and table["hi"].isna().all()
    assert table.set_index("metric")["value"].to_dict() == pytest.approx(regression_metrics([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]))

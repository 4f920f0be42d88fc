import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_log_error

from core import runs, tracking, train
from core.spec import TrainSpec
from core.value.stage import horizon_days, maturity, stage_targets, value_metrics
from tests.conftest import DEMO_ARGS, VALUE_ARGS


def _spec(**value) -> TrainSpec:
    return TrainSpec.from_dict({"dataset": "d", "target": "y", "time_column": "t", "value": value})


def test_horizon_days_come_from_the_suffix():
    assert [horizon_days(c) for c in ("revenue_d7", "ltv_d30", "revenue", "d7_rev")] == [7, 30, None, None]


def test_a_row_is_mature_once_its_horizon_has_passed_by_the_last_time():
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-08", "2026-01-10", None])})
    mature = maturity(_spec(horizons=["rev_d1", "rev_d7", "rev"]), frame)
    assert mature["rev_d1"].tolist() == [True, True, True, False, False]  # last time 01-10: rows up to 01-09 have had a day
    assert mature["rev_d7"].tolist() == [True, True, False, False, False]
    assert mature["rev"].tolist() == [True] * 5  # no _d<N>: no horizon to wait for


def test_later_horizons_learn_their_increment_and_refunds_count_as_none():
    values = pd.DataFrame({"a_d1": [10.0, 5.0, 0.0], "a_d7": [12.0, 4.0, np.nan]})
    targets = stage_targets(_spec(horizons=["a_d1", "a_d7"]), values)
    np.testing.assert_array_equal(targets["a_d1"], [10.0, 5.0, 0.0])
    np.testing.assert_array_equal(targets["a_d7"], [2.0, 0.0, np.nan])


def test_metrics_fall_back_to_every_converter_and_say_so_when_none_is_mature():
    spec = _spec(horizons=["a_d1", "a_d7"])
    y = np.array([1, 1, 1, 0])
    columns = {
        "a_d1": np.array([10.0, 20.0, 30.0, 0.0]),
        "a_d7": np.array([10.0, 25.0, 30.0, 0.0]),
        "value_if_converted.a_d1": np.array([12.0, 18.0, 30.0, 9.0]),
        "value_if_converted.a_d7": np.array([12.0, 20.0, 33.0, 9.0]),
    }
    mature = {"a_d1": np.array([True, True, False, True]), "a_d7": np.zeros(4, bool)}
    table = value_metrics(spec, columns, y, mature, resamples=20).set_index(["horizon", "metric"])
    assert table.loc[("a_d1", "mae"), "value"] == pytest.approx(2.0)  # mature converters only: |10-12|, |20-18|
    assert table.loc[("a_d1", "mae"), "rows"] == 2
    assert table.loc[("a_d1", "mae"), "mature_share"] == pytest.approx(2 / 3)
    assert table.loc[("a_d1", "mae"), "note"] == "on the 67% of converters whose 1 day have passed"
    assert table.loc[("a_d7", "mae"), "value"] == pytest.approx((2 + 5 + 3) / 3)
    assert table.loc[("a_d7", "mae"), "note"].startswith("immature: no converter here is 7 days older")


def _artifact(run_id: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name))


def test_a_value_run_logs_expected_value_metrics_and_a_model_that_returns_both(value_run, store, demo_root, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run = tracking.client().get_run(value_run)
    assert run.data.tags["wb.value_column"] == "revenue" and json.loads(run.data.tags["wb.value_horizons"]) == []
    predictions = runs.predictions(value_run)
    np.testing.assert_allclose(predictions["expected_value"], predictions["score"] * predictions["value_if_converted"])
    assert (predictions.loc[predictions["y"] == 0, "revenue"] == 0).all()
    converters = predictions[predictions["y"] == 1]
    table = _artifact(value_run, "value_metrics.parquet").set_index("metric")
    assert table.loc["mae", "value"] == pytest.approx(mean_absolute_error(converters["revenue"], converters["value_if_converted"]))
    assert table.loc["r2", "value"] == pytest.approx(r2_score(converters["revenue"], converters["value_if_converted"]))
    rmsle = root_mean_squared_log_error(converters["revenue"], converters["value_if_converted"])
    assert table.loc["rmsle", "value"] == pytest.approx(rmsle)
    assert run.data.metrics["test_value_rmsle"] == pytest.approx(rmsle)
    assert table.loc["rmsle", "lo"] < rmsle < table.loc["rmsle", "hi"] and table.loc["rmsle", "rows"] == len(converters)

    # pyfunc on raw rows as pandas reads the file: probability and expected value, equal to the logged predictions.
    model = mlflow.pyfunc.load_model(f"runs:/{value_run}/model")
    raw = pd.read_parquet(demo_root / "demo").iloc[predictions["row"].to_numpy()[:50]]
    out = model.predict(raw)
    assert out.columns.tolist() == ["probability", "expected_value"]
    np.testing.assert_allclose(out["probability"], predictions["score"].iloc[:50], rtol=1e-9)
    np.testing.assert_allclose(out["expected_value"], predictions["expected_value"].iloc[:50], rtol=1e-9)

    # Value SHAP adds up to the value regressor's log1p prediction on the explained rows.
    shap = _artifact(value_run, "shap.parquet")
    stage = model.get_raw_model().stages[0]
    explained = pd.read_parquet(demo_root / "demo").iloc[shap["row"].to_numpy()]
    total = shap[[c for c in shap.columns if c.startswith("value.")]].sum(axis=1)
    np.testing.assert_allclose(total, stage.predict_log(explained), rtol=1e-6, atol=1e-6)


def test_horizon_predictions_never_decrease_on_any_row(horizon_run, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    predictions = runs.predictions(horizon_run)
    assert (predictions["value_if_converted.revenue_d7"] >= predictions["value_if_converted.revenue_d1"]).all()
    np.testing.assert_array_equal(predictions["value_if_converted"], predictions["value_if_converted.revenue_d7"])
    table = _artifact(horizon_run, "value_metrics.parquet")
    assert set(table["horizon"]) == {"revenue_d1", "revenue_d7"}
    # The test split is the last ~3 of 21 days: none of it is 7 days old, so d7 is immature and marked.
    assert table.loc[table["horizon"] == "revenue_d7", "note"].str.startswith("immature").all()
    assert not predictions["mature.revenue_d7"].any()
    metrics = tracking.client().get_run(horizon_run).data.metrics
    assert {"test_value_rmsle", "test_value_rmsle.revenue_d1", "test_value_rmsle.revenue_d7"} <= set(metrics)


def test_a_horizon_that_never_matures_fails_the_run_with_one_line(train_env, capsys):
    code = train.main([*VALUE_ARGS, "--value-horizons", "revenue_d1", "revenue_d30"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Only 0 training converters have a known, mature 'revenue_d30'" in err


def test_an_unknown_or_text_value_column_is_a_one_line_error(train_env, capsys):
    assert train.main([*VALUE_ARGS, "--value-column", "nope"]) == 2
    assert "Unknown value column 'nope'" in capsys.readouterr().err
    assert train.main([*VALUE_ARGS, "--value-column", "country"]) == 2
    assert "Value column 'country' holds VARCHAR values" in capsys.readouterr().err


def test_the_cli_result_carries_the_value_metrics(train_env, capsys):
    spec = train.parse_args([*DEMO_ARGS, "--value-column", "revenue", "--family", "linear", "--value-family", "linear"])[0]
    result = train.train(spec, log=train.Log(io.StringIO()))
    assert set(result["value"]) == {"rmse", "mae", "r2", "rmsle"}
    metrics = tracking.client().get_run(result["run_id"]).data.metrics
    assert result["value"]["r2"] == pytest.approx(metrics["test_value_r2"])


def test_negative_revenue_on_a_converter_is_refused(tmp_path, store, monkeypatch, capsys):
    frame = pd.DataFrame({"x": np.arange(200.0), "y": np.tile([0, 1], 100), "rev": np.where(np.tile([0, 1], 100) == 1, 5.0, 0.0)})
    frame.loc[3, "rev"] = -2.0
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / "data" / "refunds.parquet")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert train.main(["--data", "refunds.parquet", "--target", "y", "--value-column", "rev", "--family", "linear"]) == 2
    assert "negative on 1 converting rows" in capsys.readouterr().err

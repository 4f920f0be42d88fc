"""Value models in the registry on a real MLflow store: compare shows value metrics side by side, the value gate rule."""

from __future__ import annotations

import json
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, root_mean_squared_log_error

from core import compare, registry, runs, tracking
from core.errors import GateFailed
from tests.conftest import VALUE_ARGS, train_on_demo

RULE = "Value RMSLE not worse than the champion's by more than delta"


@pytest.fixture(scope="module")
def linear_value_run(demo_root, store) -> str:
    """value_run's spec with a linear value stage: the same classifier and test rows, a different value model."""
    from core import train

    spec = train.parse_args([*VALUE_ARGS, "--value-column", "revenue", "--value-family", "linear"])[0]
    return train_on_demo(demo_root, store, spec, 50)


@pytest.fixture
def valued(train_env, value_run, linear_value_run) -> str:
    """A fresh registered model: v1 the gbdt value run (made champion), v2 the linear value run (the challenger)."""
    name = f"value-{uuid.uuid4().hex[:8]}"
    assert registry.register(value_run, name) == 1 and registry.register(linear_value_run, name) == 2
    registry.promote(name, 1, "first champion")
    return name


def _expected(run_id: str) -> tuple[dict, int]:
    """(metric -> scikit-learn's value on the run's test converters with a known revenue, their count)."""
    recorded = runs.predictions(run_id)
    keep = (recorded["y"] == 1) & recorded["revenue"].notna()
    actual, predicted = recorded.loc[keep, "revenue"], recorded.loc[keep, "value_if_converted"]
    values = {
        "value_rmse": mean_squared_error(actual, predicted) ** 0.5,
        "value_mae": mean_absolute_error(actual, predicted),
        "value_r2": r2_score(actual, predicted),
        "value_rmsle": root_mean_squared_log_error(actual, predicted),
    }
    return values, int(keep.sum())


def test_compare_shows_both_value_models_on_the_same_holdout_converters(valued, value_run, linear_value_run, capsys):
    table = registry.compare(valued, 2, 1, resamples=100)
    assert table.attrs["value_column"] == "revenue" and table.attrs["value_note"] == ""
    by = table.set_index("metric")
    assert by.index.tolist()[-4:] == ["value_rmse", "value_mae", "value_r2", "value_rmsle"]
    # Both runs have the same test rows, so each one's recorded value_if_converted is its model on the compared rows.
    first, rows = _expected(linear_value_run)
    second, same_rows = _expected(value_run)
    assert table.attrs["value_rows"] == rows == same_rows > 100
    metrics = mlflow.get_run(linear_value_run).data.metrics
    for name in first:
        assert by.loc[name, "challenger"] == pytest.approx(first[name], rel=1e-9), name
        assert by.loc[name, "champion"] == pytest.approx(second[name], rel=1e-9), name
        assert by.loc[name, "diff"] == pytest.approx(first[name] - second[name], rel=1e-9, abs=1e-12), name
        assert by.loc[name, "challenger"] == pytest.approx(metrics[f"test_{name}"], rel=1e-9), name  # the run's own metric
        assert by.loc[name, "diff_lo"] <= by.loc[name, "diff"] <= by.loc[name, "diff_hi"], name
    assert first["value_rmsle"] != pytest.approx(second["value_rmsle"])  # a linear and a gbdt value stage differ
    code = registry.main(["compare", "--model", valued, "--resamples", "20"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and [r["metric"] for r in result["compare"]][-1] == "value_rmsle"


def test_the_value_rule_passes_within_the_setting_and_a_tight_one_blocks_promotion(valued, monkeypatch):
    diff = float(registry.compare(valued, 2, 1, resamples=20).set_index("metric").loc["value_rmsle", "diff"])
    monkeypatch.setenv("WB_GATE_MAX_RMSLE_INCREASE", repr(diff + 0.001))
    comparison, table, against = registry.gate_version(valued, 2, resamples=20)
    last = table.iloc[-1]
    assert against == 1 and last["rule"] == RULE and last["passed"], table
    assert last["value"] == pytest.approx(diff) and last["limit"] == pytest.approx(diff + 0.001)
    assert last["value"] == pytest.approx(comparison.set_index("metric").loc["value_rmsle", "diff"])
    monkeypatch.setenv("WB_GATE_MAX_RMSLE_INCREASE", repr(diff - 0.001))
    _, table, _ = registry.gate_version(valued, 2, resamples=20)
    assert table.set_index("rule")["passed"].to_dict()[RULE] is False
    with pytest.raises(GateFailed, match=rf"failed the promotion gate: .*{RULE} \("):
        registry.promote(valued, 2, "value got worse")
    assert registry.champion(valued) == 1


def test_the_value_rule_is_skipped_and_says_why_when_the_champion_has_no_value_stage(train_env, demo_run, value_run):
    name = f"value-{uuid.uuid4().hex[:8]}"
    registry.register(demo_run, name)
    registry.register(value_run, name)
    comparison, table, against = registry.gate_version(name, 2, 1, resamples=20)
    by = comparison.set_index("metric")
    assert by.loc["value_rmsle", "challenger"] > 0 and np.isnan(by.loc["value_rmsle", "champion"])
    assert comparison.attrs["value_note"] == "the champion has no value stage"
    last = table.iloc[-1]
    assert last["rule"] == f"{RULE}: skipped, the champion has no value stage" and last["passed"] and np.isnan(last["value"])
    detail = json.loads(tracking.client().get_model_version(name, "2").tags["wb.gate_detail"])
    assert detail[-1]["rule"].endswith("skipped, the champion has no value stage")
    # The other way round the challenger has none; neither has one: the rules of before.
    assert compare.gate(registry.compare(name, 1, 2, resamples=20), True).iloc[-1]["rule"].endswith("the challenger has no value stage")
    registry.register(demo_run, name)
    assert len(registry.gate_version(name, 3, 1, resamples=20)[1]) == 3


def test_a_horizon_model_is_compared_on_its_mature_converters(train_env, demo_root, horizon_run):
    name = f"value-{uuid.uuid4().hex[:8]}"
    registry.register(horizon_run, name)
    registry.register(horizon_run, name)
    table = registry.compare(name, 2, 1, resamples=20)
    assert table.attrs["value_column"] == "revenue_d7"
    # The test split is the last days of the 21-day demo: no converter there is 7 days old, so, as the run's own
    # metrics do, every test converter with a known value counts, and the table says so.
    assert table.attrs["value_maturity"].startswith("immature: no converter here is 7 days older")
    by, metrics = table.set_index("metric"), mlflow.get_run(horizon_run).data.metrics
    for name_ in ("value_rmse", "value_mae", "value_r2", "value_rmsle"):
        assert by.loc[name_, "challenger"] == pytest.approx(metrics[f"test_{name_}"], rel=1e-9)
        assert by.loc[name_, "diff"] == 0
    # On a chosen dataset and filter: the rows whose 7 days have passed by their last time.
    paired = registry.paired_scores(name, 2, 1, data="demo", filters=[("hour", "<", 4)])
    events = pd.read_parquet(demo_root / "demo", columns=["event_time", "converted", "hour"]).dropna(subset=["converted"])
    events = events[events["hour"] < 4]
    ripe = events["event_time"] <= events["event_time"].max() - pd.Timedelta(days=7)
    assert paired["value_mature"].sum() == ripe.sum() and 0 < ripe.sum() < len(events)


def test_a_chosen_dataset_without_the_value_column_skips_the_value_rule(train_env, demo_root, value_run, monkeypatch, tmp_path):
    name = f"value-{uuid.uuid4().hex[:8]}"
    registry.register(value_run, name)
    registry.register(value_run, name)
    pd.read_parquet(demo_root / "demo").head(2000).drop(columns=["revenue", "event_date"]).to_parquet(tmp_path / "norev.parquet")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    comparison, table, _ = registry.gate_version(name, 2, 1, data="norev.parquet", resamples=20)
    assert comparison.attrs["value_note"] == "dataset 'norev.parquet' has no column 'revenue', so value is not compared"
    assert comparison.set_index("metric").loc["value_rmsle", ["challenger", "champion"]].isna().all()
    assert table.iloc[-1]["rule"].endswith("skipped, dataset 'norev.parquet' has no column 'revenue', so value is not compared")
    assert table.iloc[-1]["passed"] and comparison.attrs["rows"] == 2000

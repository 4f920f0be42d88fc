"""Diagnostics' Value tab: the numbers core.value.diagnostics computes on the run's predictions, or how to add a value stage."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from core.diagnostics import diagnose
from core.settings import PROJECT
from core.value import diagnostics as vd
from views.value_tab import HOW_TO_ADD

HORIZONS = ["revenue_d1", "revenue_d7", "revenue_d30"]


def open_value_tab(run_id: str, **state) -> AppTest:
    at = AppTest.from_file(str(PROJECT / "views/diagnostics.py"), default_timeout=120)
    for key, value in {"diag.run": run_id, "diag.tab": "Value", **state}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shown(at: AppTest, expected: pd.DataFrame) -> pd.DataFrame:
    """The table on screen with the columns of `expected` (AppTest's tables carry no key)."""
    return next(d.value for d in at.dataframe if list(d.value.columns) == list(expected.columns))


def assert_shown(at: AppTest, expected: pd.DataFrame) -> pd.DataFrame:
    table = shown(at, expected)
    pd.testing.assert_frame_equal(table, expected)
    return table


def horizon_predictions(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Test predictions of a three-horizon value run over 60 days: cumulative revenue, rows younger than a horizon immature."""
    rng = np.random.default_rng(seed)
    time = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 60, rows), unit="D")
    country = rng.choice(["de", "fr", "us"], rows)
    score = rng.uniform(0.02, 0.4, rows)
    y = (rng.random(rows) < score).astype("int8")
    base = 20.0 * (1 + pd.Series(country).map({"de": 0, "fr": 1, "us": 2}).to_numpy())
    frame = pd.DataFrame({"row": np.arange(rows), "y": y, "score": score, "score_raw": score, "time": time, "country": country})
    last = time.max()
    actual = np.where(y == 1, base * rng.lognormal(-0.125, 0.5, rows), 0.0)
    for h, growth in zip(HORIZONS, (1.0, 1.3, 1.6), strict=True):
        days = int(h.removeprefix("revenue_d"))
        frame[h] = actual if growth == 1.0 else frame[HORIZONS[HORIZONS.index(h) - 1]] + np.where(y == 1, base * (growth - 1), 0.0)
        frame[f"value_if_converted.{h}"] = base * growth
        frame[f"expected_value.{h}"] = score * base * growth
        frame[f"mature.{h}"] = (time <= last - pd.Timedelta(days=days)) if days > 1 else True
    frame["value_if_converted"], frame["expected_value"] = frame["value_if_converted.revenue_d30"], frame["expected_value.revenue_d30"]
    return frame


@pytest.fixture(scope="module")
def synthetic_horizon_run(store, tmp_path_factory) -> str:
    """A finished run in the session's store with a three-horizon value stage: hand-made predictions and value metrics."""
    folder = tmp_path_factory.mktemp("value_tab")
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    tags = {"wb.family": "gbdt", "wb.dataset": "demo", "wb.target": "converted", "wb.time_column": "event_time",
            "wb.value_column": "revenue_d30", "wb.value_horizons": json.dumps(HORIZONS), "wb.value_family": "gbdt"}  # fmt: skip
    made = client.create_run(client.create_experiment(f"value-tab-{folder.name}"), tags=tags)
    horizon_predictions().to_parquet(folder / "predictions.parquet", index=False)
    metrics = pd.DataFrame(
        [(h, m, 1.0 + i, 0.5 + i, 1.5 + i, 400, 0.9, "") for h in HORIZONS for i, m in enumerate(("rmse", "mae", "r2", "rmsle"))],
        columns=["horizon", "metric", "value", "lo", "hi", "rows", "mature_share", "note"],
    )
    metrics.loc[metrics["horizon"] == "revenue_d7", "value"] *= 10  # tells the horizons apart on screen
    metrics.to_parquet(folder / "value_metrics.parquet", index=False)
    for name in ("predictions.parquet", "value_metrics.parquet"):
        client.log_artifact(made.info.run_id, str(folder / name))
    client.set_terminated(made.info.run_id, "FINISHED")
    return made.info.run_id


def test_a_run_without_a_value_stage_says_how_to_add_one(train_env, demo_run):
    at = open_value_tab(demo_run)
    assert [i.value for i in at.info] == [HOW_TO_ADD]
    assert "--value-column" in HOW_TO_ADD and "\n" not in HOW_TO_ADD
    assert not at.get("plotly_chart")


def test_the_value_tab_shows_the_numbers_core_computes_per_horizon(train_env, synthetic_horizon_run):
    at = open_value_tab(synthetic_horizon_run)
    frame = diagnose.prepared(runs.predictions(synthetic_horizon_run))  # the page's frame: in score order
    assert at.selectbox(key="diag.value_horizon").value == "revenue_d30"  # the headline column first
    assert_shown(at, vd.value_deciles(frame, "revenue_d30"))
    gain = vd.value_gain(frame, "revenue_d30")
    assert vd.capture_words(gain, 0.1) in [m.value.strip("*") for m in at.markdown]
    assert {m.label: m.value for m in at.metric} == {"RMSE": "1", "MAE": "2", "R²": "3", "RMSLE": "4"}
    young = (~frame["mature.revenue_d30"]).sum()
    assert 0 < young < len(frame)
    assert any(f"{young:,} of {len(frame):,} rows left out" in c.value for c in at.caption)
    assert_shown(at, vd.value_residuals_by_segment(frame, "revenue_d30", "country"))
    assert at.selectbox(key="diag.value_segment").options == ["country"]  # value columns are not segments
    table = assert_shown(at, vd.horizon_table(frame, HORIZONS))
    assert table["immature"].tolist() == [False, True, True]
    assert "Immature: revenue_d7, revenue_d30" in at.warning[0].value
    assert len(at.get("plotly_chart")) == 4

    at.selectbox(key="diag.value_horizon").set_value("revenue_d7").run()
    assert not at.exception
    assert_shown(at, vd.value_deciles(frame, "revenue_d7"))
    assert {m.label: m.value for m in at.metric}["RMSE"] == "10"


def test_the_filter_applies_to_the_value_tab(train_env, synthetic_horizon_run):
    at = open_value_tab(synthetic_horizon_run, **{"diag.filters": [("country", "=", "us")]})
    frame = diagnose.prepared(runs.predictions(synthetic_horizon_run))
    kept = frame[frame["country"] == "us"]
    assert_shown(at, vd.value_deciles(kept, "revenue_d30"))


def test_a_trained_value_run_shows_its_logged_metrics_and_core_numbers(train_env, value_run):
    at = open_value_tab(value_run)
    frame = diagnose.prepared(runs.predictions(value_run))
    assert "revenue" not in diagnose.segment_columns(frame) and "expected_value" not in diagnose.segment_columns(frame)
    assert_shown(at, vd.value_deciles(frame, "revenue"))
    assert vd.capture_words(vd.value_gain(frame, "revenue"), 0.1) in [m.value.strip("*") for m in at.markdown]
    logged = runs.value_metrics(value_run).set_index("metric")
    for label, name in (("RMSE", "rmse"), ("MAE", "mae"), ("R²", "r2"), ("RMSLE", "rmsle")):
        assert {m.label: m.value for m in at.metric}[label] == f"{logged.loc[name, 'value']:,.4g}"
    assert not at.get("selectbox") or "diag.value_horizon" not in [s.key for s in at.selectbox]  # one value column: no picker


def test_a_trained_horizon_run_shows_its_horizon_table(train_env, horizon_run):
    at = open_value_tab(horizon_run)
    frame = diagnose.prepared(runs.predictions(horizon_run))
    horizons = ["revenue_d1", "revenue_d7"]
    assert at.selectbox(key="diag.value_horizon").options == horizons
    assert at.selectbox(key="diag.value_horizon").value == "revenue_d7"  # the headline column: the last horizon
    table = assert_shown(at, vd.horizon_table(frame, horizons))
    assert table["immature"].tolist() == [not frame[f"mature.{h}"].all() for h in horizons]
    assert_shown(at, vd.value_deciles(frame, "revenue_d7"))
    none_mature = not frame["mature.revenue_d7"].any()  # the small demo's test split is a few days old
    assert none_mature == any("No row is mature for revenue_d7" in w.value for w in at.warning)
    segments = at.selectbox(key="diag.value_segment").options
    assert not {"revenue_d1", "revenue_d7", "expected_value", "mature.revenue_d7"} & set(segments) and segments

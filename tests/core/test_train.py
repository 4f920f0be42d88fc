"""The training job end to end on a real MLflow store: CLI contract, artifacts, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from core import data, score, train
from core.spec import TrainSpec
from core.training.split import split_labels
from tests.conftest import DEMO_ARGS

FAST = {
    "gbdt": ["--param", "n_estimators=60", "num_leaves=15"],
    "linear": ["--param", "C=0.5"],
    "forest": ["--param", "n_estimators=15", "max_depth=6"],
}


def run_cli(args, capsys):
    code = train.main(args)
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def artifact(run_id, name):
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name)


@pytest.mark.parametrize("family", ["gbdt", "linear", "forest"])
def test_each_family_trains_and_logs_everything(train_env, capsys, family):
    code, result, err = run_cli([*DEMO_ARGS, "--family", family, *FAST[family], "--calibration", "isotonic"], capsys)
    assert code == 0, err
    assert result["status"] == "FINISHED"
    assert set(result["metrics"]) == {"roc_auc", "pr_auc", "log_loss", "brier", "ece"}
    assert sum(result["rows"].values()) == 20_000
    assert result["metrics"]["roc_auc"] > 0.6

    run = mlflow.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["progress"] == 1.0
    assert run.data.tags["wb.family"] == family
    assert run.data.params["model.family"] == family
    assert run.data.metrics["roc_auc"] == pytest.approx(result["metrics"]["roc_auc"])

    predictions = pd.read_parquet(artifact(result["run_id"], "predictions.parquet"))
    assert {"row", "y", "score", "score_raw", "time", "channel", "device"} <= set(predictions.columns)
    assert len(predictions) == result["rows"]["test"]
    assert pd.read_parquet(artifact(result["run_id"], "validation.parquet"))["severity"].isin(["ok", "warning"]).all()
    assert "loaded 20,000 rows" in Path(artifact(result["run_id"], "train.log")).read_text()
    fingerprint = json.loads(Path(artifact(result["run_id"], "fingerprint.json")).read_text())
    assert fingerprint["rows"] == 20_000 and fingerprint["files"] == 21
    shap_values = pd.read_parquet(artifact(result["run_id"], "shap.parquet"))
    assert len(shap_values) == 200 and "shap.channel" in shap_values.columns
    assert set(shap_values["row"]) <= set(predictions["row"])  # the same row keys: SHAP joins to time and segments
    importance = pd.read_parquet(artifact(result["run_id"], "importance.parquet"))
    assert "user_id" not in importance["feature"].tolist()

    # The logged model loads through pyfunc and reproduces the test scores from raw rows.
    spec = TrainSpec.from_file(artifact(result["run_id"], "spec.yaml"))
    features = importance["feature"].tolist()
    frame = data.training_frame(data.connect(), "demo", "converted", [*features, "event_time"])
    labels = split_labels(frame.pop("__target").to_numpy(), frame["event_time"], spec.split.kind, 0.15, 0.15, 0)
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    scores = np.asarray(model.predict(frame.loc[labels == "test", features]))[:, 1]
    np.testing.assert_allclose(scores, predictions["score"], rtol=1e-6)
    assert predictions["row"].tolist() == frame.index[labels == "test"].tolist()


def test_gbdt_contributions_add_up_to_the_raw_log_odds(train_env, capsys):
    code, result, _ = run_cli([*DEMO_ARGS, *FAST["gbdt"]], capsys)
    assert code == 0
    shap_values = pd.read_parquet(artifact(result["run_id"], "shap.parquet"))
    model = mlflow.sklearn.load_model(f"runs:/{result['run_id']}/model")
    features = [c.removeprefix("shap.") for c in shap_values.columns if c.startswith("shap.") and c != "shap._base"]
    p = model.predict_proba(shap_values[features])[:, 1]
    total = shap_values[[f"shap.{f}" for f in features] + ["shap._base"]].sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-total)), p, rtol=1e-6)


def test_undersampling_keeps_scores_calibrated(train_env, capsys, tmp_path):
    spec = TrainSpec.from_dict(
        {"dataset": "demo", "target": "converted", "time_column": "event_time", "features": {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]},
         "model": {"family": "gbdt", "params": {"n_estimators": 60}}, "imbalance": {"method": "undersample", "undersample_rate": 0.25}}
    )  # fmt: skip
    (tmp_path / "spec.yaml").write_text(spec.to_yaml())
    code, result, err = run_cli(["--spec", str(tmp_path / "spec.yaml")], capsys)
    assert code == 0, err
    assert "undersampled negatives to 25%" in err
    predictions = pd.read_parquet(artifact(result["run_id"], "predictions.parquet"))
    # Without the prior correction the mean score would be about 3x the base rate.
    assert predictions["score"].mean() == pytest.approx(predictions["y"].mean(), abs=0.015)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "demo", "--target", "convertd"], "Unknown target column 'convertd'"),
        ([*DEMO_ARGS, "--exclude", "nope"], "Unknown column 'nope'"),
        (["--data", "demo", "--target", "channel"], "not binary"),
        ([*DEMO_ARGS, "--filter", "country = Atlantis"], "No rows of demo have a target after the filter"),
        ([*DEMO_ARGS, "--param", "num_leaves=many"], "num_leaves='many' for gbdt must be of type int"),
        ([*DEMO_ARGS, "--param", "learning_rate=3"], "out of range"),
        ([*DEMO_ARGS, "--param", "depth=3"], "Unknown parameter 'depth'"),
        (["--data", "nowhere", "--target", "y"], "No dataset 'nowhere'"),
        (["--data", "demo", "--target", "converted", "--time-column", "event_time"], "leak (revenue)"),
        (["--spec", "/nonexistent/spec.yaml"], "Cannot read spec file"),
        (["--target", "converted"], "Give --spec FILE, or --data and --target"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_running_run(train_env, capsys, args, message):
    code, result, err = run_cli(args, capsys)
    assert code == 2
    assert result["status"] == "FAILED"
    assert message in result["error"]
    assert err.strip().splitlines()[-1] == f"error: {result['error']}"
    assert "Traceback" not in err
    if result["run_id"]:
        run = mlflow.get_run(result["run_id"])
        assert run.info.status == "FAILED"
        assert message in run.data.tags["wb.error"]


def test_unknown_family_is_refused(train_env, capsys, tmp_path):
    (tmp_path / "spec.yaml").write_text("dataset: demo\ntarget: converted\nmodel: {family: xgboost}\n")
    code, result, _ = run_cli(["--spec", str(tmp_path / "spec.yaml")], capsys)
    assert code == 2 and "Unknown model family 'xgboost'" in result["error"]


def test_list_flags_repeat_and_take_many_values():
    spec, _ = train.parse_args(["--data", "demo", "--target", "y", "--exclude", "a", "b", "--exclude", "c", "--param", "C=2", "--param", "max_iter=9",
                                "--filter", "x = 1", "z in a, b", "--family", "linear"])  # fmt: skip
    assert spec.features.exclude == ["a", "b", "c"]
    assert spec.model.params == {"C": 2, "max_iter": 9}
    assert spec.filter == [("x", "=", "1"), ("z", "in", ("a", "b"))]


MESSY_FEATURES = ["price[usd]", "a,b", 'col "q"', "{x}: y", "select", "größe m²", "it's", "flag on"]


@pytest.fixture
def messy_env(messy_root, store, monkeypatch):
    """Settings for training on the messy table into the session's store."""
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "40")
    return messy_root


def raw_readings(root: Path, file: str) -> dict[str, pd.DataFrame]:
    """The training table as pandas and plain DuckDB read it: int64, Int64 and float64 integers, bool, str, datetime."""
    return {
        "pd.read_csv": pd.read_csv(root / "messy.csv"),
        "pd.read_parquet": pd.read_parquet(root / "messy.parquet"),
        "duckdb .df()": duckdb.sql(f"SELECT * FROM '{root / file}'").df(),
    }


@pytest.mark.parametrize("file", ["messy.csv", "messy.parquet"])
@pytest.mark.parametrize("family", ["gbdt", "linear", "forest", "hashed_sgd"])
def test_any_column_name_trains_and_the_logged_model_takes_the_raw_file(messy_env, capsys, family, file):
    code, result, err = run_cli(
        ["--data", file, "--target", "converted", "--split", "random", "--family", family, *FAST.get(family, [])], capsys
    )
    assert code == 0, err
    run_id = result["run_id"]
    importance = pd.read_parquet(artifact(run_id, "importance.parquet"))
    assert sorted(importance["feature"]) == sorted(MESSY_FEATURES)
    predictions = pd.read_parquet(artifact(run_id, "predictions.parquet"))
    assert {'col "q"', "select", "flag on"} <= set(predictions.columns)
    if family != "hashed_sgd":  # hashed tokens have no per-column SHAP
        shap_columns = [c for c in pd.read_parquet(artifact(run_id, "shap.parquet")).columns if c.startswith("shap.")]
        assert sorted(shap_columns) == sorted([*(f"shap.{c}" for c in MESSY_FEATURES), "shap._base"])

    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert model.metadata.get_input_schema().input_names() == MESSY_FEATURES
    for reader, frame in raw_readings(messy_env, file).items():
        scores = np.asarray(model.predict(frame))[:, 1]
        np.testing.assert_allclose(scores[predictions["row"]], predictions["score"], rtol=0, atol=1e-9, err_msg=reader)


def test_the_spec_filter_and_scoring_keep_the_analysts_column_names(messy_env, capsys, tmp_path):
    spec = TrainSpec.from_dict(
        {"dataset": "messy.csv", "target": "converted", "features": {"exclude": ["a,b"]}, "filter": [['col "q"', "!=", "blue"]],
         "segment_columns": ['col "q"', "select"], "split": {"kind": "random"}, "model": {"family": "gbdt", "params": {"n_estimators": 30}}}
    )  # fmt: skip
    (tmp_path / "spec.yaml").write_text(spec.to_yaml())
    code, result, err = run_cli(["--spec", str(tmp_path / "spec.yaml"), "--filter", '"{x}: y" >= 1'], capsys)
    assert code == 0, err
    table = pd.read_csv(messy_env / "messy.csv")
    kept = table[(table['col "q"'] != "blue") & (table["{x}: y"] >= 1)]
    assert sum(result["rows"].values()) == len(kept)
    logged = TrainSpec.from_file(artifact(result["run_id"], "spec.yaml"))
    assert logged.filter == [('col "q"', "!=", "blue"), ("{x}: y", ">=", "1")]
    assert logged.features.exclude == ["a,b"] and logged.segment_columns == ['col "q"', "select"]
    predictions = pd.read_parquet(artifact(result["run_id"], "predictions.parquet"))
    assert set(predictions['col "q"']) == {"red", "green"}

    out = tmp_path / "scores.parquet"
    args = ["--model", f"runs:/{result['run_id']}/model", "--data", "messy.csv", "--out", str(out), "--threshold", "0.5"]
    code = score.main([*args, "--keys", "price[usd]", "it's", "--filter", '"col ""q""" = red'])
    assert code == 0, capsys.readouterr().err
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["price[usd]", "it's", "score", "decision"]
    red = table[table['col "q"'] == "red"]
    expected = np.asarray(mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model").predict(red))[:, 1]
    np.testing.assert_allclose(scored["score"], expected, rtol=0, atol=1e-12)
    assert scored["price[usd]"].tolist() == red["price[usd]"].tolist()


LOAD_ELSEWHERE = """
import importlib.util, json, sys
assert importlib.util.find_spec("models") is None and importlib.util.find_spec("core") is None, "the checkout is reachable"
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
scores = model.predict(pd.read_parquet(sys.argv[2]))
import models
import core.cluster.frame  # a Dask worker that scored, then prepares training data: `core` is the model's whole copy
print(json.dumps({"scores": pd.DataFrame(scores).iloc[:, -1].tolist(), "models": models.__file__, "core": core.cluster.frame.__file__}))
"""


def test_a_logged_model_loads_and_predicts_where_this_checkout_is_not(train_env, demo_run, tmp_path):
    local = mlflow.artifacts.download_artifacts(f"runs:/{demo_run}/model", dst_path=str(tmp_path / "downloaded"))
    rows = pd.read_parquet(train_env / "demo").head(300)
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    here = mlflow.pyfunc.load_model(local).predict(rows)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -I: no PYTHONPATH, no user site, no script folder; the working directory holds nothing of the checkout.
    done = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_ELSEWHERE, local, str(tmp_path / "rows.parquet")],
        cwd=elsewhere, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["models"]).is_relative_to(local)  # the model's own copy of models/, logged with it
    assert Path(found["core"]).is_relative_to(local)
    np.testing.assert_allclose(found["scores"], pd.DataFrame(here).iloc[:, -1], rtol=0, atol=1e-12)

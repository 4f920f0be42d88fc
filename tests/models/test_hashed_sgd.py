"""Hashed SGD: tokens, streaming training through core.train, and resume after an interruption."""

import json
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import jobs, train
from core.errors import SpecError
from core.spec import TrainSpec
from models.hashed_sgd import HashedSGDClassifier, parse_crosses
from tests.conftest import DEMO_ARGS


def test_tokens_cover_text_numbers_missing_and_crosses():
    model = HashedSGDClassifier(numeric=("spend",), crosses="device*channel")
    frame = pd.DataFrame({"device": ["mobile", None], "channel": ["search", "email"], "spend": [0.0, np.nan]})
    assert model.tokens(frame) == [
        ("device=mobile", "channel=search", "spend=0", "device*channel=mobile|search"),
        ("device=NA", "channel=email", "spend=NA", "device*channel=NA|email"),
    ]


def test_bad_crosses_are_named():
    assert parse_crosses("a*b, c * d") == [("a", "b"), ("c", "d")]
    with pytest.raises(Exception, match="column\\*column"):
        parse_crosses("a+b")


def test_streams_batches_and_logs_a_pyfunc_model(train_env, capsys):
    args = [*DEMO_ARGS, "--family", "hashed_sgd", "--param", "batch_rows=3000", "crosses=device*channel", "--calibration", "isotonic"]
    code = train.main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert sum(result["rows"].values()) == 20_000
    assert result["metrics"]["roc_auc"] > 0.6
    assert "epoch 1/1 batch 7" in err
    run = mlflow.get_run(result["run_id"])
    assert run.data.tags["wb.shap"].startswith("none: hashed tokens")
    predictions = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path="predictions.parquet"))
    assert len(predictions) == result["rows"]["test"]
    assert predictions["row"].is_unique and predictions["row"].is_monotonic_increasing  # positions in the data
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    example_path = mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path="model/input_example.json")
    example = json.loads(Path(example_path).read_text())
    assert model.predict(pd.DataFrame(**example)).shape == (5, 2)


def _coefficients(run_id):
    model = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    return model.model_.coef_[0], model.model_.intercept_[0]


@pytest.mark.slow
def test_a_resumed_job_ends_with_the_same_coefficients(train_env, capsys):
    spec = TrainSpec.from_dict(
        {"dataset": "demo", "target": "converted", "time_column": "event_time", "features": {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]},
         "model": {"family": "hashed_sgd", "params": {"batch_rows": 1000, "epochs": 20, "checkpoint_every": 5}}}
    )  # fmt: skip
    whole = train.train(spec)
    run_id = jobs.launch(spec)
    deadline = time.monotonic() + 120
    while not mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="checkpoint"):
        assert time.monotonic() < deadline, jobs.log_tail(run_id)
        time.sleep(0.2)
    jobs.cancel(run_id)
    assert mlflow.get_run(run_id).info.status == "KILLED"
    capsys.readouterr()
    assert train.main(["--resume", run_id]) == 0
    out, err = capsys.readouterr()
    assert "resuming after epoch" in err
    assert mlflow.get_run(run_id).info.status == "FINISHED"
    coef, intercept = _coefficients(run_id)
    whole_coef, whole_intercept = _coefficients(whole["run_id"])
    np.testing.assert_array_equal(coef, whole_coef)
    assert intercept == whole_intercept


def test_resume_of_a_run_without_checkpoint_is_refused(train_env, capsys):
    code = train.main([*DEMO_ARGS, "--param", "n_estimators=20"])
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    assert code == 0
    assert train.main(["--resume", run_id]) == 2
    assert "only hashed_sgd jobs save a checkpoint" in capsys.readouterr().out
    assert mlflow.get_run(run_id).info.status == "FINISHED"


def test_a_cross_naming_a_column_that_is_not_a_feature_says_which():
    frame = pd.DataFrame({"x": ["a", "b", "a", "b"], "device": ["m", "d", "m", "d"]})
    with pytest.raises(SpecError) as refused:
        HashedSGDClassifier(crosses="x*nope").fit(frame, [0, 1, 0, 1])
    assert str(refused.value) == "Cross 'x*nope' names 'nope', which is not a feature of this run; cross two of: x, device."


def test_the_calibration_wrapper_keeps_the_module_path_logged_models_pickle():
    """Registered hashed_sgd models unpickle `core.stream.ScoreCalibrated`; moving the class breaks their loading."""
    from core.stream import ScoreCalibrated

    assert (ScoreCalibrated.__module__, ScoreCalibrated.__qualname__) == ("core.stream", "ScoreCalibrated")

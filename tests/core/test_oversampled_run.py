"""Real training runs with SMOTE-family oversampling: synthetic rows reach the fit only, never valid, test or CV blocks."""

import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import runs, tracking, train
from core.diagnostics import metrics
from core.errors import SpecError
from core.progress import Log
from core.spec import TrainSpec
from core.training.prepare import connect_and_prepare
from tests.conftest import DEMO_ARGS


def artifact(run_id, name):
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name)


def test_synthetic_rows_reach_only_the_training_fit(train_env, smote_run):
    run = tracking.client().get_run(smote_run)
    found = run.data.metrics
    _, prep = connect_and_prepare(TrainSpec.from_file(artifact(smote_run, "spec.yaml")), Log(io.StringIO()))
    count = {part: int((prep.labels == part).sum()) for part in ("train", "valid", "test")}
    positives = {part: int(prep.y[prep.labels == part].sum()) for part in count}
    for part in ("valid", "test"):  # the splits as scored: observed rows only
        assert found[f"{part}_rows"] == count[part]
        assert found[f"{part}_base_rate"] == positives[part] / count[part]
    predictions = runs.predictions(smote_run)
    assert sorted(predictions["row"]) == sorted(prep.frame.index[prep.labels == "test"])  # no synthetic row among them
    # The final fit saw the training rows plus as many synthetic positives as make the classes equal (imblearn's "auto").
    with open(artifact(smote_run, "train.log")) as log:
        assert f"oversampled positives (smote): {2 * (count['train'] - positives['train']):,} training rows" in log.read()
    # Each of the 2 folds oversampled its own training rows; the validation blocks together are the observed rows.
    folds = pd.read_parquet(artifact(smote_run, "cv.parquet"))
    assert folds["valid_rows"].sum() == count["train"] + count["valid"]
    assert folds["valid_positives"].sum() == positives["train"] + positives["valid"]
    assert run.data.params["calibration"] == "isotonic" and run.data.tags["wb.imbalance"] == "smote"
    # The raw scores' ECE and mean, logged for the words on the pages.
    assert found["test_ece_raw"] == metrics.ece(predictions["y"], predictions["score_raw"])
    assert found["test_mean_score_raw"] == pytest.approx(predictions["score_raw"].mean(), rel=1e-12)
    assert found["test_ece_raw"] > 0.2 > found["ece"]  # linear on balanced rows: raw scores far too high


def test_too_few_positives_for_smote_is_one_line_and_exit_2(tiny_root, store, monkeypatch, capsys):
    monkeypatch.setenv("WB_DATA_ROOT", str(tiny_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    args = ["--data", "tiny.parquet", "--target", "converted", "--features", "hour", "spend", "--split", "random"]
    code = train.main([*args, "--family", "linear", "--imbalance", "smote"])
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 2 and "Traceback" not in err
    assert result["error"].startswith("Oversampling (smote) needs at least 6 training rows of class")
    assert mlflow.get_run(result["run_id"]).info.status == "FAILED"


@pytest.mark.parametrize("method", ["borderline_smote", "adasyn"])
def test_any_column_name_trains_with_oversampling_and_the_model_takes_the_raw_file(messy_root, store, monkeypatch, capsys, method):
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "40")
    args = ["--data", "messy.parquet", "--target", "converted", "--split", "random", "--imbalance", method]
    code = train.main([*args, "--param", "n_estimators=30", "num_leaves=7"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    predictions = runs.predictions(run_id)
    raw = pd.read_parquet(messy_root / "messy.parquet")
    scores = np.asarray(mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(raw.drop(columns=["converted"])))[:, 1]
    np.testing.assert_allclose(scores[predictions["row"]], predictions["score"], rtol=0, atol=1e-9)


def test_streaming_and_the_dask_engine_refuse_oversampling_in_one_line(train_env, capsys):
    code = train.main([*DEMO_ARGS, "--family", "hashed_sgd", "--imbalance", "adasyn"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert (
        json.loads(out.strip().splitlines()[-1])["error"]
        == "hashed_sgd streams its data, so it cannot oversample (adasyn); use undersample."
    )
    with pytest.raises(SpecError, match=r"^The dask engine does not oversample; use engine local for smote, or undersample\.$"):
        TrainSpec.from_dict({"dataset": "demo", "target": "converted", "engine": "dask", "imbalance": {"method": "smote"}})

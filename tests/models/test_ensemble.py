"""The ensemble family: average of calibrated members, stacking on out-of-fold scores, bagged hashed SGD, and a real job."""

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

import models
from core import tracking, train
from core.errors import SpecError
from core.settings import PROJECT
from core.spec import TrainSpec
from models import ensemble
from models.ensemble import EnsembleClassifier, fold_numbers
from models.gbdt import GBDTClassifier
from models.hashed_sgd import HashedSGDClassifier
from models.linear import LinearClassifier
from tests.conftest import messy_frame

FEATURES = ["price[usd]", "a,b", 'col "q"', "{x}: y", "select", "größe m²", "it's", "flag on"]


@pytest.fixture(scope="module")
def parts():
    """The messy table's features cut into train (360), valid (120) and test (120) rows."""
    frame = messy_frame()
    X, y = frame[FEATURES], frame["converted"].to_numpy()
    return (X.iloc[:360], y[:360]), (X.iloc[360:480], y[360:480]), (X.iloc[480:], y[480:])


def small_members():
    return [("gbdt", GBDTClassifier(n_estimators=30, min_child_samples=20)), ("linear", LinearClassifier())]


def quick_members():
    """Members without LightGBM's threads: the stacking test fits them six times each."""
    return [("linear", LinearClassifier()), ("hashed_sgd", HashedSGDClassifier(n_features_log2=16, numeric=("a,b", "größe m²")))]


def spec_of(**given) -> TrainSpec:
    return TrainSpec.from_dict({"dataset": "messy.parquet", "target": "converted", **given})


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_average_is_the_mean_of_the_members_calibrated_probabilities(parts, method):
    (X, y), (X_valid, y_valid), (X_test, _) = parts
    model = EnsembleClassifier(small_members(), method="average", calibration=method).fit(X, y, eval_set=(X_valid, y_valid))
    by_hand = [
        CalibratedClassifierCV(FrozenEstimator(member), method=method).fit(X_valid, y_valid).predict_proba(X_test)[:, 1]
        for _, member in model.estimators_
    ]
    np.testing.assert_allclose(model.predict_proba(X_test)[:, 1], np.mean(by_hand, axis=0), rtol=0, atol=1e-15)
    # The members are the families fitted alone: the linear one to the last bit.
    alone = LinearClassifier().fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(model.estimators_[1][1].predict_proba(X_test), alone)
    assert not hasattr(model, "contributions") and "permutation" in model.shap_note


def test_average_members_use_the_specs_calibration_or_sigmoid_when_it_is_none():
    params = models.resolve_params(ensemble, {"members": " gbdt , forest ,linear"})
    assert ensemble.build(params, spec_of(calibration="isotonic")).calibration == "isotonic"
    built = ensemble.build(params, spec_of(calibration="none", seed=4))
    assert built.calibration == "sigmoid" and built.random_state == 4
    assert [name for name, _ in built.estimators] == ["gbdt", "forest", "linear"]
    assert [member.random_state for _, member in built.estimators] == [4, 4, 4]
    assert built.estimators[0][1].n_estimators == 600  # each member keeps its family's defaults


def test_stacking_meta_model_learns_from_out_of_fold_scores_only(parts):
    (X, y), (X_valid, y_valid), (X_test, _) = parts
    members = [(name, member.set_params(numeric=())) if name == "hashed_sgd" else (name, member) for name, member in quick_members()]
    model = EnsembleClassifier(members, method="stacking", stack_folds=5, random_state=3).fit(X, y, eval_set=(X_valid, y_valid))

    # Fold assignment: every row in one fold, the class ratio kept to ±1 row per fold.
    number = fold_numbers(y, 5, 3)
    assert np.ptp(np.bincount(number)) <= 1 and len(number) == 360
    positives = [int(y[number == k].sum()) for k in range(5)]
    assert max(positives) - min(positives) <= 1
    # By hand: each fold's rows scored by members fitted on the other four folds.
    oof = np.empty((len(y), 2))
    for fit_rows, held_out in StratifiedKFold(5, shuffle=True, random_state=3).split(X, y):
        assert (number[held_out] == number[held_out][0]).all() and not np.isin(fit_rows, held_out).any()
        for column, (_, member) in enumerate(quick_members()):  # the float columns bucketed, as the ensemble finds them
            member.fit(X.iloc[fit_rows], y[fit_rows], eval_set=(X_valid, y_valid))
            oof[held_out, column] = member.predict_proba(X.iloc[held_out])[:, 1]
    logit = np.log(oof / (1 - oof))
    meta = LogisticRegression(random_state=3).fit(logit, y)
    assert model.meta_.n_features_in_ == 2
    np.testing.assert_allclose(model.meta_.coef_, meta.coef_, rtol=1e-12)
    np.testing.assert_allclose(model.meta_.intercept_, meta.intercept_, rtol=1e-12)
    # In-sample scores of the refitted members would differ: the meta-model did not see them.
    in_sample = np.column_stack([m.predict_proba(X)[:, 1] for _, m in model.estimators_])
    assert np.abs(in_sample - oof).max() > 0.01
    # Then the members are refitted on every training row and their log-odds go through the meta-model.
    scores = np.column_stack([m.predict_proba(X_test)[:, 1] for _, m in model.estimators_])
    expected = meta.predict_proba(np.log(scores / (1 - scores)))[:, 1]
    np.testing.assert_allclose(model.predict_proba(X_test)[:, 1], expected, rtol=1e-12)


def test_stacking_of_log_odds_members_has_contributions_adding_up_to_its_log_odds(parts):
    (X, y), valid, (X_test, _) = parts
    model = EnsembleClassifier(small_members(), method="stacking", stack_folds=3).fit(X, y, eval_set=valid)
    assert model.shap_note is None
    values = model.contributions(X_test)
    assert list(values.columns) == [*FEATURES, "_base"]
    p = model.predict_proba(X_test)[:, 1]
    np.testing.assert_allclose(values.sum(axis=1), np.log(p / (1 - p)), rtol=0, atol=1e-9)
    with_forest = EnsembleClassifier([*small_members(), ("forest", models.family("forest").build({}, spec_of()))], method="stacking")
    assert not hasattr(with_forest, "contributions") and "forest" in with_forest.shap_note


def test_bagged_sgd_members_differ_in_seed_and_hash_size_and_are_averaged(parts):
    (X, y), valid, (X_test, _) = parts
    params = models.resolve_params(ensemble, {"method": "bagged_sgd", "bags": 5})
    model = ensemble.build(params, spec_of(seed=7)).set_params(batch_rows=100)  # four batches of the 360 rows
    assert [(m.random_state, m.n_features_log2) for _, m in model.estimators] == [(7, 18), (8, 19), (9, 20), (10, 21), (11, 18)]
    model.fit(X, y, eval_set=valid)
    probabilities = [member.predict_proba(X_test)[:, 1] for _, member in model.estimators_]
    np.testing.assert_allclose(model.predict_proba(X_test)[:, 1], np.mean(probabilities, axis=0), rtol=0, atol=1e-15)
    assert len({p.round(12).tobytes() for p in probabilities}) == 5
    # A member is hashed SGD fitted batch by batch, with float columns bucketed as the streaming family does.
    alone = HashedSGDClassifier(n_features_log2=19, numeric=("a,b", "größe m²"), random_state=8)
    for start in range(0, 360, 100):
        alone.partial_fit(X.iloc[start : start + 100], y[start : start + 100])
    np.testing.assert_array_equal(model.estimators_[1][1].predict_proba(X_test), alone.predict_proba(X_test))
    assert not hasattr(model, "contributions") and "hashed" in model.shap_note


@pytest.mark.parametrize(
    "members, message",
    [
        ("gbdt", "two or more members"),
        ("", "two or more members"),
        ("gbdt,gbdt", "name a family twice"),
        ("gbdt,ensemble", "cannot be a member of an ensemble"),
        ("gbdt,xgboost", "'xgboost' is not a model family; use two or more of: gbdt, linear, forest, hashed_sgd"),
    ],
)
def test_bad_members_are_refused_with_one_line(members, message):
    with pytest.raises(SpecError, match=message) as found:
        models.resolve_params(ensemble, {"members": members})
    assert "\n" not in str(found.value)


def test_bagged_sgd_ignores_members_and_average_refuses_undersampling():
    assert models.resolve_params(ensemble, {"method": "bagged_sgd", "members": "hashed_sgd"})["bags"] == 4
    params = models.resolve_params(ensemble, {})
    with pytest.raises(SpecError, match="use method stacking, or imbalance class_weight"):
        ensemble.build(params, spec_of(imbalance={"method": "undersample"}))


@pytest.fixture
def messy_store(messy_root, store, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "40")
    tracking.client()  # this process reads the job's store too: mlflow's global URI may still name an earlier test's
    return messy_root


def artifact(run_id: str, name: str) -> str:
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name)


def check_logged_model(run_id: str, root) -> pd.DataFrame:
    """The logged model, through plain pyfunc, gives the logged test scores from the raw file's rows; returns predictions."""
    predictions = pd.read_parquet(artifact(run_id, "predictions.parquet"))
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    scores = np.asarray(model.predict(pd.read_parquet(root / "messy.parquet")))[:, 1]
    np.testing.assert_allclose(scores[predictions["row"]], predictions["score"], rtol=0, atol=1e-9)
    return predictions


def test_a_real_ensemble_job_logs_permutation_importance_and_a_pyfunc_model(messy_store):
    args = ["--data", "messy.parquet", "--target", "converted", "--split", "random", "--family", "ensemble"]
    done = subprocess.run(
        [sys.executable, "-m", "core.train", *args, "--param", "members=gbdt,linear", "method=average"],
        cwd=PROJECT, env=os.environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "FINISHED" and result["metrics"]["roc_auc"] > 0.7
    run = mlflow.get_run(result["run_id"])
    assert run.data.tags["wb.family"] == "ensemble" and run.data.params["param.members"] == "gbdt,linear"
    importance = pd.read_parquet(artifact(result["run_id"], "importance.parquet"))
    assert sorted(importance["feature"]) == sorted(FEATURES) and importance["importance"].notna().all()
    assert importance.iloc[0]["feature"] in ("größe m²", 'col "q"')  # the two columns `converted` follows
    assert "permutation" in run.data.tags["wb.shap"]
    assert "shap.parquet" not in [f.path for f in mlflow.MlflowClient().list_artifacts(result["run_id"])]
    check_logged_model(result["run_id"], messy_store)


def test_bad_members_on_the_command_line_exit_2_with_one_line(messy_store, capsys):
    code = train.main(["--data", "messy.parquet", "--target", "converted", "--family", "ensemble", "--param", "members=gbdt"])
    out, err = capsys.readouterr()
    assert code == 2 and err.strip().splitlines() == ["error: An ensemble needs two or more members, e.g. members=gbdt,linear; got 'gbdt'."]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "FAILED"


@pytest.mark.slow
def test_a_stacking_job_logs_shap_adding_up_to_the_raw_log_odds(messy_store, capsys):
    args = ["--data", "messy.parquet", "--target", "converted", "--split", "random", "--family", "ensemble"]
    code = train.main([*args, "--param", "method=stacking", "stack_folds=3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    predictions = check_logged_model(run_id, messy_store).set_index("row")
    shap = pd.read_parquet(artifact(run_id, "shap.parquet")).set_index("row")
    assert len(shap) == 40
    raw = predictions.loc[shap.index, "score_raw"]
    total = shap[[c for c in shap.columns if c.startswith("shap.")]].sum(axis=1)
    np.testing.assert_allclose(total, np.log(raw / (1 - raw)), rtol=0, atol=1e-6)

"""The dask training engine on a real LocalCluster: same splits, artifacts and model kind as the local engine."""

import contextlib
import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from core import train
from core.cluster import fit as dask_fit
from core.cluster import frame as frames
from core.training.split import split_labels
from models.gbdt import GBDTClassifier
from tests.conftest import DEMO_ARGS

FAST = ["--param", "n_estimators=60", "num_leaves=15", "--calibration", "isotonic"]
MESSY_FEATURES = ["price[usd]", "a,b", 'col "q"', "{x}: y", "select", "größe m²", "it's", "flag on"]


@pytest.fixture(scope="module")
def cluster(dask_scheduler):
    """The session's LocalCluster of 2 one-thread worker processes (tests/conftest.py)."""
    return dask_scheduler


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    monkeypatch.setenv("WB_DASK_SCHEDULER", cluster)
    return cluster


def cli(args) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = train.main(args)
    return code, json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def artifacts(run_id: str) -> set[str]:
    return {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}


def artifact(run_id, name):
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name)


# -- the pieces, exactly ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 10, 101, 1000, 20_000, 999_983])
@pytest.mark.parametrize("fractions", [(0.15, 0.15), (0.1, 0.2), (0.05, 0.45), (1 / 3, 0.3)])
def test_time_cutoffs_are_numpys_quantiles_and_keep_the_local_splits_rows(n, fractions):
    valid, test = fractions
    rng = np.random.default_rng(n)
    times = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 10**6, n)), unit="s"))
    expected = split_labels(np.zeros(n), times, "temporal", valid, test, 0)
    ns = times.to_numpy().astype("datetime64[ns]").astype("int64")
    cuts = [frames.quantile(n, q, lambda lo, hi: (ns[lo], ns[hi])) for q in (1 - valid - test, 1 - test)]
    assert cuts == np.quantile(ns, [1 - valid - test, 1 - test]).tolist()
    found = frames.split_part(pd.DataFrame({"t": times}), frames.SplitPlan("temporal", "t", tuple(cuts)), 0)[frames.SPLIT]
    assert np.array(frames.PARTS)[found].tolist() == expected.tolist()


@pytest.mark.parametrize("n", [20, 99, 1000, 20_000, 33_333])
def test_split_counts_are_scikit_learns(n):
    index = np.arange(n)
    rest, test = train_test_split(index, test_size=0.15, random_state=0)
    _, valid = train_test_split(rest, test_size=0.15 / (1 - 0.15), random_state=0)
    assert frames.split_counts(n, 0.15, 0.15) == (len(valid), len(test))


def test_best_round_and_round_losses_are_lightgbms_early_stopping():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(["x", "y", "z"], 3000)})
    y = (X["a"] + (X["b"] == "x") + rng.normal(scale=2, size=3000) > 1).astype(int).to_numpy()
    train_rows, valid_rows = slice(0, 2000), slice(2000, 3000)
    model = GBDTClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=10, min_child_samples=5)
    model.fit(X[train_rows], y[train_rows], eval_set=(X[valid_rows], y[valid_rows]))
    curve = np.asarray(model.model_.evals_result_["valid_0"]["binary_logloss"])
    assert dask_fit.best_round(curve, 10) == model.model_.best_iteration_

    part = X[valid_rows].assign(**{frames.TARGET: y[valid_rows]})
    sums = dask_fit.round_losses(part, model, model.model_.booster_, dask_fit.leaf_table(model.model_.booster_))[0]
    assert sums[-1] == 1000
    kept = model.model_.best_iteration_  # the fitted booster keeps the best rounds only
    assert len(sums) - 1 == kept < len(curve)
    np.testing.assert_allclose(sums[:-1] / sums[-1], curve[:kept], rtol=1e-9)


def test_the_hash_draw_is_uniform_and_seeded():
    keys = np.arange(100_000)
    u = frames.mix(keys, 0)
    assert u.min() >= 0 and u.max() < 1
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 9_700
    assert (frames.mix(keys, 0) == u).all() and not (frames.mix(keys, 1) == u).all()


def test_pushdown_keeps_only_what_pyarrow_prunes_by():
    cols = {"country": "VARCHAR", "visits": "BIGINT", "event_time": "TIMESTAMP", "p": "VARCHAR"}
    filters = [("country", "in", ("US", "GB")), ("visits", "between", ("1", "5")), ("country", "!=", "FR"), ("event_time", ">", "2026-01-01"),
               ("p", "=", "x"), ("visits", "=", "many")]  # fmt: skip
    found = frames.pushdown(filters, cols, {"country", "visits", "event_time"})
    assert found == [("country", "in", ["US", "GB"]), ("visits", ">=", 1.0), ("visits", "<=", 5.0)]


# -- whole runs ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def temporal_pair(cluster, demo_root, store):
    """(local result, dask result) of one spec, temporal split, on the small demo."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(demo_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("WB_SHAP_ROWS", "200")
        env.setenv("WB_DASK_SCHEDULER", cluster)
        local = cli([*DEMO_ARGS, *FAST])
        dask = cli([*DEMO_ARGS, *FAST, "--engine", "dask"])
    return local, dask


@pytest.mark.slow
def test_a_dask_run_is_an_ordinary_run_with_the_local_splits(temporal_pair, train_env):
    (code_local, local, _), (code, found, err) = temporal_pair
    assert code_local == 0 and code == 0, err
    assert set(found) == set(local) and set(found["metrics"]) == set(local["metrics"])
    assert found["rows"] == local["rows"] == {"train": 14_000, "valid": 3_000, "test": 3_000}
    assert found["metrics"]["roc_auc"] == pytest.approx(local["metrics"]["roc_auc"], abs=0.02)
    assert artifacts(found["run_id"]) == artifacts(local["run_id"])
    run = mlflow.get_run(found["run_id"])
    assert run.data.tags["wb.engine"] == "dask" and mlflow.get_run(local["run_id"]).data.tags["wb.engine"] == "local"
    assert run.data.params["engine"] == "dask"
    assert "kept" in err and "rounds (early stopping on the valid log loss" in err

    predictions = pd.read_parquet(artifact(found["run_id"], "predictions.parquet"))
    local_predictions = pd.read_parquet(artifact(local["run_id"], "predictions.parquet"))
    assert list(predictions.columns) == list(local_predictions.columns)
    assert len(predictions) == 3_000 and predictions["row"].is_unique
    assert predictions["time"].min() == local_predictions["time"].min()  # the same test rows: the newest 3,000
    shap_values = pd.read_parquet(artifact(found["run_id"], "shap.parquet"))
    assert len(shap_values) == 200 and set(shap_values["row"]) <= set(predictions["row"])

    # The logged model is the local engine's kind and predicts on the raw training files with plain pyfunc.
    sk_model = mlflow.sklearn.load_model(f"runs:/{found['run_id']}/model")
    assert isinstance(sk_model.estimator.estimator, GBDTClassifier)
    params = sk_model.estimator.estimator.model_.booster_.params
    assert not {"machines", "num_threads", "tree_learner", "time_out", "local_listen_port"} & set(params)
    raw = pd.read_parquet(train_env / "demo")
    scores = np.asarray(mlflow.pyfunc.load_model(f"runs:/{found['run_id']}/model").predict(raw))[:, 1]
    np.testing.assert_allclose(scores[predictions["row"]], predictions["score"], rtol=0, atol=1e-9)


@pytest.mark.slow
def test_stratified_keeps_the_local_row_counts_and_class_ratio_per_split(train_env, on_cluster):
    # The module's cluster: a second LocalCluster started in this process (no WB_DASK_SCHEDULER) hung in its first
    # compute with no worker processes, twice; alone it passes (a job process holds one cluster).
    args = [*DEMO_ARGS, *FAST, "--split", "stratified"]
    code_local, local, _ = cli(args)
    code, found, err = cli([*args, "--engine", "dask"])
    assert code_local == 0 and code == 0, err
    assert found["rows"] == local["rows"]
    positives = [pd.read_parquet(artifact(r["run_id"], "predictions.parquet"))["y"].sum() for r in (local, found)]
    assert abs(positives[0] - positives[1]) <= 2
    # Different test rows (each engine draws its own): ~150 positives put a standard error of ~0.025 on each AUC.
    assert found["metrics"]["roc_auc"] == pytest.approx(local["metrics"]["roc_auc"], abs=0.08)


@pytest.fixture
def messy_dask(messy_root, store, on_cluster, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "40")
    return messy_root


@pytest.mark.slow
@pytest.mark.parametrize("imbalance", ["none", "undersample"])
def test_hostile_column_names_train_on_dask(messy_dask, tmp_path, imbalance):
    spec = (f"dataset: messy.parquet\ntarget: converted\nsplit: {{kind: random}}\nengine: dask\nimbalance: {{method: {imbalance}}}\n"
            "model: {family: gbdt, params: {n_estimators: 30}}\ncalibration: sigmoid\n")  # fmt: skip
    (tmp_path / "spec.yaml").write_text(spec)
    code, result, err = cli(["--spec", str(tmp_path / "spec.yaml")])
    assert code == 0, err
    assert result["rows"] == {"train": 420, "valid": 90, "test": 90}  # scikit-learn's counts for 600 rows
    run_id = result["run_id"]
    assert sorted(pd.read_parquet(artifact(run_id, "importance.parquet"))["feature"]) == sorted(MESSY_FEATURES)
    shap_columns = [c for c in pd.read_parquet(artifact(run_id, "shap.parquet")).columns if c.startswith("shap.")]
    assert sorted(shap_columns) == sorted([*(f"shap.{c}" for c in MESSY_FEATURES), "shap._base"])
    predictions = pd.read_parquet(artifact(run_id, "predictions.parquet"))
    assert {'col "q"', "select", "flag on"} <= set(predictions.columns)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert model.metadata.get_input_schema().input_names() == MESSY_FEATURES
    scores = np.asarray(model.predict(pd.read_parquet(messy_dask / "messy.parquet")))[:, 1]
    np.testing.assert_allclose(scores[predictions["row"]], predictions["score"], rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["names_brackets.parquet", "times_tz.parquet", "names_case.parquet"])
def test_hostile_corpus_files_train_on_dask_or_say_why(hostile_root, hostile_env, on_cluster, case):
    from tests.hostile import CASES

    found = next(c for c in CASES if c.name == case)
    args = ["--data", case, "--target", found.target, "--engine", "dask", "--param", "n_estimators=20"]
    code, result, err = cli([*args, *(["--time-column", found.time_column] if found.time_column else [])])
    if case == "names_case.parquet":  # DuckDB names the second 'spend' 'spend_1', which the files do not hold
        assert code == 2 and "rename it in the file" in result["error"] and "Traceback" not in err
        return
    assert code == 0, err
    assert sum(result["rows"].values()) == hostile_root[1][case].labelled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "messy.csv", "--target", "converted", "--engine", "dask"], "The dask engine reads parquet; messy.csv is CSV"),
        (["--data", "messy.parquet", "--target", "converted", "--engine", "dask", "--family", "linear"], "The dask engine trains gbdt only"),
        (["--data", "messy.parquet", "--target", "converted", "--engine", "dask", "--n-trials", "3"], "no parameter search"),
        (["--data", "messy.parquet", "--target", "converted", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler is for --engine dask"),
        (["--data", "messy.parquet", "--target", "converted", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"],
         "Cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    ],
)  # fmt: skip
def test_what_the_dask_engine_refuses_is_one_line_and_exit_2(messy_root, store, monkeypatch, args, message):
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    code, result, err = cli(args)
    assert code == 2 and message in result["error"], result
    assert err.strip().splitlines()[-1] == f"error: {result['error']}" and "Traceback" not in err
    if result.get("run_id"):
        assert mlflow.get_run(result["run_id"]).info.status == "FAILED"


def test_the_spec_takes_the_engine_and_refuses_others(tmp_path):
    from core.errors import SpecError
    from core.spec import TrainSpec

    spec = TrainSpec.from_dict({"dataset": "d", "target": "y", "engine": "dask"})
    assert TrainSpec.from_yaml(spec.to_yaml()).engine == "dask" and "engine: dask" in spec.to_yaml()
    assert TrainSpec.from_dict({"dataset": "d", "target": "y"}).engine == "local"
    with pytest.raises(SpecError, match="`engine` must be one of local, dask; got 'spark'"):
        TrainSpec.from_dict({"dataset": "d", "target": "y", "engine": "spark"})
    with pytest.raises(SpecError, match="The dask engine trains gbdt only; use engine local for hashed_sgd"):
        TrainSpec.from_dict({"dataset": "d", "target": "y", "engine": "dask", "model": {"family": "hashed_sgd"}})

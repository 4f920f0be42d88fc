"""Paths and trust: datasets only under the data root, models only from this tracking store, artifacts only the run's own."""

import json
import os

import mlflow
import pytest
from sklearn.linear_model import LogisticRegression

from core import data, runs, score, tracking, train
from core.errors import DataError, RegistryError
from tests.conftest import TINY


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A data root holding ok.parquet and links out of it, beside an outside folder holding secret.parquet."""
    root, outside = tmp_path_factory.mktemp("trust_root"), tmp_path_factory.mktemp("trust_outside")
    TINY.to_parquet(root / "ok.parquet", index=False)
    TINY.to_parquet(outside / "secret.parquet", index=False)
    os.symlink(outside / "secret.parquet", root / "file-link.parquet")
    os.symlink(outside, root / "folder-link")
    names = [
        os.path.relpath(outside / "secret.parquet", root),  # ../trust_outside0/secret.parquet
        f"ok.parquet/../{os.path.relpath(outside, root)}/secret.parquet",
        str(outside / "secret.parquet"),  # absolute
        "/etc/passwd",
        "file-link.parquet",
        "folder-link/secret.parquet",
        "folder-link",
    ]
    return {"root": root, "outside": outside, "names": names}


def test_data_columns_refuse_every_path_out_of_the_root(hostile):
    con = data.connect(hostile["root"])
    assert "converted" in data.columns(con, "ok.parquet")
    for name in hostile["names"]:
        with pytest.raises(DataError, match="is outside the data root"):
            data.columns(con, name)


def last_json(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


def test_train_and_score_refuse_every_path_out_of_the_root(hostile, store, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(hostile["root"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    for name in hostile["names"]:
        assert train.main(["--data", name, "--target", "converted"]) == 2
        result, err = last_json(capsys)
        assert err.count("\n") == 1 and err.startswith(f"error: Dataset {name!r} is outside the data root")
        assert result["status"] == "FAILED" and "outside the data root" in result["error"]
        out = tmp_path / "scores.parquet"
        assert score.main(["--model", "models:/any@champion", "--data", name, "--out", str(out)]) == 2
        result, err = last_json(capsys)
        assert err.count("\n") == 1 and f"Dataset {name!r} is outside the data root" in err
        assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def outside_model(tmp_path_factory):
    """A real, loadable MLflow model saved outside any tracking store."""
    folder = tmp_path_factory.mktemp("outside_model") / "model"
    mlflow.sklearn.save_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), folder)
    return folder


@pytest.mark.parametrize(
    "uri",
    [
        "file://{model}",
        "{model}",  # a bare absolute path
        "model",  # a bare relative path
        "s3://bucket/model",
        "http://example.com/model",
        "mlflow-artifacts:/0/abc/artifacts/model",
        "runs:/" + "a" * 32 + "/../../../etc",
        "runs:/" + "a" * 32 + "/model/../../x",
        "runs:/not-a-run/model",
        "runs:/" + "a" * 32,  # no artifact path
        "models:/x/../../etc",
        "",
    ],
)
def test_score_refuses_a_model_outside_this_store(uri, outside_model, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    with pytest.raises(RegistryError) as refused:
        score.resolve(uri.format(model=outside_model))
    assert str(refused.value).endswith(
        "models load only from this tracking store: give models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model."
    )


def test_a_run_of_another_store_is_not_found_here(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    with pytest.raises(RegistryError, match="No run '0{32}' in sqlite:"):
        score.resolve("runs:/" + "0" * 32 + "/model")


def test_a_version_registered_from_outside_the_store_is_refused(outside_model, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")  # its own store: no stray model in others
    client = tracking.client()
    client.create_registered_model("trust-outside")
    version = client.create_model_version("trust-outside", f"file://{outside_model}").version
    client.set_registered_model_alias("trust-outside", "champion", version)
    for uri in ("models:/trust-outside@champion", f"models:/trust-outside/{version}"):
        with pytest.raises(RegistryError, match=f"Version {version} of 'trust-outside' points outside this tracking store"):
            score.resolve(uri)


def test_the_store_s_own_model_uris_resolve(demo_run, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    found = score.resolve(f"runs:/{demo_run}/model")
    assert found.run_id == demo_run and found.load_uri == f"runs:/{demo_run}/model"


@pytest.mark.parametrize("run_id", ["../../etc", "Z" * 32, "0" * 32 + "\n", "0" * 31, "", "0" * 32 + "/../x"])
def test_artifact_views_refuse_what_is_not_a_run_id(run_id):
    for view in (runs.predictions, runs.explanation):
        with pytest.raises(RegistryError, match="not a run id"):
            view(run_id)


@pytest.mark.parametrize("name", ["../predictions.parquet", "a/../../x", "/etc/passwd", "..", "a//b", "a\\b", "~/x", ""])
def test_artifact_names_stay_inside_the_run(name):
    with pytest.raises(RegistryError, match="is not a file name inside the run"):
        runs._artifact("0" * 32, name)

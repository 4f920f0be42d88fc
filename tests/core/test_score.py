"""Batch scoring on a real MLflow store: the demo run registered, aliased and scored through the CLI."""

import io
import json
import shutil
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core import score, tracking
from core.errors import DataError
from core.settings import PROJECT

MODEL = "score-test"
SAVED = 0.05  # about the demo's conversion rate, so both decisions occur


def _register(client, run_id: str, tags: dict | None = None, model_run_id: str | None = None) -> str:
    """A new version of MODEL holding `model_run_id`'s logged model, made from `run_id`; its number."""
    model_id = client.get_run(model_run_id or run_id).outputs.model_outputs[0].model_id  # MLflow 3 logs a LoggedModel
    version = client.create_model_version(MODEL, f"models:/{model_id}", run_id=run_id, model_id=model_id, tags=tags)
    return version.version


@pytest.fixture(scope="module")
def registered(demo_root, store, demo_run):
    """MODEL v1 from the demo run with a saved threshold, aliased champion; v2 from a run with no threshold anywhere."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", store)
        client = tracking.client()
        client.create_registered_model(MODEL)
        v1 = _register(client, demo_run, {"wb.threshold": repr(SAVED)})
        client.set_registered_model_alias(MODEL, "champion", v1)
        bare = client.create_run(tracking.experiment_id("score-test")).info.run_id
        client.set_terminated(bare)
        v2 = _register(client, bare, model_run_id=demo_run)
        return {"champion": v1, "bare": v2, "bare_run": bare}


@pytest.fixture(scope="module")
def copy_root(demo_root, tmp_path_factory):
    """A copy of the demo root plus `head.parquet` (its first 1,200 rows) and `lacking.parquet` (no device, no channel)."""
    root = tmp_path_factory.mktemp("score_root")
    shutil.copytree(demo_root / "demo", root / "demo")
    frame = pd.read_parquet(demo_root / "demo").drop(columns=["event_date"])
    frame.head(1200).to_parquet(root / "head.parquet", index=False)
    frame.drop(columns=["device", "channel"]).to_parquet(root / "lacking.parquet", index=False)
    return root


def run_cli(capsys, *args) -> tuple[int, dict, str]:
    """(exit code, the JSON of the last stdout line, stderr)."""
    code = score.main(list(args))
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def rows_as_trained(path, columns) -> pd.DataFrame:
    """The dataset read without our code: pandas over the parquet files, numerics as float64."""
    frame = pd.read_parquet(path, columns=columns)
    for column in columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


def test_scores_equal_the_pyfunc_predictions_and_decisions_the_saved_threshold(train_env, registered, capsys, tmp_path):
    out = tmp_path / "scores.parquet"
    uri = f"models:/{MODEL}@champion"
    code, result, err = run_cli(capsys, "--model", uri, "--data", "demo", "--out", str(out), "--chunk-rows", "6000")
    assert code == 0, err
    model = mlflow.pyfunc.load_model(uri)
    inputs = model.metadata.get_input_schema().input_names()
    rows = rows_as_trained(train_env / "demo", [*inputs, "user_id", "event_time"])
    expected = model.predict(rows[inputs])[:, 1]
    written = pq.read_table(out)
    frame = written.to_pandas()
    assert len(frame) == len(rows) == 20_000
    # Keys: the id column the model does not read, and the run's time column; then score and decision.
    assert written.column_names == ["event_time", "user_id", "score", "decision"]
    assert str(written.schema.field("decision").type) == "int8"
    np.testing.assert_allclose(frame["score"], expected, rtol=0, atol=1e-9)
    assert frame["user_id"].tolist() == rows["user_id"].tolist()
    assert (frame["event_time"].to_numpy() == rows["event_time"].to_numpy()).all()
    assert (frame["decision"] == (expected >= SAVED)).all()
    assert 0 < frame["decision"].sum() < len(frame)
    assert result == {
        "status": "FINISHED",
        "model": uri,
        "name": MODEL,
        "version": int(registered["champion"]),
        "run_id": result["run_id"],
        "threshold": SAVED,
        "threshold_from": "version",
        "rows": 20_000,
        "positives_flagged": int(frame["decision"].sum()),
        "keys": ["event_time", "user_id"],
        "out": str(out),
        "seconds": result["seconds"],
    }
    assert "scoring demo (20,000 rows)" in err and "wrote 20,000 rows" in err
    assert not (tmp_path / "scores.parquet.partial").exists()


def test_chunk_size_does_not_change_the_output(train_env, registered, copy_root, monkeypatch, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(copy_root))
    uri = f"models:/{MODEL}@champion"
    tables = []
    for chunk in (1000, 7):
        out = tmp_path / f"chunk_{chunk}.parquet"
        score.score(uri, "head.parquet", out, chunk_rows=chunk, keys=["user_id", "campaign_id"], log=score.Progress(io.StringIO()))
        tables.append(pq.read_table(out))
    assert tables[0].num_rows == 1200
    assert tables[0].equals(tables[1])
    # A key the model also reads keeps its stored type.
    assert str(tables[0].schema.field("campaign_id").type) == "int64"


def test_missing_columns_are_refused_by_name_before_anything_is_written(train_env, registered, copy_root, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(copy_root))
    out = tmp_path / "scores.parquet"
    code, result, err = run_cli(capsys, "--model", f"models:/{MODEL}@champion", "--data", "lacking.parquet", "--out", str(out))
    assert code == 2
    assert err.strip().splitlines() == ["error: Dataset lacking.parquet lacks columns the model needs: device, channel."]
    assert result["status"] == "FAILED" and "device, channel" in result["error"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (f"models:/{MODEL}@challenger", "demo", f"Registered model '{MODEL}' has no alias 'challenger'; its aliases: champion"),
        ("models:/no-such-model@champion", "demo", "No registered model 'no-such-model'"),
        (f"models:/{MODEL}/99", "demo", f"Registered model '{MODEL}' has no version '99'"),
        ("runs:/" + "0" * 32 + "/model", "demo", "No run '00000000000000000000000000000000'"),
        (f"models:/{MODEL}@champion", "nowhere", "No dataset 'nowhere'"),
    ],
)
def test_unknown_model_alias_version_run_or_dataset_exit_2_with_one_line(train_env, registered, capsys, tmp_path, model, data, message):
    code, result, err = run_cli(capsys, "--model", model, "--data", data, "--out", str(tmp_path / "s.parquet"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and message in err
    assert list(tmp_path.iterdir()) == []


def test_no_threshold_anywhere_says_how_to_save_one_and_the_flag_overrides(train_env, registered, capsys, tmp_path):
    out = tmp_path / "s.parquet"
    bare = f"models:/{MODEL}/{registered['bare']}"
    code, result, err = run_cli(capsys, "--model", bare, "--data", "demo", "--out", str(out))
    assert code == 2
    assert err.strip() == (
        f"error: No saved threshold for {bare} (on the version or its run): "
        "save one with 'Save threshold' on the Diagnostics page, or pass --threshold T."
    )
    assert not out.exists()
    code, result, err = run_cli(capsys, "--model", bare, "--data", "demo", "--out", str(out), "--threshold", "0", "--keys")
    assert code == 0, err
    assert (result["threshold"], result["threshold_from"], result["positives_flagged"], result["keys"]) == (0.0, "--threshold", 20_000, [])
    assert pq.read_schema(out).names == ["score", "decision"]
    code, result, err = run_cli(capsys, "--model", bare, "--data", "demo", "--out", str(out), "--threshold", "1.5")
    assert code == 2 and "not a probability" in err


def test_the_threshold_falls_back_to_the_run_and_run_uris_score_too(train_env, registered, capsys, tmp_path):
    client = tracking.client()
    client.set_tag(registered["bare_run"], "wb.threshold", "0.25")
    try:
        found = score.resolve(f"models:/{MODEL}/{registered['bare']}")
        assert found.threshold() == (0.25, "run")
        assert score.resolve(f"models:/{MODEL}/{registered['champion']}").threshold() == (SAVED, "version")
    finally:
        client.set_tag(registered["bare_run"], "wb.threshold", "")
    run_id = client.get_model_version(MODEL, registered["champion"]).run_id
    out = tmp_path / "s.parquet"
    code, result, err = run_cli(
        capsys, "--model", f"runs:/{run_id}/model", "--data", "demo", "--out", str(out), "--threshold", "0.1", "--filter", "hour = 9"
    )
    assert code == 0, err
    assert (result["name"], result["version"], result["run_id"]) == (None, None, run_id)
    hours = pd.read_parquet(train_env / "demo", columns=["hour"])["hour"]
    assert result["rows"] == pq.read_metadata(out).num_rows == int((hours == 9).sum()) > 0
    # No row passes: still a file with the columns, so a downstream job reads an empty table, not a missing file.
    code, result, err = run_cli(capsys, "--model", f"runs:/{run_id}/model", "--data", "demo", "--out", str(out), "--threshold", "0.1", "--filter", "hour = 99")  # fmt: skip
    assert code == 0 and result["rows"] == 0, err
    empty = pq.read_table(out)
    assert (empty.num_rows, empty.column_names) == (0, ["event_time", "user_id", "score", "decision"])
    assert str(empty.schema.field("decision").type) == "int8"


def test_a_failure_midway_leaves_no_partial_and_keeps_the_previous_file(train_env, registered, monkeypatch, tmp_path):
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"yesterday's scores")
    real, calls = score.positive_scores, []

    def failing(scorer, features):
        calls.append(len(features))
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(scorer, features)

    monkeypatch.setattr(score, "positive_scores", failing)
    with pytest.raises(RuntimeError, match="killed"):
        score.score(f"models:/{MODEL}@champion", "demo", out, chunk_rows=5000, log=score.Progress(io.StringIO()))
    assert calls == [5000, 5000, 5000]
    assert out.read_bytes() == b"yesterday's scores"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]


def test_output_inside_the_scored_dataset_is_refused(train_env, registered, capsys):
    code, _, err = run_cli(capsys, "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(train_env / "demo" / "s.parquet"))
    assert code == 2 and "inside the dataset demo" in err


@pytest.mark.slow
def test_sigterm_midway_removes_the_partial_file(train_env, registered, tmp_path):
    out = tmp_path / "scores.parquet"
    argv = [sys.executable, "-m", "core.score", "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(out)]
    child = subprocess.Popen([*argv, "--chunk-rows", "7"], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "scores.parquet.partial"
    deadline = time.monotonic() + 60
    while not partial.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), child.communicate()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert list(tmp_path.iterdir()) == []


def test_read_ahead_keeps_order_passes_errors_on_and_closes_its_source():
    closed = []

    def source(fail_at=None):
        try:
            for i in range(5):
                if i == fail_at:
                    raise DataError("a file went missing")
                yield i
        finally:
            closed.append(fail_at)

    assert list(score.read_ahead(source())) == [0, 1, 2, 3, 4]
    with pytest.raises(DataError, match="went missing"):
        list(score.read_ahead(source(fail_at=2)))
    early = score.read_ahead(source(fail_at=-1))
    assert next(early) == 0
    early.close()  # the caller failed: the source is closed too (its DuckDB cursor with it)
    assert closed == [None, 2, -1]


def test_a_text_column_where_the_model_learned_integers_is_refused_by_name(train_env, registered, demo_root, monkeypatch, capsys, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    frame = pd.read_parquet(demo_root / "demo").drop(columns=["event_date"]).head(300)
    frame.to_parquet(root / "ints.parquet", index=False)
    frame.assign(campaign_id="c" + frame["campaign_id"].astype(str)).to_parquet(root / "texts.parquet", index=False)
    monkeypatch.setenv("WB_DATA_ROOT", str(root))
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{registered['champion']}")
    assert str(model.metadata.get_input_schema().input_dict()["campaign_id"].type) == "Any"  # integers: the model converts

    code, result, err = run_cli(
        capsys, "--model", f"models:/{MODEL}@champion", "--data", "texts.parquet", "--out", str(tmp_path / "t.parquet")
    )
    assert code == 2
    assert "campaign_id is VARCHAR (the model expects BIGINT)" in result["error"] and "Traceback" not in err
    code, result, err = run_cli(
        capsys, "--model", f"models:/{MODEL}@champion", "--data", "ints.parquet", "--out", str(tmp_path / "i.parquet")
    )
    assert code == 0, err
    expected = np.asarray(model.predict(pd.read_parquet(root / "ints.parquet")))[:, 1]  # int64 columns as pandas reads them
    np.testing.assert_allclose(pd.read_parquet(tmp_path / "i.parquet")["score"], expected, rtol=0, atol=1e-12)


def test_a_value_model_writes_expected_value_as_its_pyfunc_predicts_it(train_env, value_run, horizon_run, monkeypatch, capsys, tmp_path):
    for run_id, horizons in ((value_run, []), (horizon_run, ["revenue_d1", "revenue_d7"])):
        uri, out = f"runs:/{run_id}/model", tmp_path / f"{run_id}.parquet"
        args = ("--model", uri, "--data", "demo", "--out", str(out), "--threshold", "0.05", "--chunk-rows", "1000")
        code, result, err = run_cli(capsys, *args, "--filter", "hour < 6")  # a few thousand rows, several chunks
        assert code == 0, err
        valued = ["expected_value", *(f"expected_value.{h}" for h in horizons)]
        written = pq.read_table(out)
        assert written.column_names == ["event_time", "user_id", "score", "decision", *valued]
        assert all(str(written.schema.field(c).type) == "double" for c in valued)
        frame = written.to_pandas()
        model = mlflow.pyfunc.load_model(uri)
        inputs = model.metadata.get_input_schema().input_names()
        rows = rows_as_trained(train_env / "demo", list(dict.fromkeys([*inputs, "hour"])))
        rows = rows[rows["hour"] < 6][inputs].reset_index(drop=True)
        assert result["rows"] == len(rows) == len(frame) > 1000
        predicted = model.predict(rows)  # the pyfunc frame: probability, expected_value, expected_value.<h>
        np.testing.assert_allclose(frame["score"], predicted["probability"], rtol=0, atol=1e-12)
        for column in valued:
            np.testing.assert_allclose(frame[column], predicted[column], rtol=1e-12, atol=0)
        raw = model.get_raw_model()
        if_converted = raw.value_if_converted(rows)
        np.testing.assert_allclose(frame["expected_value"], frame["score"] * if_converted[raw.value_column], rtol=1e-12, atol=0)
        for h in horizons:
            np.testing.assert_allclose(frame[f"expected_value.{h}"], frame["score"] * if_converted[h], rtol=1e-12, atol=0)
        assert (frame["expected_value"] >= 0).all() and frame["expected_value"].mean() > 0  # isotonic scores may be 0
    # No row passes: the file still has the value columns.
    code, result, err = run_cli(capsys, "--model", f"runs:/{value_run}/model", "--data", "demo", "--out", str(out), "--threshold", "0.1", "--filter", "hour = 99")  # fmt: skip
    assert code == 0 and result["rows"] == 0, err
    assert pq.read_table(out).column_names == ["event_time", "user_id", "score", "decision", "expected_value"]
    root = tmp_path / "root"
    root.mkdir()
    pd.read_parquet(train_env / "demo").head(50).assign(expected_value=1.0).to_parquet(root / "head.parquet")
    monkeypatch.setenv("WB_DATA_ROOT", str(root))
    code, result, err = run_cli(capsys, "--model", f"runs:/{value_run}/model", "--data", "head.parquet", "--out", str(out), "--threshold", "0.1", "--keys", "expected_value")  # fmt: skip
    assert code == 2 and "Key column 'expected_value' would clash with the output column of that name" in err

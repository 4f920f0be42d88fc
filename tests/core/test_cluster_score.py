"""Batch scoring on a real dask LocalCluster (2 workers, loopback): the same rows, scores and decisions as the local
engine, written as a folder of parquet parts, all or nothing."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core import score, tracking, train
from core.settings import PROJECT

MODEL = "cluster-score-test"
SAVED = 0.05  # about the demo's conversion rate, so both decisions occur


@pytest.fixture(scope="module")
def scheduler(dask_scheduler):
    """The session's 2-worker LocalCluster (tests/conftest.py)."""
    return dask_scheduler


@pytest.fixture(scope="module")
def registered(store, demo_run):
    """MODEL v1 from the demo run with a saved threshold, aliased champion."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", store)
        client = tracking.client()
        client.create_registered_model(MODEL)
        model_id = client.get_run(demo_run).outputs.model_outputs[0].model_id
        version = client.create_model_version(MODEL, f"models:/{model_id}", run_id=demo_run, model_id=model_id, tags={"wb.threshold": repr(SAVED)})  # fmt: skip
        client.set_registered_model_alias(MODEL, "champion", version.version)
        return version.version


def run_cli(capsys, *args) -> tuple[int, dict, str]:
    """(exit code, the JSON of the last stdout line, stderr)."""
    code = score.main(list(args))
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def errors(err: str) -> list[str]:
    """stderr without the progress lines (`[  0.1s] ...`)."""
    return [line for line in err.strip().splitlines() if not line.startswith("[")]


def both_engines(capsys, scheduler, tmp_path, *args) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """(local result, dask result, local output, dask output) for the same arguments."""
    code, local, err = run_cli(capsys, *args, "--out", str(tmp_path / "local.parquet"))
    assert code == 0, err
    code, dask, err = run_cli(capsys, *args, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler", scheduler)
    assert code == 0, err
    return local, dask, pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "dask")


def same_rows(local: pd.DataFrame, dask: pd.DataFrame, keys: list[str]) -> None:
    """Equal rows after a stable sort by the keys: keys exactly, score to 1e-9, decision exactly."""
    local = local.sort_values(keys, kind="stable").reset_index(drop=True)
    dask = dask.sort_values(keys, kind="stable").reset_index(drop=True)
    assert list(dask.columns) == list(local.columns) == [*keys, "score", "decision"]
    pd.testing.assert_frame_equal(dask[keys], local[keys])
    np.testing.assert_allclose(dask["score"], local["score"], rtol=0, atol=1e-9)
    assert (dask["decision"] == local["decision"]).all()


def test_dask_scores_equal_the_local_engine_as_a_folder_of_parts(train_env, registered, scheduler, capsys, tmp_path):
    uri = f"models:/{MODEL}@champion"
    local, dask, local_rows, dask_rows = both_engines(capsys, scheduler, tmp_path, "--model", uri, "--data", "demo")
    assert len(dask_rows) == len(local_rows) == 20_000
    same_rows(local_rows, dask_rows, ["event_time", "user_id"])
    assert 0 < dask["positives_flagged"] == int(local_rows["decision"].sum()) < 20_000
    assert dask == {**local, "out": str(tmp_path / "dask"), "seconds": dask["seconds"], "engine": "dask"}
    assert (dask["version"], dask["threshold"], dask["threshold_from"]) == (int(registered), SAVED, "version")
    # One part per partition (a file per day here), stored types as the local engine writes them; DuckDB reads it too.
    parts = sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert parts == [f"part.{i:05d}.parquet" for i in range(21)]
    assert pq.read_schema(tmp_path / "dask" / parts[0]) == pq.read_schema(tmp_path / "local.parquet")
    sql = "SELECT count(*), sum(decision) FROM read_parquet(?)"
    count, flagged = duckdb.connect().execute(sql, [str(tmp_path / "dask" / "*.parquet")]).fetchone()
    assert (count, flagged) == (20_000, dask["positives_flagged"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask", "local.parquet"]  # no temporary folder left


def test_each_worker_loads_the_model_once(train_env, registered, demo_run, scheduler, capsys, tmp_path):
    # A runs:/ URI no other test of the module scores with, so no worker has it cached yet.
    code, result, err = run_cli(capsys, "--model", f"runs:/{demo_run}/model", "--data", "demo", "--out", str(tmp_path / "s"), "--threshold", "0.5", "--engine", "dask", "--scheduler", scheduler)  # fmt: skip
    assert code == 0, err
    assert "21 partitions" in err
    loads, workers = map(int, re.search(r"model loaded (\d+) times on (\d+) workers", err).groups())
    assert 1 <= loads == workers <= 2  # once per worker process, not once per partition (21)


def test_filters_keep_the_same_rows_as_the_local_engine(train_env, registered, scheduler, capsys, tmp_path):
    days = sorted(p.name.removeprefix("event_date=") for p in (train_env / "demo").iterdir())[2:12]  # hive partition values
    filters = ["hour between 9 and 17", "channel != search", "country in US, GB, DE", "device is not null", f"event_date in {', '.join(days)}"]  # fmt: skip
    keys = ["user_id", "hour", "channel", "event_date"]
    args = ["--model", f"models:/{MODEL}@champion", "--data", "demo", "--keys", *keys, "--filter", *filters]
    local, dask, local_rows, dask_rows = both_engines(capsys, scheduler, tmp_path, *args)
    frame = pd.read_parquet(train_env / "demo")
    expected = frame["hour"].between(9, 17) & (frame["channel"] != "search") & frame["country"].isin(["US", "GB", "DE"])
    expected &= frame["event_date"].astype(str).isin(days)
    assert dask["rows"] == local["rows"] == int(expected.sum()) > 0
    same_rows(local_rows, dask_rows, keys)
    assert str(pq.read_schema(tmp_path / "local.parquet").field("event_date").type) == "date32[day]"


def test_no_row_passing_still_writes_the_columns_and_replaces_the_previous_output(train_env, registered, scheduler, capsys, tmp_path):
    out = tmp_path / "none"
    out.mkdir()
    (out / "part.00007.parquet").write_bytes(b"yesterday's scores")
    code, result, err = run_cli(capsys, "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(out), "--filter", "hour = 99", "--engine", "dask", "--scheduler", scheduler)  # fmt: skip
    assert code == 0, err
    assert (result["rows"], result["positives_flagged"]) == (0, 0)
    assert pd.read_parquet(out).columns.tolist() == ["event_time", "user_id", "score", "decision"]
    assert [p.name for p in out.iterdir()] == ["part.00000.parquet"] and [p.name for p in tmp_path.iterdir()] == ["none"]


def _dask_cli(capsys, scheduler, out, model, data, *extra):
    return run_cli(capsys, "--model", model, "--data", data, "--out", str(out), "--engine", "dask", "--scheduler", scheduler, *extra)


@pytest.fixture(scope="module")
def odd_root(demo_root, tmp_path_factory):
    """`texts.parquet` (campaign_id as text), `lacking.parquet` (no device, channel), `head.csv`, and `broken/`: the
    demo's day files with one file's data pages overwritten (its footer intact, so counting works and reading fails)."""
    root = tmp_path_factory.mktemp("cluster_score_root")
    frame = pd.read_parquet(demo_root / "demo").drop(columns=["event_date"]).head(300)
    frame.assign(campaign_id="c" + frame["campaign_id"].astype(str)).to_parquet(root / "texts.parquet", index=False)
    frame.drop(columns=["device", "channel"]).to_parquet(root / "lacking.parquet", index=False)
    frame.to_csv(root / "head.csv", index=False)
    shutil.copytree(demo_root / "demo", root / "broken")
    victim = sorted((root / "broken").rglob("*.parquet"))[5]
    data = bytearray(victim.read_bytes())
    data[8 : len(data) // 2] = b"\xff" * (len(data) // 2 - 8)
    victim.write_bytes(bytes(data))
    return root


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("texts.parquet", "error: Column types in texts.parquet do not fit the model: campaign_id is VARCHAR (the model expects BIGINT)."),
        ("lacking.parquet", "error: Dataset lacking.parquet lacks columns the model needs: device, channel."),
        ("head.csv", "error: The dask engine reads parquet; head.csv is CSV: convert it to parquet or use --engine local."),
        ("broken", "error: A partition of dataset 'broken' failed: "),
    ],
)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(train_env, registered, scheduler, odd_root, monkeypatch, capsys, tmp_path, data, message):  # fmt: skip
    monkeypatch.setenv("WB_DATA_ROOT", str(odd_root))
    code, result, err = _dask_cli(capsys, scheduler, tmp_path / "scores", f"models:/{MODEL}@champion", data)
    assert code == 2
    assert errors(err) == [errors(err)[0]] and errors(err)[0].startswith(message), err
    assert result["status"] == "FAILED"
    assert list(tmp_path.iterdir()) == []


def test_a_failing_partition_keeps_the_previous_output(train_env, registered, scheduler, odd_root, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(odd_root))
    out = tmp_path / "scores"
    out.mkdir()
    (out / "part.00000.parquet").write_bytes(b"yesterday's scores")
    code, _, err = _dask_cli(capsys, scheduler, out, f"models:/{MODEL}@champion", "broken")
    assert code == 2, err
    assert [p.name for p in tmp_path.iterdir()] == ["scores"]
    assert (out / "part.00000.parquet").read_bytes() == b"yesterday's scores"


@pytest.mark.slow  # the client waits out its 10 s connect timeout
def test_an_unreachable_scheduler_exits_2_with_one_line(train_env, registered, capsys, tmp_path):
    code, result, err = _dask_cli(capsys, "tcp://127.0.0.1:9", tmp_path / "scores", f"models:/{MODEL}@champion", "demo")
    assert code == 2
    assert errors(err) == [errors(err)[0]] and errors(err)[0].startswith("error: Cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert list(tmp_path.iterdir()) == []


def test_engine_flags_that_do_not_apply_exit_2(train_env, registered, capsys, tmp_path):
    code, _, err = run_cli(capsys, "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(tmp_path / "s"), "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert (code, err.strip()) == (2, "error: --scheduler is for --engine dask.")
    code, _, err = run_cli(capsys, "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(tmp_path / "s"), "--engine", "dask", "--chunk-rows", "9")  # fmt: skip
    assert (code, err.strip()) == (2, "error: --chunk-rows is for --engine local; the dask engine scores whole partitions.")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def messy_run(messy_root, store):
    """A gbdt run on messy.parquet (names with brackets, commas, quotes, unicode; int, nullable int, bool, text)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(messy_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("WB_SHAP_ROWS", "50")
        spec, _ = train.parse_args(["--data", "messy.parquet", "--target", "converted", "--split", "random", "--param", "n_estimators=20"])
        return train.train(spec, log=train.Log(io.StringIO()))["run_id"]


def test_hostile_column_names_and_types_score_as_locally(messy_root, messy_run, store, scheduler, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WB_DATA_ROOT", str(messy_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    keys = ["price[usd]", 'col "q"', "größe m²", "it's", "flag on", "seen at"]
    args = ["--model", f"runs:/{messy_run}/model", "--data", "messy.parquet", "--threshold", "0.5", "--keys", *keys]
    local, dask, local_rows, dask_rows = both_engines(capsys, scheduler, tmp_path, *args, "--filter", '"a,b" > 0', "it's is not null")
    assert dask["rows"] == local["rows"] > 0
    same_rows(local_rows, dask_rows, keys)
    assert pq.read_schema(next((tmp_path / "dask").iterdir())) == pq.read_schema(tmp_path / "local.parquet")


@pytest.mark.slow
def test_sigterm_midway_leaves_no_output_and_no_temporary_folder(train_env, registered, scheduler, tmp_path):
    out = tmp_path / "scores"
    argv = [sys.executable, "-m", "core.score", "--model", f"models:/{MODEL}@champion", "--data", "demo", "--out", str(out)]
    child = subprocess.Popen([*argv, "--engine", "dask", "--scheduler", scheduler], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".scores.partial-*")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(tmp_path.glob(".scores.partial-*")), child.communicate()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    time.sleep(1)  # a part a worker was writing when the driver stopped must not reappear
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_workers_without_the_checkout_score(train_env, registered, capsys, tmp_path):
    """A scheduler and a worker started outside the checkout (`dask scheduler`, `dask worker`; `core` not importable)."""
    bin_dir = PROJECT / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    file = outside / "scheduler.json"
    common = {"cwd": outside, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", file], **common)  # fmt: skip
    worker = subprocess.Popen([bin_dir / "dask", "worker", "--scheduler-file", file, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], **common)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        probe = subprocess.run([sys.executable, "-c", "import core"], cwd=outside, env=env, capture_output=True)
        assert probe.returncode == 1  # what the worker sees: no checkout on its path
        code, result, err = _dask_cli(capsys, address, tmp_path / "scores", f"models:/{MODEL}@champion", "demo")
        assert code == 0, err
        assert result["rows"] == len(pd.read_parquet(tmp_path / "scores")) == 20_000
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_a_value_model_writes_the_same_expected_value_columns_as_the_local_engine(
    train_env, horizon_run, scheduler, monkeypatch, capsys, tmp_path
):
    root = tmp_path / "root"
    (root / "two").mkdir(parents=True)
    frame = pd.read_parquet(train_env / "demo").drop(columns="event_date")
    for i in range(2):  # two parts: two partitions, a few hundred rows (the cost is the workers loading the model)
        frame.iloc[i * 300 : (i + 1) * 300].to_parquet(root / "two" / f"{i}.parquet")
    monkeypatch.setenv("WB_DATA_ROOT", str(root))
    args = ("--model", f"runs:/{horizon_run}/model", "--data", "two", "--threshold", "0.05")
    _, _, local_rows, dask_rows = both_engines(capsys, scheduler, tmp_path / "out", *args)
    valued = ["expected_value", "expected_value.revenue_d1", "expected_value.revenue_d7"]
    assert list(dask_rows.columns) == list(local_rows.columns) == ["event_time", "user_id", "score", "decision", *valued]
    assert len(dask_rows) == 600
    assert pq.read_schema(next((tmp_path / "out" / "dask").iterdir())) == pq.read_schema(tmp_path / "out" / "local.parquet")
    keys = ["event_time", "user_id"]
    local_rows = local_rows.sort_values(keys, kind="stable").reset_index(drop=True)
    dask_rows = dask_rows.sort_values(keys, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(dask_rows[keys], local_rows[keys])
    for column in ["score", *valued]:
        np.testing.assert_allclose(dask_rows[column], local_rows[column], rtol=1e-12, atol=1e-12)

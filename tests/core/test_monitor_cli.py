"""python -m core.monitor on a real store: the demo run registered as a champion and monitored on the small demo."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import monitor, registry, runs, tracking
from core.diagnostics import rolling
from core.monitoring import monitor_pass
from core.monitoring.alerts import ALERT_COLUMNS
from core.settings import PROJECT

MODEL = "monitor-cli-test"
NOW = "2026-09-25"  # four days after the small demo's last day: windows ending by 09-18 are mature
SAVED = 0.05
ARGS = ["--model", MODEL, "--data", "demo", "--time-column", "event_time", "--now", NOW]
ARTIFACTS = {"monitor.parquet", "drift.parquet", "histograms.parquet", "alerts.parquet", "reference.parquet", "train.log"}


@pytest.fixture(scope="module")
def champion(demo_root, store, demo_run) -> int:
    """demo_run registered as MODEL with a saved threshold, aliased champion; its version number."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", store)
        runs.save_threshold(demo_run, SAVED, 1.0, 0.1, 0.0, 1.0)
        version = registry.register(demo_run, MODEL)
        tracking.client().set_registered_model_alias(MODEL, "champion", str(version))
        return version


def run_main(*args) -> tuple[int, dict, str]:
    """(exit code, the JSON of the last stdout line, stderr) of core.monitor in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = monitor.main(list(args))
    return code, json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


@pytest.fixture(scope="module")
def passed(demo_root, store, champion):
    """One pass over the whole small demo: (exit code, JSON, stderr)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(demo_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        return run_main(*ARGS)


@pytest.fixture
def env(demo_root, store, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return demo_root


def artifact(run_id: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name))


def test_the_json_has_the_contract_keys_and_types(passed, champion):
    code, result, err = passed
    assert code == 0
    assert {"model", "version", "run_id", "windows", "alerts"} <= set(result)
    assert result["model"] == MODEL and result["version"] == champion and result["status"] == "FINISHED"
    assert isinstance(result["run_id"], str) and len(result["run_id"]) == 32
    assert result["windows"] == 21 and result["rows"] == 20_000  # 21 days, one window per day's start
    assert result["threshold"] == SAVED and result["threshold_from"] == "version"
    assert isinstance(result["alerts"], list)
    for alert in result["alerts"]:
        assert set(alert) == set(ALERT_COLUMNS)
        assert isinstance(alert["rule"], str) and isinstance(alert["value"], float) and isinstance(alert["limit"], float)
        assert alert["feature"] is None or isinstance(alert["feature"], str)
        assert isinstance(alert["estimated"], bool)
        pd.Timestamp(alert["window_start"])
    assert "monitoring demo (20,000 rows)" in err


def test_the_run_holds_the_tables_metrics_and_tags(env, passed, champion, demo_run):
    result = passed[1]
    client = tracking.client()
    run = client.get_run(result["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == f"monitor/{MODEL}"
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["wb.kind"] == "monitor" and tags["wb.model"] == MODEL and tags["wb.version"] == str(champion)
    assert tags["wb.model_run"] == demo_run and tags["wb.dataset"] == "demo" and tags["wb.time_column"] == "event_time"
    assert tags["wb.since"] == "" and tags["wb.now"] == "2026-09-25T00:00:00" and tags["wb.pid"].isdigit()
    assert tags["wb.alert_count"] == str(len(result["alerts"])) and json.loads(tags["wb.alerts"]) == result["alerts"]
    assert {f.path for f in client.list_artifacts(result["run_id"])} == ARTIFACTS

    table = artifact(result["run_id"], "monitor.parquet")
    assert list(table.columns) == monitor_pass.MONITOR_COLUMNS and len(table) == 21
    steps = client.get_metric_history(result["run_id"], "rows")
    assert [m.step for m in steps] == list(range(21)) and [m.value for m in steps] == table["rows"].astype(float).tolist()
    psi = client.get_metric_history(result["run_id"], "score_psi")
    assert [m.value for m in psi] == pytest.approx(table["psi"].tolist())
    assert client.get_metric_history(result["run_id"], "progress")[-1].value == 1.0
    assert table["mature"].tolist() == [True] * 11 + [False] * 10  # windows end 09-08..09-28; mature when end <= 09-18
    assert list(artifact(result["run_id"], "alerts.parquet").columns) == ALERT_COLUMNS
    assert set(artifact(result["run_id"], "histograms.parquet")["period"]) == {"all", "last window"}
    drift = artifact(result["run_id"], "drift.parquet")
    worst = drift.sort_values("psi", ascending=False).drop_duplicates("start").set_index("start")
    assert table.set_index("start")["max_feature_psi"].tolist() == pytest.approx(worst.loc[table["start"], "psi"].tolist())
    assert (table.set_index("start")["top_feature"] == worst.loc[table["start"], "feature"]).all()
    assert not artifact(result["run_id"], "reference.parquet").empty


def test_windows_count_the_demo_rows_and_score_as_the_model_does(env, passed, champion):
    table = artifact(passed[1]["run_id"], "monitor.parquet")
    frame = pd.read_parquet(env / "demo")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{champion}")
    inputs = [c.name for c in model.metadata.get_input_schema().inputs]
    for column in inputs:
        if pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    from core.signature import positive_scores

    scores = positive_scores(model, frame[inputs])
    for row in table.iloc[[0, 10, 20]].itertuples():
        inside = ((frame["event_time"] >= row.start) & (frame["event_time"] < row.end)).to_numpy()
        assert row.rows == inside.sum() and row.positives == frame.loc[inside, "converted"].sum()
        assert row.mean_score == pytest.approx(scores[inside].mean(), rel=1e-9)
        assert row.roc_auc == pytest.approx(
            rolling.windows(pd.DataFrame({"time": frame["event_time"], "y": frame["converted"], "score": scores}))
            .set_index("start")
            .loc[row.start, "roc_auc"],
            abs=1e-12,
        )


def test_history_lists_the_pass_newest_first(env, passed, champion):
    found = monitor_pass.history(MODEL)
    assert list(found.columns) == monitor_pass.HISTORY_COLUMNS
    row = found.set_index("run_id").loc[passed[1]["run_id"]]
    assert (row["version"], row["dataset"], row["windows"], row["status"]) == (champion, "demo", 21, "FINISHED")
    assert row["alerts"] == len(passed[1]["alerts"])
    assert found["started"].is_monotonic_decreasing
    assert monitor_pass.history("no-such-model").empty


def test_fail_on_alert_exits_3_when_an_alert_fires(env, champion, monkeypatch):
    monkeypatch.setenv("WB_MONITOR_MAX_SCORE_PSI", "0")  # any window whose scores differ at all from the test scores
    code, result, _ = run_main(*ARGS, "--since", "2026-09-10", "--fail-on-alert")
    assert code == 3
    assert any(a["rule"] == "score_psi" and a["limit"] == 0.0 for a in result["alerts"])
    assert min(pd.Timestamp(a["window_start"]) for a in result["alerts"]) >= pd.Timestamp("2026-09-10")
    assert tracking.client().get_run(result["run_id"]).data.tags["wb.since"] == "2026-09-10T00:00:00"
    assert run_main(*ARGS, "--since", "2026-09-10")[0] == 0  # the same alerts without the flag: exit 0


def test_the_module_runs_as_a_command():
    child = subprocess.run([sys.executable, "-m", "core.monitor", "--help"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and "--fail-on-alert" in child.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "no-such-model"], "No registered model 'no-such-model'"),
        (["--model", MODEL, "--alias", "nope"], f"Registered model '{MODEL}' has no alias 'nope'"),
        (["--model", MODEL, "--version", "99"], f"Registered model '{MODEL}' has no version '99'"),
        (["--model", MODEL, "--data", "nowhere"], "No dataset 'nowhere'"),
        (["--model", MODEL, "--since", "2027-01-01"], "No rows of demo since 2027-01-01 00:00:00 (event_time runs from 2026-09-01"),
        (["--model", MODEL, "--time-column", "hour"], "Time column 'hour' of demo is TINYINT, not a timestamp"),
        (["--model", MODEL, "--time-column", "nope"], "Dataset demo has no column 'nope'"),
        (["--model", MODEL, "--since", "yesterday-ish"], "--since 'yesterday-ish' is not a date"),
        (["--model", MODEL, "--filter", "nope = 1"], "Unknown column 'nope' in filter"),
        (["--model", MODEL, "--window-days", "0"], "--window-days 0 and --step-days 1 must both be positive"),
        (["--model", MODEL, "--version", "0"], "--version 0 must be a positive version number"),
    ],
)
def test_bad_input_exits_2_with_one_line(env, champion, args, message):
    code, result, err = run_main(*args, "--now", NOW)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert result["status"] == "FAILED" and message in result["error"]


def test_a_failure_after_the_run_began_marks_the_job_run_failed(env, champion, monkeypatch):
    client = tracking.client()
    run_id = client.create_run(tracking.experiment_id(f"monitor/{MODEL}")).info.run_id
    code, result, _ = run_main(*ARGS, "--filter", "country = ZZ", "--run-id", run_id)
    assert code == 2 and result["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["wb.error"].startswith("No rows of demo have a event_time after the filters")


def test_a_given_run_id_is_the_pass_run(env, champion):
    client = tracking.client()
    run_id = client.create_run(tracking.experiment_id(f"monitor/{MODEL}")).info.run_id
    code, result, _ = run_main(*ARGS, "--since", "2026-09-15", "--window-days", "3", "--run-id", run_id)
    assert code == 0 and result["run_id"] == run_id and result["windows"] == 7
    assert client.get_run(run_id).data.tags["wb.kind"] == "monitor"


def test_rows_without_the_target_column_get_estimates_only(demo_root, store, champion, monkeypatch, tmp_path):
    shutil.copytree(demo_root / "demo", tmp_path / "demo")
    pd.read_parquet(demo_root / "demo").drop(columns=["converted", "event_date"]).to_parquet(tmp_path / "unlabelled.parquet")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    code, result, err = run_main("--model", MODEL, "--data", "unlabelled.parquet", "--time-column", "event_time", "--now", NOW)
    assert code == 0, err
    assert "no target column 'converted'" in err
    table = artifact(result["run_id"], "monitor.parquet")
    assert table[["roc_auc", "calibration_ratio", "precision", "recall", "positives"]].isna().all().all()
    assert table["est_roc_auc"].notna().all() and table["est_precision"].notna().any()
    assert table["note"].str.contains("no target column 'converted'").all()
    assert not any(a["rule"] == "calibration_ratio" for a in result["alerts"])
    assert all(a["estimated"] for a in result["alerts"] if a["rule"] == "roc_auc")


def test_help_names_every_flag():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        monitor.parse_args(["--help"])
    for flag in ("--model", "--alias", "--version", "--data", "--time-column", "--since", "--window-days", "--step-days"):
        assert flag in out.getvalue()
    assert "--filter" in out.getvalue() and "--now" in out.getvalue() and "--fail-on-alert" in out.getvalue()
    assert "--run-id" not in out.getvalue()
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        monitor.parse_args(["--model", MODEL, "--alias", "champion", "--version", "1"])
    assert np.isclose(monitor.parse_args(["--model", MODEL]).window_days, 7.0)

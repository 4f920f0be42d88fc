"""The leaderboard: ranking, spread and paired tests on hand-made inputs; a real CLI run with nested runs; bad input."""

import io
import json
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from core import jobs, leaderboard, runs, train
from core.errors import DataError, JobError
from core.selection import leaderboard as board
from core.settings import PROJECT
from tests.conftest import DEMO_ARGS

FAST = ["--param", "n_estimators=20", "num_leaves=7"]


def table(metric, values):
    return pd.DataFrame(
        {
            "family": list(values),
            "run_id": [f"r{i}" for i in range(len(values))],
            f"{metric}_mean": list(values.values()),
            f"{metric}_std": 0.0,
        }
    )


def test_ranking_is_descending_except_log_loss_and_keeps_the_given_order_on_ties():
    assert board.ranked(table("roc_auc", {"a": 0.7, "b": 0.8, "c": 0.7}), "roc_auc")["family"].tolist() == ["b", "a", "c"]
    assert board.ranked(table("pr_auc", {"a": 0.1, "b": 0.3, "c": 0.2}), "pr_auc")["family"].tolist() == ["b", "c", "a"]
    assert board.ranked(table("log_loss", {"a": 0.3, "b": 0.2, "c": 0.3}), "log_loss")["family"].tolist() == ["b", "a", "c"]
    with pytest.raises(DataError, match="Unknown leaderboard metric"):
        board.ranked(table("brier", {"a": 0.1}), "brier")


def folds(values):
    return pd.DataFrame({"fold": range(len(values)), "roc_auc": values, "log_loss": [1 - v for v in values]})


def test_from_folds_mean_sample_std_and_t_test_against_the_best():
    found = {"gbdt": folds([0.8, 0.7, 0.9]), "linear": folds([0.7, 0.68, 0.8]), "forest": folds([0.81, 0.69, 0.91])}
    found["linear"] = found["linear"].iloc[::-1]  # fold order in the file does not matter: folds pair by number
    ids = {"gbdt": "g", "linear": "l", "forest": "f"}
    out = board.from_folds(found, ids, "roc_auc")
    assert out.columns.tolist() == ["family", "run_id", "roc_auc_mean", "roc_auc_std", "p_value_vs_best"]
    assert out["family"].tolist() == ["forest", "gbdt", "linear"]
    assert out["run_id"].tolist() == ["f", "g", "l"]
    assert out["roc_auc_mean"].tolist() == pytest.approx([2.41 / 3, 0.8, 2.18 / 3], abs=1e-12)
    assert out.loc[1, "roc_auc_std"] == pytest.approx(0.1, abs=1e-12)  # 0.8, 0.7, 0.9: sample std 0.1
    assert np.isnan(out.loc[0, "p_value_vs_best"])
    assert out.loc[1, "p_value_vs_best"] == pytest.approx(stats.ttest_rel([0.81, 0.69, 0.91], [0.8, 0.7, 0.9]).pvalue, abs=1e-12)
    assert out.loc[2, "p_value_vs_best"] == pytest.approx(stats.ttest_rel([0.81, 0.69, 0.91], [0.7, 0.68, 0.8]).pvalue, abs=1e-12)
    by_loss = board.from_folds(found, ids, "log_loss")
    assert by_loss["family"].tolist() == ["forest", "gbdt", "linear"]  # lowest loss first
    assert by_loss["log_loss_mean"].iloc[0] == pytest.approx(1 - 2.41 / 3, abs=1e-12)
    with pytest.raises(DataError, match="same"):
        board.from_folds({"gbdt": folds([0.8, 0.7, 0.9]), "linear": folds([0.7, 0.6])}, ids, "roc_auc")


RNG = np.random.default_rng(3)
Y = (RNG.random(300) < 0.3).astype(int)
SCORES = {"gbdt": np.clip(0.3 + 0.5 * (Y - 0.3) + RNG.normal(0, 0.25, 300), 0.01, 0.99), "linear": RNG.uniform(0.01, 0.99, 300)}


def predictions(family, order):
    return pd.DataFrame({"row": order, "y": Y[order], "score": SCORES[family][order]})


def test_from_holdout_joins_on_row_and_ranks_by_the_test_metric():
    forward, backward = np.arange(300), np.arange(300)[::-1]
    out = board.from_holdout(
        {"linear": predictions("linear", backward), "gbdt": predictions("gbdt", forward)}, {"linear": "l", "gbdt": "g"}, "roc_auc", 200
    )
    assert out["family"].tolist() == ["gbdt", "linear"]
    assert out["roc_auc_mean"].tolist() == pytest.approx([roc_auc_score(Y, SCORES["gbdt"]), roc_auc_score(Y, SCORES["linear"])], abs=1e-12)
    assert np.isnan(out.loc[0, "p_value_vs_best"]) and out.loc[1, "p_value_vs_best"] < 0.01
    assert (out["roc_auc_std"] > 0).all()
    records = board.records(out)
    assert records[0]["p_value_vs_best"] is None and json.loads(json.dumps(records)) == records
    with pytest.raises(DataError, match="other rows"):
        board.from_holdout({"gbdt": predictions("gbdt", forward), "linear": predictions("linear", forward[:200])}, {}, "roc_auc")


@pytest.mark.slow
def test_cli_ranks_nested_runs_trained_on_the_same_rows(train_env):
    done = subprocess.run(
        [sys.executable, "-m", "core.leaderboard", *DEMO_ARGS, "--families", "gbdt", "linear", *FAST, "--resamples", "200"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"parent_run_id", "leaderboard"}
    rows = result["leaderboard"]
    assert [set(r) for r in rows] == [{"family", "run_id", "roc_auc_mean", "roc_auc_std", "p_value_vs_best"}] * 2
    assert sorted(r["family"] for r in rows) == ["gbdt", "linear"]
    assert rows[0]["roc_auc_mean"] >= rows[1]["roc_auc_mean"]
    assert rows[0]["p_value_vs_best"] is None and 0 <= rows[1]["p_value_vs_best"] <= 1
    assert "training linear (2 of 2)" in done.stderr
    client = mlflow.tracking.MlflowClient()
    parent = client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["wb.kind"] == "leaderboard" and parent.data.tags["wb.families"] == "gbdt,linear"
    assert parent.data.tags["wb.metric"] == "roc_auc" and parent.data.metrics["progress"] == 1.0
    stored = board.stored(result["parent_run_id"])
    assert board.records(stored) == rows
    tested = {}
    for row in rows:
        child = client.get_run(row["run_id"])
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == result["parent_run_id"]
        assert child.data.tags["wb.family"] == row["family"]
        assert row["roc_auc_mean"] == pytest.approx(child.data.metrics["test_roc_auc"], abs=1e-12)
        tested[row["family"]] = runs.predictions(row["run_id"])
        assert runs.get(row["run_id"]).family == row["family"]  # an ordinary run Diagnostics opens
    assert tested["gbdt"]["row"].tolist() == tested["linear"]["row"].tolist()
    assert tested["gbdt"]["y"].tolist() == tested["linear"]["y"].tolist()
    assert result["parent_run_id"] not in runs.finished()["run_id"].tolist()  # not offered to Diagnostics itself


@pytest.mark.slow
def test_kfold_leaderboard_reads_each_runs_folds(train_env):
    spec, args = leaderboard.parse_args([*DEMO_ARGS, "--families", "linear", "gbdt", *FAST, "--validation", "kfold", "--folds", "3"])
    result = leaderboard.run(spec, args.families, "log_loss", log=train.Log(io.StringIO()))
    rows = result["leaderboard"]
    cv = {r["family"]: pd.read_parquet(runs._artifact(r["run_id"], "cv.parquet")) for r in rows}
    for row in rows:
        assert row["log_loss_mean"] == pytest.approx(cv[row["family"]]["log_loss"].mean(), abs=1e-12)
        assert row["log_loss_std"] == pytest.approx(cv[row["family"]]["log_loss"].std(ddof=1), abs=1e-12)
    assert rows[0]["log_loss_mean"] <= rows[1]["log_loss_mean"]
    best, other = (cv[r["family"]].sort_values("fold")["log_loss"] for r in rows)
    assert rows[1]["p_value_vs_best"] == pytest.approx(stats.ttest_rel(best, other).pvalue, abs=1e-12)


@pytest.mark.slow
def test_a_shared_read_trains_the_same_model_as_a_job_alone(train_env):
    spec, args = leaderboard.parse_args([*DEMO_ARGS, "--families", "linear", "forest", "--param", "n_estimators=20"])
    result = leaderboard.run(spec, args.families, "roc_auc", log=train.Log(io.StringIO()))
    alone_spec, _ = train.parse_args([*DEMO_ARGS, "--family", "linear"])
    alone = train.train(alone_spec, log=train.Log(io.StringIO()))
    child = next(r for r in result["leaderboard"] if r["family"] == "linear")
    assert child["roc_auc_mean"] == pytest.approx(alone["metrics"]["roc_auc"], abs=1e-12)


def cli(args, capsys):
    code = leaderboard.main(args)
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--families", "gbdt", "boosted"], "Unknown model family 'boosted'"),
        (["--families", "gbdt"], "at least two families"),
        (["--families", "gbdt", "gbdt"], "Name each family once"),
        (["--families", "gbdt", "linear", "--param", "depth=3"], "Parameter 'depth' belongs to none"),
        (["--families", "gbdt", "linear", "--metric", "brier"], "argument --metric: invalid choice"),
        (["--families", "gbdt", "hashed_sgd", "--validation", "kfold"], "hashed_sgd streams its data"),
        (["--families", "gbdt", "linear", "--n-trials", "3", "--timeout-s", "5"], "not allowed with argument"),
    ],
)
def test_bad_input_exits_2_with_one_line_before_any_run(train_env, capsys, args, message):
    code, result, err = cli([*DEMO_ARGS, *args], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert result["status"] == "FAILED" and result["parent_run_id"] is None


def test_bad_data_fails_the_parent_run_with_one_line(train_env, capsys):
    code, result, err = cli(["--data", "demo", "--target", "no_such_column", "--families", "gbdt", "linear"], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # after the progress lines
    assert code == 2 and len(errors) == 1 and "Unknown target column 'no_such_column'" in errors[0]
    parent = mlflow.tracking.MlflowClient().get_run(result["parent_run_id"])
    assert parent.info.status == "FAILED" and "no_such_column" in parent.data.tags["wb.error"]


def test_a_real_process_exits_2_on_an_unknown_family(train_env):
    done = subprocess.run(
        [sys.executable, "-m", "core.leaderboard", *DEMO_ARGS, "--families", "gbdt", "nope"], cwd=PROJECT, capture_output=True, text=True
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Unknown model family 'nope'; use one of: gbdt, linear, forest")


@pytest.mark.slow
def test_a_leaderboard_job_counts_as_one_job_and_finishes(train_env, monkeypatch):
    monkeypatch.setenv("WB_MAX_JOBS", "1")
    monkeypatch.setenv("WB_TRAIN_PAUSE", "fitted:4")  # each family waits after fitting: its run is seen RUNNING
    spec, args = leaderboard.parse_args([*DEMO_ARGS, "--families", "linear", "gbdt", *FAST, "--experiment", "lb-job"])
    parent = jobs.launch_leaderboard(spec, args.families, "pr_auc")
    client = mlflow.tracking.MlflowClient()
    deadline, saw_child = time.monotonic() + 240, False
    while client.get_run(parent).info.status == "RUNNING" and time.monotonic() < deadline:
        children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
        if any(c.info.status == "RUNNING" for c in children):
            saw_child = True
            assert jobs.running() == [parent]
            with pytest.raises(JobError, match="WB_MAX_JOBS=1"):
                jobs.launch(spec)
        time.sleep(0.5)
    assert client.get_run(parent).info.status == "FINISHED", jobs.log_tail(parent)
    assert saw_child
    listed = board.listing().set_index("run_id").loc[parent]
    assert listed["families"] == "linear,gbdt" and listed["metric"] == "pr_auc" and listed["progress"] == 1.0
    assert board.stored(parent).columns.tolist() == board.columns("pr_auc")
    assert jobs.list_jobs().set_index("run_id").loc[parent, "family"] == "leaderboard"

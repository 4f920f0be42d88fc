"""Every hostile input (tests/hostile.py) through the data layer, the SQL box, training, report and score: a correct
answer or one line saying what to fix; no traceback, no run left RUNNING."""

from __future__ import annotations

import json
import re

import mlflow
import pandas as pd
import pytest

from core import data, outcome, report, score, sqlbox, train
from core.errors import WorkbenchError
from tests.hostile import CASES, WORKS, Case

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("hostile_env")]
EXPERIMENT = "hostile"
FAST = {
    "gbdt": ["n_estimators=20", "num_leaves=7", "min_child_samples=5"],
    "linear": ["max_iter=100"],
    "forest": ["n_estimators=10", "max_depth=4", "min_samples_leaf=5"],
    "hashed_sgd": ["batch_rows=1000", "n_features_log2=12"],
}


@pytest.fixture(scope="module")
def con(hostile_root):
    return data.connect(hostile_root[0])


@pytest.fixture(scope="module")
def listing(con):
    return data.datasets(con).set_index("name")


def attempt(fn):
    """(result, None) or (None, the WorkbenchError's message)."""
    try:
        return fn(), None
    except WorkbenchError as err:
        return None, str(err)


def expect(case: Case, stage: str, fn):
    """Runs one step of a stage: its result when the stage works, else asserts the refusal is the expected one line."""
    result, refusal = attempt(fn)
    wanted = case.expect(stage)
    if wanted == WORKS:
        assert refusal is None, f"{case.name} {stage}: refused: {refusal}"
    else:
        assert refusal is not None, f"{case.name} {stage}: should be refused ({wanted}) but gave {result!r:.200}"
        assert re.search(wanted, refusal), f"{case.name} {stage}: {refusal!r} does not match {wanted!r}"
        assert len(refusal.strip().splitlines()) == 1, refusal
    return result


def segment_column(cols: dict[str, str], case: Case) -> str:
    text = [c for c, kind in cols.items() if kind == "VARCHAR" and c not in (case.target, case.time_column)]
    return (text or [c for c in cols if c != case.target])[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_data_layer_answers_or_says_what_to_fix(case, hostile_root, con, listing):
    truth = hostile_root[1][case.name]
    row = listing.loc[case.name]
    if case.read != WORKS:
        assert re.search(case.read, row["error"]), row["error"]
    else:
        assert row["error"] == "" and row["rows"] == truth.rows
    cols = expect(case, "read", lambda: data.columns(con, case.name))
    profile = expect(case, "read", lambda: data.profile(con, case.name))
    expect(case, "read", lambda: outcome.likely_target(con, case.name))
    counted = expect(case, "read", lambda: sqlbox.run_sql(con.cursor(), f'SELECT count(*) AS n FROM "{case.name}"', dataset=case.name))
    if case.read != WORKS:
        return
    assert profile["column"].tolist() == list(cols)
    assert int(counted["n"].iloc[0]) == truth.rows
    by = segment_column(cols, case)
    table = expect(case, "rates", lambda: data.segment_rates(con, case.name, case.target, [by]))
    if table is not None:  # rows with a target, and positives as the analyst means them
        assert (int(table["rows"].sum()), int(table["positives"].sum())) == (truth.labelled, truth.positives)
        assert table["rate"].between(0, 1).all()
    if case.time_column:
        series = expect(case, "over_time", lambda: data.rate_over_time(con, case.name, case.target, case.time_column, "day"))
        if series is not None:
            assert int(series["rows"].sum()) == truth.labelled


def train_args(case: Case, family: str, tmp_path) -> list[str]:
    args = ["--data", case.name, "--target", case.target, "--family", family, "--param", *FAST[family], "--experiment", EXPERIMENT]
    args += ["--time-column", case.time_column] if case.time_column else ["--split", "stratified"]
    if case.spec:
        spec = tmp_path / "extra.yaml"
        spec.write_text(json.dumps({"dataset": case.name, "target": case.target, **case.spec}))
        args += ["--spec", str(spec)]
    return args


def run_cli(main, args, capsys) -> tuple[int, dict, str]:
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, json.loads(out.strip().splitlines()[-1]), err


def assert_one_error_line(err: str, wanted: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0] == err.strip().splitlines()[-1], err
    assert re.search(wanted, lines[0]), f"{lines[0]!r} does not match {wanted!r}"


PAIRS = [(case, family) for case in CASES for family in case.families]


@pytest.mark.parametrize(("case", "family"), PAIRS, ids=[f"{c.name}-{f}" for c, f in PAIRS])
def test_training_finishes_or_exits_2_with_one_line(case, family, hostile_root, hostile_runs, capsys, tmp_path):
    code, result, err = run_cli(train.main, train_args(case, family, tmp_path), capsys)
    if case.train == WORKS:
        assert code == 0, err
        assert result["status"] == "FINISHED"
        assert sum(result["rows"].values()) == min(hostile_root[1][case.name].labelled, case.spec.get("sample_rows") or 10**9)
        assert 0.0 <= result["metrics"]["roc_auc"] <= 1.0
        if family == "gbdt":
            hostile_runs.setdefault(case.name, result["run_id"])
    else:
        assert code == 2, err
        assert_one_error_line(err, case.train)
        assert result["status"] == "FAILED"
    if "run_id" in result:
        assert mlflow.get_run(result["run_id"]).info.status == ("FINISHED" if code == 0 else "FAILED")


def finished_run(case: Case, runs: dict[str, str], capsys, tmp_path) -> str:
    """A finished gbdt run on the case: one the training test made, else a new one."""
    if case.name not in runs:
        code, result, err = run_cli(train.main, train_args(case, "gbdt", tmp_path), capsys)
        assert code == 0, err
        runs[case.name] = result["run_id"]
    return runs[case.name]


TRAINED = [case for case in CASES if case.train == WORKS]


@pytest.mark.parametrize("case", TRAINED, ids=lambda c: c.name)
def test_report_and_score_on_a_finished_run(case, hostile_root, hostile_runs, capsys, tmp_path):
    run_id = finished_run(case, hostile_runs, capsys, tmp_path)
    code, result, err = run_cli(report.main, ["--run", run_id, "--out", str(tmp_path / "report")], capsys)
    assert code == 0, err
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())
    out = tmp_path / "scores.parquet"
    code, result, err = run_cli(
        score.main, ["--model", f"runs:/{run_id}/model", "--data", case.name, "--out", str(out), "--threshold", "0.5"], capsys
    )
    assert code == 0, err
    scores = pd.read_parquet(out)
    assert len(scores) == result["rows"] == hostile_root[1][case.name].rows  # every row, a target or not
    assert scores["score"].between(0, 1).all() and set(scores["decision"]) <= {0, 1}


def test_no_run_is_left_running():
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    found = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert found, "the training tests made no runs"
    assert [r.info.run_id for r in found if r.info.status not in ("FINISHED", "FAILED")] == []

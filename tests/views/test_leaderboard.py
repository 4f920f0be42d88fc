"""Train page's "Compare families": a finished leaderboard's ranked table with links, Register best, the launch rules."""

import io

import mlflow
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import leaderboard, train
from core.selection import leaderboard as board
from core.settings import PROJECT
from tests.conftest import DEMO_ARGS


@pytest.fixture
def finished_board(train_env):
    """A finished two-family leaderboard (small models) in the session's store: (its result, the table)."""
    spec, args = leaderboard.parse_args([*DEMO_ARGS, "--families", "linear", "gbdt", "--param", "n_estimators=20"])
    result = leaderboard.run(spec, args.families, "roc_auc", log=train.Log(io.StringIO()), resamples=200)
    return result, board.stored(result["parent_run_id"])


def run():
    at = AppTest.from_file(str(PROJECT / "views/train.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_table(at):
    return next(d.value for d in at.dataframe if "p_value_vs_best" in d.value.columns)


@pytest.mark.slow
def test_a_finished_leaderboard_shows_ranked_with_links_and_registers_the_best(finished_board):
    result, table = finished_board
    at = run()
    assert at.selectbox(key="train.compare.run").value == result["parent_run_id"]  # the newest leaderboard
    shown = shown_table(at)
    assert shown["family"].tolist() == table["family"].tolist() == [r["family"] for r in result["leaderboard"]]
    best, second = result["leaderboard"]
    assert shown["score"].tolist() == [
        f"{best['roc_auc_mean']:.4f} ± {best['roc_auc_std']:.4f}",
        f"{second['roc_auc_mean']:.4f} ± {second['roc_auc_std']:.4f}",
    ]
    assert shown["p_value_vs_best"].tolist() == ["best", board.p_text(second["p_value_vs_best"])]
    assert shown["diagnostics"].tolist() == [f"/diagnostics?run={r['run_id']}" for r in result["leaderboard"]]
    assert at.button(key="train.compare.register").label == f"Register best ({best['family']})"
    at.text_input(key="train.compare.model").set_value("leaderboard-best")
    at.button(key="train.compare.register").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Registered leaderboard-best version 1" in s.value for s in at.success)
    version = mlflow.tracking.MlflowClient().get_model_version_by_alias("leaderboard-best", "challenger")
    assert version.run_id == best["run_id"]


def test_compare_needs_two_families(train_env):
    at = run()
    assert at.multiselect(key="train.compare.families").value == ["gbdt", "linear", "forest"]
    assert at.selectbox(key="train.compare.metric").value == "roc_auc"
    assert not at.button(key="train.compare.launch").disabled
    at.multiselect(key="train.compare.families").set_value(["gbdt"]).run()
    assert at.button(key="train.compare.launch").disabled


def test_shown_table_values():
    rows = [("linear", "b" * 32, 0.21234, 0.01, 0.04), ("gbdt", "a" * 32, 0.20004, 0.00456, float("nan"))]
    table = board.ranked(pd.DataFrame(rows, columns=board.columns("log_loss")), "log_loss")
    shown = board.shown(table, "log_loss")
    assert shown.columns.tolist() == board.SHOWN_COLUMNS
    assert shown["rank"].tolist() == [1, 2]
    assert shown["score"].tolist() == ["0.2000 ± 0.0046", "0.2123 ± 0.0100"]
    assert shown["diagnostics"].tolist() == [f"/diagnostics?run={'a' * 32}", f"/diagnostics?run={'b' * 32}"]
    assert shown["p_value_vs_best"].tolist() == ["best", "0.040"]
    assert [board.p_text(p) for p in (0.0004, 0.001, 0.0126, 1.0)] == ["< 0.001", "0.001", "0.013", "1.000"]

"""The Threshold tab's value mode on a run with a value stage: the suggested cut, both profits, and the saved policy."""

import mlflow
import numpy as np
from streamlit.testing.v1 import AppTest

from core import runs
from core.diagnostics import threshold
from core.settings import PROJECT
from views.threshold_inputs import MODES

COST = 2.0


def run(**state):
    at = AppTest.from_file(str(PROJECT / "views/diagnostics.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def brute_force_cut(frame, cost: float, capacity: float | None) -> float:
    """The max-expected-profit cut by trying every distinct score: sum over rows with score >= cut of (expected_value - cost)."""
    best, best_profit = np.nan, 0.0
    for cut in np.sort(frame["score"].unique())[::-1]:  # from the highest: a tie keeps the higher cut
        flagged = frame["score"] >= cut
        if capacity is not None and flagged.mean() > capacity:
            break
        profit = (frame.loc[flagged, "expected_value"] - cost).sum()
        if profit > best_profit + 1e-9:
            best, best_profit = cut, profit
    return best


def test_value_mode_suggests_the_max_expected_profit_cut_and_saving_records_the_mode(train_env, value_run):
    frame = runs.predictions(value_run)
    assert {"value_if_converted", "expected_value"} <= set(frame.columns)
    at = run(**{"diag.run": value_run, "diag.tab": "Threshold"})
    assert at.radio(key="diag.value_mode").value == MODES[0]  # one constant value per TP, as before
    at.radio(key="diag.value_mode").set_value(MODES[1]).run()
    assert "diag.value_tp" not in [n.key for n in at.number_input]  # a cost per action replaces value and costs
    at.number_input(key="diag.cost_per_action").set_value(COST).run()
    assert not at.exception, [e.value for e in at.exception]
    suggested = threshold.suggestions(threshold.threshold_frame(frame), 0, 0, 0, cost_per_action=COST)
    cut = suggested["threshold"].iat[1]
    assert suggested["suggestion"].iat[1] == "max expected profit" and cut == brute_force_cut(frame, COST, None)
    assert at.button(key="diag.suggest.1").label == "max expected profit"
    at.button(key="diag.suggest.1").click().run()
    assert at.session_state["diag.cut"] == cut
    flagged = frame["score"] >= cut
    expected = (frame.loc[flagged, "expected_value"] - COST).sum()
    realised = frame.loc[flagged & (frame["y"] == 1), "value_if_converted"].sum() - COST * flagged.sum()
    assert next(m.value for m in at.metric if m.label == "expected profit") == f"{expected:,.2f}"
    assert any(f"realised profit {realised:,.2f}" in c.value for c in at.caption)

    at.number_input(key="diag.capacity").set_value(5.0).run()  # capacity binds as in constant mode
    at.button(key="diag.suggest.1").click().run()
    assert at.session_state["diag.cut"] == brute_force_cut(frame, COST, 0.05) > cut  # fewer rows: a higher cut
    at.button(key="diag.save").click().run()
    tags = mlflow.get_run(value_run).data.tags
    chosen = threshold.policy("max_value_profit", cost_per_action=COST, capacity=0.05)
    assert runs.saved_policy(tags) == chosen and runs.saved_cost_per_action(tags) == COST
    assert float(tags["wb.threshold"]) == at.session_state["diag.cut"]
    assert any(
        "(max expected profit (each row's value if converted per TP, cost 2 per action, capacity 5%))" in s.value for s in at.success
    )

    reopened = run(**{"diag.run": value_run, "diag.tab": "Threshold"})  # opens in the mode it was saved in
    assert reopened.radio(key="diag.value_mode").value == MODES[1] and reopened.number_input(key="diag.cost_per_action").value == COST


def test_a_run_without_a_value_stage_has_no_mode_to_pick(train_env, demo_run):
    at = run(**{"diag.run": demo_run, "diag.tab": "Threshold"})
    assert "diag.value_mode" not in [r.key for r in at.radio] and at.number_input(key="diag.value_tp")

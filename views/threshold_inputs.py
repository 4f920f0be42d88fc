"""The Threshold tab's values and costs: one constant value per true positive, or each row's value if converted and a cost per action."""

from typing import NamedTuple

import pandas as pd
import streamlit as st

from core import runs, settings
from core.diagnostics import threshold

MODES = ("one constant", "each row's expected value")


class Inputs(NamedTuple):
    """What the tab's profit is computed with; cost_per_action is None with one constant value per true positive."""

    value_tp: float
    cost_fp: float
    cost_fn: float
    capacity: float | None
    cost_per_action: float | None


def threshold_inputs(frame: pd.DataFrame, saved: dict, tags: dict) -> Inputs:
    """Draws the mode (when the rows carry value_if_converted), the values and costs, and the capacity; returns them."""
    saved_cost = runs.saved_cost_per_action(tags)
    valued = False
    if threshold.VALUE_COLUMN in frame:  # a run with a value stage
        mode = st.radio(
            "Value of a true positive",
            MODES,
            index=int(saved_cost is not None),  # opened as it was saved
            horizontal=True,
            key="diag.value_mode",
            help="Each row's expected value: a flagged converter earns its predicted value if converted; every flagged row costs the cost per action",
        )
        valued = mode == MODES[1]
    defaults = {name: saved.get(name) or settings.get(name) for name in ("value_tp", "cost_fp", "cost_fn")}
    if valued:
        cost_col, cap_col = st.columns(2)
        cost_per_action = cost_col.number_input(
            "Cost per action",
            0.0,
            value=saved_cost if saved_cost is not None else defaults["cost_fp"],
            key="diag.cost_per_action",
            help="What acting on one flagged row costs (a call, a discount, a bid), whether or not it converts",
        )
        values = defaults  # not shown: saved with the cut as they were
    else:
        cost_per_action = None
        value_col, fp_col, fn_col, cap_col = st.columns(4)
        values = {
            "value_tp": value_col.number_input("Value per true positive", 0.0, value=defaults["value_tp"], key="diag.value_tp"),
            "cost_fp": fp_col.number_input("Cost per false positive", 0.0, value=defaults["cost_fp"], key="diag.cost_fp"),
            "cost_fn": fn_col.number_input("Cost per false negative", 0.0, value=defaults["cost_fn"], key="diag.cost_fn"),
        }
    capacity_pct = cap_col.number_input(
        "Capacity: flag at most % of rows (0 = no limit)", 0.0, 100.0, value=100 * (saved.get("capacity") or 0.0), key="diag.capacity"
    )
    return Inputs(values["value_tp"], values["cost_fp"], values["cost_fn"], capacity_pct / 100 or None, cost_per_action)


def realised_caption(row: pd.Series, cost_per_action: float) -> None:
    """Both profits at the cut in force (value mode): expected from every flagged row's p × value, realised from the converters."""
    st.caption(
        f"At this cut: expected profit {row['expected_profit']:,.2f} = Σ flagged (score × value if converted − {cost_per_action:g}); "
        f"realised profit {row['realised_profit']:,.2f} = Σ flagged converters' value if converted − {cost_per_action:g} × flagged."
    )

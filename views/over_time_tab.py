"""Diagnostics' Over time tab: rolling-window metrics and drift over the run's time column."""

import pandas as pd
import streamlit as st

from core import settings, ui
from core.diagnostics import rolling
from core.plots import over_time as over_time_plots


def over_time_tab(run_id: str, filters_key: tuple, frame: pd.DataFrame, cut: float) -> None:
    """The tab's body for the run's filtered test rows `frame`, at the threshold `cut` in force."""
    if "time" not in frame:
        st.info("This run has no time column, so there are no windows over time. Train with a time column to see them.")
        return
    length_col, step_col, wait_col = st.columns(3)
    length = length_col.number_input("Window (days)", 1, 90, 7, key="diag.window_days")
    step = step_col.number_input("Step (days)", 1, 90, 1, key="diag.step_days")
    wait = wait_col.number_input(
        "Conversion window (days)",
        0.0,
        90.0,
        float(settings.get("conversion_days")),
        key="diag.conversion_days",
        help="Conversions can arrive this late: younger windows are immature and their metrics estimated",
    )
    windows = ui.on_run(
        rolling.windows,
        run_id,
        filters_key,
        length_days=int(length),
        step_days=int(step),
        threshold=cut,
        conversion_days=wait or None,
    )
    too_short = ui.on_run(rolling.span_note, run_id, filters_key, int(length), wait or None)
    if too_short:
        st.warning(too_short)
    metric = st.selectbox(
        "Metric",
        ["roc_auc", "pr_auc", "calibration_ratio", "ece", "base_rate", "mean_score", "precision", "recall"],
        key="diag.window_metric",
    )
    st.plotly_chart(over_time_plots.metric_over_time(windows, metric), key="diag.window_chart")
    st.plotly_chart(over_time_plots.psi_over_time(windows), key="diag.psi_chart")
    drifted = int(windows["drift"].fillna(False).sum())
    st.caption(
        f"Windows are [start, end): start inclusive, end exclusive. {drifted} window(s) drifted "
        "(ROC AUC below the first mature window's interval, or calibration ratio outside 0.8–1.25). "
        "Windows with fewer than 30 positives are marked; immature windows show estimates from the calibrated scores (dashed); "
        "windows that run past the data's end (`past_end`) hold fewer days than the window."
    )
    st.dataframe(windows, hide_index=True, key="diag.windows")

"""Diagnostics' learning-curve panel (Overview tab): the curve a run logged, read by one metric, with the verdict in words."""

import pandas as pd
import streamlit as st

from core import runs, ui
from core.plots import learning as learning_plots
from core.selection import learning

HOW_TO_GET = (
    "This run has no learning curve: tick **Learning curve** on the Train page (or set `learning_curve: true` in the spec) "
    "and train again to see whether more data would help."
)


@st.cache_resource(show_spinner=False, max_entries=8)
def run_learning_curve(run_id: str) -> pd.DataFrame | None:
    """A finished run's learning_curve.parquet (or None), read once per process; do not mutate."""
    return runs.learning_curve(run_id)


def learning_panel(run_id: str) -> None:
    """The panel: a metric select, train and validation curves side by side, the verdict; else how to get one."""
    st.subheader("Learning curve")
    frame = None
    with ui.shown_errors():
        frame = run_learning_curve(run_id)
    if frame is None:
        st.caption(HOW_TO_GET)
        return
    metric = st.selectbox("Metric", learning.METRICS, key="diag.learning_metric", format_func=lambda m: m.replace("_", " "))
    st.plotly_chart(learning_plots.learning_curves(learning.learning_summary(frame, metric), metric), key="diag.learning_chart")
    st.markdown(f"**{learning.learning_verdict(frame, metric)}**")
    folds = frame["fold"].nunique()
    st.caption(
        f"Computed when the run trained, on its train and validation rows ({folds} fold{'s' if folds > 1 else ''}), "
        "so the page filter does not apply. Each point refits the model on a share of a fold's training rows (the newest "
        "share when the rows are ordered in time); bands are ±1 standard deviation over folds. Still rising means the last "
        "step up in rows improved the validation metric by more than its fold spread and a small tolerance."
    )

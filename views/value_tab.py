"""Diagnostics' Value tab: expected value against actual value, by decile, by ranking, by segment and by horizon."""

import json

import numpy as np
import pandas as pd
import streamlit as st

from core import runs, ui
from core.diagnostics import diagnose
from core.plots import value as value_plots
from core.value import diagnostics as vd

HOW_TO_ADD = (
    "This run has no value stage: train with `--value-column COL` (or the Train page's Value stage) to see expected value "
    "against actual revenue here."
)
METRICS = ("rmse", "mae", "r2", "rmsle")


@st.cache_resource(show_spinner=False, max_entries=8)
def run_value_metrics(run_id: str) -> pd.DataFrame | None:
    """A finished run's value_metrics.parquet (or None), read once per process; do not mutate."""
    return runs.value_metrics(run_id)


def value_columns(tags: dict) -> tuple[str, list[str]]:
    """(headline value column, horizons) from a run's tags; ("", []) without a value stage."""
    return tags.get("wb.value_column") or "", json.loads(tags.get("wb.value_horizons") or "[]")


def _number(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:,.4g}"


def value_tab(run_id: str, filters_key: tuple, frame: pd.DataFrame, tags: dict) -> None:
    """The tab's body for the run's filtered test rows `frame`; the one-line hint when the run has no value stage."""
    headline, horizons = value_columns(tags)
    if not headline:
        st.info(HOW_TO_ADD)
        return
    column = headline
    if horizons:
        column = ui.choice("Value column (horizon)", horizons, headline, key="diag.value_horizon")

    st.subheader(f"Regression metrics on test converters · `{column}`")
    table = None
    with ui.shown_errors():
        table = run_value_metrics(run_id)
    shown = None if table is None else table[table["horizon"] == column]
    if shown is None or shown.empty:
        st.caption("This run logged no value metrics for this column.")
    else:
        by_metric = shown.set_index("metric")
        for col, name in zip(st.columns(len(METRICS)), METRICS, strict=True):
            if name in by_metric.index:
                value, lo, hi = by_metric.loc[name, ["value", "lo", "hi"]]
                col.metric(
                    name.upper() if name != "r2" else "R²", _number(value), help=f"95% bootstrap interval {_number(lo)} – {_number(hi)}"
                )
        first = shown.iloc[0]
        st.caption(
            f"On {int(first['rows']):,} test converters with a known `{column}`, computed when the run trained: the page "
            "filter does not apply. Intervals: 95% bootstrap." + (f" {first['note']}" if first.get("note") else "")
        )
        st.dataframe(shown, hide_index=True, key="diag.value_metrics")

    deciles = ui.on_run(vd.value_deciles, run_id, filters_key, column)
    young = ui.on_run(vd.maturity_note, run_id, filters_key, column)
    if young.startswith("No row is mature"):  # a test split younger than the horizon: shown, but immature
        st.warning(young)
    left_out = len(frame) - int(deciles["rows"].sum())
    if left_out:
        st.caption(
            f"{left_out:,} of {len(frame):,} rows left out: their `{column}` is not known yet (missing, or younger than the horizon)."
        )

    st.subheader("Predicted against actual, by decile of expected value")
    st.plotly_chart(value_plots.decile_bars(deciles, column), key="diag.value_deciles_chart")
    st.dataframe(deciles, hide_index=True, key="diag.value_deciles")
    st.caption("Ratio = mean predicted / mean actual: above 1 the model over-predicts. Actual value counts non-converters as 0.")

    st.subheader("Value gain: whom to act on first")
    gain = ui.on_run(vd.value_gain, run_id, filters_key, column)
    st.markdown(f"**{vd.capture_words(gain, 0.1)}**")
    st.plotly_chart(value_plots.gain_curves(gain), key="diag.value_gain_chart")

    st.subheader("Residuals by segment")
    segments = [c for c in diagnose.segment_columns(frame) if c not in vd.value_stage_columns(frame, horizons or [headline])]
    if not segments:
        st.caption("This run logged no segment columns.")
    else:
        segment = st.selectbox("Segment column", segments, key="diag.value_segment")
        residuals = ui.on_run(vd.value_residuals_by_segment, run_id, filters_key, column, segment)
        st.plotly_chart(value_plots.residual_bars(residuals, segment), key="diag.value_residual_chart")
        st.dataframe(residuals, hide_index=True, key="diag.value_residuals")
        st.caption(
            "Residual = mean actual − mean predicted value per row (above 0: under-predicted); worst first by |z|, the "
            "residual in standard errors of the segment's actual mean, so a small noisy segment does not lead the list."
        )

    if horizons:
        st.subheader("Horizons")
        by_horizon = ui.on_run(vd.horizon_table, run_id, filters_key, tuple(horizons))
        young = by_horizon.loc[by_horizon["immature"], "horizon"].tolist()
        if young:
            st.warning(f"Immature: {', '.join(young)}. Their value is still arriving on the youngest rows, which are left out.")
        st.plotly_chart(value_plots.horizon_chart(by_horizon), key="diag.value_horizon_chart")
        st.dataframe(by_horizon, hide_index=True, key="diag.value_horizons")

"""Metrics over time from the table core.diagnostics.rolling.windows returns; layout only. Each window is drawn at its start."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.plots import PERCENT, interval_band

BANDS = {
    "base_rate": ("base_rate_lo", "base_rate_hi"),
    "roc_auc": ("roc_auc_lo", "roc_auc_hi"),
    "calibration_ratio": ("calibration_ratio_lo", "calibration_ratio_hi"),
}
ESTIMATES = {"roc_auc": "est_roc_auc", "precision": "est_precision", "recall": "est_recall"}
PERCENTS = {"base_rate", "mean_score", "precision", "recall"}
GUIDES = {"calibration_ratio": (0.8, 1.0, 1.25), "roc_auc": (0.5,)}
PSI_GUIDES = ((0.1, "0.1 moderate shift"), (0.25, "0.25 major shift"))
LINE = "rgb(31,119,180)"
ESTIMATE = "rgb(255,127,14)"
DRIFT = "rgb(214,39,40)"
HOVER = "%{customdata[0]} – %{customdata[1]}<br>rows %{customdata[2]:,}, positives %{customdata[3]:,}<br>%{customdata[4]}"


def metric_over_time(table: pd.DataFrame, metric: str) -> go.Figure:
    """One metric per window at the window's start, with its 95% band where it has one.

    Hollow markers: fewer positives than the table's minimum. Dashed: the confidence-based estimate on immature windows
    (roc_auc, precision, recall), with error bars where the table has its interval (roc_auc). Red crosses: drift. A shaded span covers the immature windows, a dotted one those that
    run past the data's end.
    """
    if metric not in table:
        raise ValueError(f"{metric!r} is not a column of the windows table")
    x = table["start"]
    fig = go.Figure()
    if metric in BANDS:
        lo, hi = BANDS[metric]
        interval_band(fig, x, table[lo], table[hi])
    fig.add_scatter(
        x=x,
        y=table[metric],
        mode="lines+markers",
        name=metric,
        line=dict(color=LINE),
        marker=dict(symbol=table["few_positives"].map({True: "circle-open", False: "circle"}).tolist(), size=8, color=LINE),
        customdata=_hover_data(table),
        hovertemplate=f"{metric} = %{{y:.4g}}<br>{HOVER}<extra></extra>",
    )
    immature = table[~table["mature"].astype(bool)]
    if metric in ESTIMATES and len(immature):
        estimate = immature[ESTIMATES[metric]]
        bounds = (f"{ESTIMATES[metric]}_lo", f"{ESTIMATES[metric]}_hi")
        spread = None
        if set(bounds) <= set(immature.columns):  # the estimate's 95% interval, where the table has one (ROC AUC)
            spread = dict(type="data", array=immature[bounds[1]] - estimate, arrayminus=estimate - immature[bounds[0]], color=ESTIMATE)
        fig.add_scatter(
            x=immature["start"],
            y=estimate,
            mode="lines+markers",
            name="estimated (labels immature)",
            line=dict(color=ESTIMATE, dash="dash"),
            marker=dict(color=ESTIMATE, size=7),
            error_y=spread,
            hovertemplate=f"estimated {metric} = %{{y:.4g}}<extra></extra>",
        )
    drifted = table[table["drift"].astype(bool)]
    if len(drifted):
        fig.add_scatter(
            x=drifted["start"],
            y=drifted[metric],
            mode="markers",
            name="drift",
            marker=dict(symbol="x", size=12, color=DRIFT),
            hovertemplate="drift<extra></extra>",
        )
    if len(immature):
        fig.add_vrect(
            x0=immature["start"].min(), x1=immature["start"].max(), fillcolor="grey", opacity=0.12, line_width=0,
            annotation_text="labels immature", annotation_position="top left",
        )  # fmt: skip
    past_end = table[table["past_end"].astype(bool)] if "past_end" in table else table.iloc[:0]
    if len(past_end):
        fig.add_vrect(
            x0=past_end["start"].min(), x1=past_end["start"].max(), fillcolor="white", opacity=0.5, line_width=1, line_dash="dot",
            annotation_text="windows run past the data's end", annotation_position="bottom left",
        )  # fmt: skip
    for level in GUIDES.get(metric, ()):
        fig.add_hline(y=level, line_dash="dot", line_color="grey", line_width=1)
    fig.update_xaxes(title="window start")
    fig.update_yaxes(title=metric, tickformat=PERCENT if metric in PERCENTS else None)
    return fig.update_layout(
        title=f"{metric} per window", hovermode="closest", margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.2)
    )


def psi_over_time(table: pd.DataFrame) -> go.Figure:
    """PSI of each window's scores against the first window's, at the window's start, with 0.1 and 0.25 guide lines."""
    fig = go.Figure()
    fig.add_scatter(
        x=table["start"],
        y=table["psi"],
        mode="lines+markers",
        name="psi",
        line=dict(color=LINE),
        customdata=_hover_data(table),
        hovertemplate=f"PSI = %{{y:.4f}}<br>{HOVER}<extra></extra>",
    )
    for level, label in PSI_GUIDES:
        fig.add_hline(y=level, line_dash="dash", line_color="grey", line_width=1, annotation_text=label, annotation_position="top left")
    fig.update_xaxes(title="window start")
    highest = table["psi"].max()
    fig.update_yaxes(title="PSI vs first window", range=[0, highest * 1.1 if highest > 0.27 else 0.3])  # keep both guides in view
    return fig.update_layout(title="Score stability (PSI) per window", margin=dict(t=50, b=10), showlegend=False)


def _hover_data(table: pd.DataFrame) -> list[list]:
    start = table["start"].dt.strftime("%Y-%m-%d %H:%M")
    end = table["end"].dt.strftime("%Y-%m-%d %H:%M")
    return list(zip(start, end, table["rows"], table["positives"], table["note"].replace("", "ok"), strict=True))

"""Threshold explorer figures from the threshold table: metrics and profit by cut, and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.diagnostics.threshold import at
from core.plots import PERCENT

DRAWN_POINTS = 2000
METRICS = (("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("flagged_share", "flagged share"))


def metrics_by_threshold(table: pd.DataFrame, threshold: float) -> go.Figure:
    """Precision, recall, F1 and flagged share against the threshold, with a dashed line at the chosen cut."""
    shown = _thinned(table.iloc[1:])  # the +inf "flag nothing" row has no place on a threshold axis
    fig = go.Figure()
    for column, name in METRICS:
        fig.add_scatter(x=shown["threshold"], y=shown[column], mode="lines", name=name)
    if np.isfinite(threshold):
        fig.add_vline(x=threshold, line_dash="dash", line_color="grey", annotation_text=f"cut {threshold:.4g}")
    fig.update_xaxes(title="threshold (flag rows with score ≥ threshold)")
    fig.update_yaxes(tickformat=PERCENT, range=[0, 1.02])
    return fig.update_layout(
        title="Metrics by threshold", hovermode="x unified", margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.2)
    )


def profit_curve(table: pd.DataFrame, threshold: float, x: str = "flagged_share") -> go.Figure:
    """Profit against flagged share (or threshold) from a table with profit, the flag-nothing baseline and the chosen cut marked.

    A value-mode table (core.diagnostics.threshold.with_value_profit) draws its profit as expected profit and its realised profit dashed.
    """
    if x not in ("flagged_share", "threshold"):
        raise ValueError(f"x={x!r}: draw profit against 'flagged_share' or 'threshold'")
    shown = _thinned(table if x == "flagged_share" else table.iloc[1:])
    fig = go.Figure()
    lines = [("profit", "profit", "solid")]
    if "realised_profit" in table:
        lines = [("profit", "expected profit", "solid"), ("realised_profit", "realised profit", "dash")]
    for column, name, dash in lines:
        fig.add_scatter(
            x=shown[x],
            y=shown[column],
            mode="lines",
            name=name,
            line_dash=dash,
            customdata=shown[["threshold", "flagged_share"]].to_numpy(),
            hovertemplate=f"threshold %{{customdata[0]:.4g}}<br>flagged %{{customdata[1]:.2%}}<br>{name} %{{y:,.2f}}<extra></extra>",
        )
    fig.add_hline(y=table["profit"].iat[0], line_dash="dot", line_color="grey", annotation_text="flag nothing")
    chosen = at(table, threshold)
    if np.isfinite(chosen[x]):
        fig.add_scatter(
            x=[chosen[x]], y=[chosen["profit"]], mode="markers", name="chosen cut", marker=dict(size=11, color="crimson", symbol="x")
        )
    if x == "flagged_share":
        fig.update_xaxes(title="share of rows flagged", tickformat=PERCENT)
    else:
        fig.update_xaxes(title="threshold (flag rows with score ≥ threshold)")
    fig.update_yaxes(title="profit")
    return fig.update_layout(title="Profit by cut", margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.2))


def confusion_heatmap(confusion_frame: pd.DataFrame) -> go.Figure:
    """The 2x2 confusion counts as a heatmap, actual 1 on top, counts written in the cells."""
    fig = go.Figure(
        go.Heatmap(
            z=confusion_frame.to_numpy(),
            x=list(confusion_frame.columns),
            y=list(confusion_frame.index),
            colorscale="Blues",
            showscale=False,
            texttemplate="%{z:,}",
            hovertemplate="%{y}, %{x}: %{z:,}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(side="top", type="category")
    return fig.update_layout(margin=dict(t=30, b=10), height=260)


def _thinned(frame: pd.DataFrame, limit: int = DRAWN_POINTS) -> pd.DataFrame:
    """At most `limit` evenly spaced rows, first and last kept. A drawing-only thinning: no number is recomputed."""
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, limit).round().astype(np.int64))]

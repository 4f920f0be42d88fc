"""Figures comparing two registered versions on the same rows."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

MARGIN = dict(t=50, b=10)
COLOURS = {"challenger": "rgb(214,39,40)", "champion": "rgb(31,119,180)"}


def roc_overlay(roc: pd.DataFrame) -> go.Figure:
    """Both versions' ROC curves with the diagonal."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"), name="random"))
    for name, part in roc.groupby("model", sort=False):
        fig.add_scatter(x=part["fpr"], y=part["tpr"], mode="lines", name=name, line=dict(color=COLOURS.get(name)))
    fig.update_xaxes(title="false positive rate", range=[0, 1])
    fig.update_yaxes(title="true positive rate", range=[0, 1])
    return fig.update_layout(title="ROC on the same rows", margin=MARGIN)


def reliability_overlay(tables: pd.DataFrame) -> go.Figure:
    """Both versions' observed rate against mean score per equal-mass bin, with the diagonal."""
    top = float(max(tables["mean_score"].max(), tables["rate"].max(), 0.01)) * 1.05
    fig = go.Figure(go.Scatter(x=[0, top], y=[0, top], mode="lines", line=dict(dash="dash", color="grey"), name="perfect calibration"))
    for name, part in tables.groupby("model", sort=False):
        fig.add_scatter(
            x=part["mean_score"],
            y=part["rate"],
            mode="lines+markers",
            name=name,
            line=dict(color=COLOURS.get(name)),
            error_y=dict(type="data", array=part["rate_hi"] - part["rate"], arrayminus=part["rate"] - part["rate_lo"]),
        )
    fig.update_xaxes(title="mean score in bin", tickformat=".1%", range=[0, top], constrain="domain")
    fig.update_yaxes(title="observed rate", tickformat=".1%", range=[0, top], scaleanchor="x", scaleratio=1)
    return fig.update_layout(title="Reliability on the same rows", margin=MARGIN)

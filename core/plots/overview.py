"""Overview figures: ROC and PR curves, cumulative gain, lift by decile; layout only, from core.diagnostics.metrics frames."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

REFERENCE = dict(color="gray", dash="dash", width=1)
MARGIN = dict(t=50, b=10)


def _value(number: float) -> str:
    return "n/a" if number is None or math.isnan(number) else f"{number:.3f}"


def roc_curve(roc: pd.DataFrame, auc: float) -> go.Figure:
    """ROC curve (fpr, tpr, threshold frame) against the diagonal of a random ranking."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=REFERENCE, name="random", hoverinfo="skip")
    fig.add_scatter(
        x=roc["fpr"],
        y=roc["tpr"],
        mode="lines",
        name=f"model (AUC {_value(auc)})",
        customdata=roc["threshold"],
        hovertemplate="false positive rate %{x:.3f}<br>true positive rate %{y:.3f}<br>threshold %{customdata:.4f}<extra></extra>",
    )
    fig.update_xaxes(title="false positive rate", range=[0, 1], constrain="domain")
    fig.update_yaxes(title="true positive rate", range=[0, 1.02], scaleanchor="x", scaleratio=1)
    return fig.update_layout(title=f"ROC curve — AUC {_value(auc)}", margin=MARGIN, legend=dict(x=0.98, y=0.02, xanchor="right"))


def pr_curve(pr: pd.DataFrame, ap: float, base_rate: float) -> go.Figure:
    """Precision against recall (recall, precision, threshold frame), with the base rate a random ranking reaches."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=REFERENCE, name=f"random ({base_rate:.1%})", hoverinfo="skip")
    fig.add_scatter(
        x=pr["recall"],
        y=pr["precision"],
        mode="lines",
        name=f"model (AP {_value(ap)})",
        customdata=pr["threshold"],
        hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<br>threshold %{customdata:.4f}<extra></extra>",
    )
    fig.update_xaxes(title="recall", range=[0, 1])
    fig.update_yaxes(title="precision", range=[0, 1.02])
    return fig.update_layout(title=f"Precision–recall curve — average precision {_value(ap)}", margin=MARGIN)


def gain_chart(gain_lift: pd.DataFrame) -> go.Figure:
    """Cumulative share of positives caught against share of rows reviewed, highest scores first, with the random diagonal."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=REFERENCE, name="random", hoverinfo="skip")
    fig.add_scatter(
        x=[0, *gain_lift["cumulative_share_rows"]],
        y=[0, *gain_lift["cumulative_gain"]],
        mode="lines+markers",
        name="model",
        customdata=[None, *gain_lift["decile"]],
        hovertemplate="top %{x:.0%} of rows (to decile %{customdata})<br>%{y:.1%} of positives<extra></extra>",
    )
    fig.update_xaxes(title="share of rows, highest scores first", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title="share of positives caught", tickformat=".0%", range=[0, 1.02])
    return fig.update_layout(title="Cumulative gain", margin=MARGIN)


def lift_bars(gain_lift: pd.DataFrame) -> go.Figure:
    """Lift of each decile (bars) and cumulative lift (line) over the base rate; 1 is a random ranking."""
    fig = go.Figure()
    fig.add_bar(
        x=gain_lift["decile"],
        y=gain_lift["lift"],
        name="lift",
        customdata=gain_lift[["rows", "positives", "rate"]],
        hovertemplate="decile %{x}<br>lift %{y:.2f}<br>rate %{customdata[2]:.2%}"
        "<br>%{customdata[1]:,} of %{customdata[0]:,} rows<extra></extra>",
    )
    fig.add_scatter(
        x=gain_lift["decile"],
        y=gain_lift["cumulative_lift"],
        mode="lines+markers",
        name="cumulative lift",
        hovertemplate="to decile %{x}<br>cumulative lift %{y:.2f}<extra></extra>",
    )
    fig.add_hline(y=1, line=REFERENCE)
    fig.update_xaxes(title="decile (1 = highest scores)", type="category")
    fig.update_yaxes(title="lift over the base rate", rangemode="tozero")
    return fig.update_layout(title="Lift by decile", margin=MARGIN, legend=dict(orientation="h", y=-0.2))

"""Figures for where the model does worse: metric per segment, parity across groups, slices found."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.plots import PERCENT

LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier score",
    "ece": "ECE",
    "calibration_ratio": "calibration ratio (mean score / base rate)",
}
RATE_COLOURS = {"selection": "rgb(31,119,180)", "TPR": "rgb(44,160,44)", "FPR": "rgb(214,39,40)"}
SIGNIFICANT, NOT_SIGNIFICANT = "rgb(214,39,40)", "rgba(150,150,150,0.6)"


def segment_metric_bars(table: pd.DataFrame, metric: str) -> go.Figure:
    """One bar per segment in the table's order (worst first), with its 95% interval where the metric has one."""
    error = {}
    if f"{metric}_lo" in table.columns:
        error = dict(
            error_y=dict(type="data", array=table[f"{metric}_hi"] - table[metric], arrayminus=table[metric] - table[f"{metric}_lo"])
        )
    fig = go.Figure(
        go.Bar(
            x=table["segment"],
            y=table[metric],
            name=metric,
            customdata=table[["rows", "positives", "note"]].to_numpy(),
            hovertemplate=f"%{{x}}<br>{metric}=%{{y:.4f}}<br>rows=%{{customdata[0]:,}}<br>positives=%{{customdata[1]:,}}<br>%{{customdata[2]}}<extra></extra>",
            **error,
        )
    )
    if metric == "calibration_ratio":
        fig.add_hline(y=1, line_dash="dash", line_color="grey", annotation_text="calibrated")
    fig.update_xaxes(type="category", title=None)
    return fig.update_layout(title=f"{LABELS.get(metric, metric)} by segment, worst first", yaxis_title=metric, margin=dict(t=50, b=10))


def parity_bars(table: pd.DataFrame) -> go.Figure:
    """Selection rate, TPR and FPR per group (left) and their ratios to the best group with the four-fifths line (right)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Rates", "Ratio to the best group (1 is best)"), horizontal_spacing=0.08)
    for (label, colour), rate, ratio in zip(
        RATE_COLOURS.items(), ("selection_rate", "tpr", "fpr"), ("selection_ratio", "tpr_ratio", "fpr_ratio"), strict=True
    ):
        fig.add_bar(x=table["group"], y=table[rate], name=label, legendgroup=label, marker_color=colour, row=1, col=1)
        fig.add_bar(x=table["group"], y=table[ratio], name=f"{label} ratio", legendgroup=label, showlegend=False, marker_color=colour, row=1, col=2)  # fmt: skip
    fig.add_hline(y=0.8, line_dash="dash", line_color="black", annotation_text="four-fifths", row=1, col=2)
    fig.update_xaxes(type="category")
    fig.update_yaxes(tickformat=PERCENT, rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    return fig.update_layout(barmode="group", title="Decisions by group", margin=dict(t=70, b=10), legend=dict(orientation="h", y=-0.15))


def slice_bars(table: pd.DataFrame) -> go.Figure:
    """Per slice, best ranked at the top: AUC against the rest (left) and predicted vs observed positives (right); red = significant."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("ROC AUC minus the rest's", "Predicted / observed positives − 1"),
        horizontal_spacing=0.04,
    )
    colours = [SIGNIFICANT if flag else NOT_SIGNIFICANT for flag in table["significant"]]
    hover = table[["rows", "positives", "roc_auc", "rest_roc_auc", "auc_p", "calibration_ratio", "ratio_p"]].to_numpy()
    template = (
        "%{y}<br>rows=%{customdata[0]:,}, positives=%{customdata[1]:,}<br>ROC AUC %{customdata[2]:.3f} vs rest %{customdata[3]:.3f}"
        " (p=%{customdata[4]:.2g})<br>calibration ratio %{customdata[5]:.3f} (p=%{customdata[6]:.2g})<extra></extra>"
    )
    common = dict(y=table["slice"], orientation="h", marker_color=colours, customdata=hover, hovertemplate=template, showlegend=False)
    fig.add_bar(x=table["auc_diff"], name="AUC difference", row=1, col=1, **common)
    fig.add_bar(x=table["calibration_ratio"] - 1, name="calibration", row=1, col=2, **common)
    fig.update_yaxes(type="category", autorange="reversed", categoryorder="array", categoryarray=list(table["slice"]))
    fig.update_xaxes(zeroline=True, zerolinecolor="grey")
    fig.update_xaxes(tickformat="+.0%", row=1, col=2)
    height = max(300, 60 + 22 * len(table))
    return fig.update_layout(title="Slices where the model does worse (red: significant)", height=height, margin=dict(t=70, b=10))

"""Figures for where the model does worse: metric per segment, parity across groups, slices found."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.diagnostics.slice_finder import AUC_TEST, CALIBRATION_TEST
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
    """Per slice, worst at the top: AUC against the rest (left) and predicted vs observed positives (right); a bar is red
    when its test flagged the slice."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("ROC AUC minus the rest's", "Predicted / observed positives − 1"),
        horizontal_spacing=0.04,
    )
    hover = table[["rows", "positives", "flagged_by", "finding"]].to_numpy()
    template = (
        "%{y}<br>rows=%{customdata[0]:,}, positives=%{customdata[1]:,}<br>flagged by %{customdata[2]}<br>%{customdata[3]}<extra></extra>"
    )
    for col, (name, x, test) in enumerate(
        (("AUC difference", table["auc_diff"], AUC_TEST), ("calibration", table["calibration_ratio"] - 1, CALIBRATION_TEST)), start=1
    ):
        colours = [SIGNIFICANT if test in flagged else NOT_SIGNIFICANT for flagged in table["flagged_by"]]
        fig.add_bar(
            x=x, y=table["slice"], orientation="h", marker_color=colours, customdata=hover, hovertemplate=template, showlegend=False,
            name=name, row=1, col=col,
        )  # fmt: skip
    fig.update_yaxes(type="category", autorange="reversed", categoryorder="array", categoryarray=list(table["slice"]))
    fig.update_xaxes(zeroline=True, zerolinecolor="grey")
    fig.update_xaxes(tickformat="+.0%", row=1, col=2)
    height = max(300, 60 + 22 * len(table))
    return fig.update_layout(
        title="Slices where the model does worse (red: the test that flagged it)", height=height, margin=dict(t=70, b=10)
    )

"""Calibration figures: reliability diagram, score distributions by class, calibration ratio by group; layout only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.plots import PERCENT

REFERENCE = dict(color="gray", dash="dash", width=1)
MARGIN = dict(t=50, b=10)
BAND = (0.8, 1.25)  # calibration ratios inside this band read as calibrated enough
LARGEST_MARKER = 28  # px across for the bin with the most rows


def reliability(raw_table: pd.DataFrame | None, calibrated_table: pd.DataFrame | None) -> go.Figure:
    """Observed rate against mean score per bin with Wilson 95% error bars, raw and calibrated overlaid; marker area by rows."""
    tables = {name: table for name, table in (("raw score", raw_table), ("calibrated score", calibrated_table)) if table is not None}
    top = max([float(np.nanmax(t[["mean_score", "rate_hi"]].to_numpy(dtype=float), initial=0.0)) for t in tables.values()] + [0.01])
    top = min(1.0, top * 1.05)
    largest = max([float(t["n"].max()) for t in tables.values()] + [1.0])
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", line=REFERENCE, name="perfect calibration", hoverinfo="skip")
    for name, table in tables.items():
        fig.add_scatter(
            x=table["mean_score"],
            y=table["rate"],
            mode="lines+markers",
            name=name,
            error_y=dict(type="data", array=table["rate_hi"] - table["rate"], arrayminus=table["rate"] - table["rate_lo"]),
            marker=dict(size=table["n"], sizemode="area", sizeref=2 * largest / LARGEST_MARKER**2, sizemin=4),
            customdata=table[["bin", "lo", "hi", "n"]],
            hovertemplate="bin %{customdata[0]} [%{customdata[1]:.4f}, %{customdata[2]:.4f})<br>mean score %{x:.2%}"
            "<br>observed rate %{y:.2%}<br>%{customdata[3]:,} rows<extra>" + name + "</extra>",
        )
    fig.update_xaxes(title="mean score in bin", tickformat=PERCENT, range=[0, top], constrain="domain")  # square, not stretched
    fig.update_yaxes(title="observed rate", tickformat=PERCENT, range=[0, top], scaleanchor="x", scaleratio=1)
    return fig.update_layout(title="Reliability: observed rate against mean score", margin=MARGIN, legend=dict(orientation="h", y=-0.2))


def score_distribution(hist_frame: pd.DataFrame) -> go.Figure:
    """Share of each class's rows per score bin, positives and negatives overlaid."""
    centre, width = (hist_frame["lo"] + hist_frame["hi"]) / 2, hist_frame["hi"] - hist_frame["lo"]
    fig = go.Figure()
    for label, column, count in (
        ("negatives (y = 0)", "negative_share", "negatives"),
        ("positives (y = 1)", "positive_share", "positives"),
    ):
        fig.add_bar(
            x=centre,
            y=hist_frame[column],
            width=width,
            name=label,
            opacity=0.6,
            customdata=hist_frame[["lo", "hi", count]],
            hovertemplate="score [%{customdata[0]:.4f}, %{customdata[1]:.4f})<br>%{y:.1%} of "
            + label.split(" ")[0]
            + " (%{customdata[2]:,})<extra></extra>",
        )
    fig.update_xaxes(title="score")
    fig.update_yaxes(title="share of the class's rows", tickformat=PERCENT)
    return fig.update_layout(
        title="Score distribution by class", barmode="overlay", bargap=0, margin=MARGIN, legend=dict(orientation="h", y=-0.2)
    )


def ratio_bars(by_group_table: pd.DataFrame, title: str = "Calibration ratio by group", top: int = 30) -> go.Figure:
    """Mean score / observed rate per group with its 95% interval and the 0.8–1.25 band; the `top` largest groups, in table order."""
    shown = by_group_table.loc[by_group_table["rows"].nlargest(top).index].sort_index() if len(by_group_table) > top else by_group_table
    labels = shown["group"].astype("string").fillna("(missing)")
    fig = go.Figure()
    fig.add_hrect(y0=BAND[0], y1=BAND[1], fillcolor="green", opacity=0.08, line_width=0)
    fig.add_hline(y=1, line=REFERENCE)
    fig.add_bar(
        x=labels,
        y=shown["calibration_ratio"],
        name="calibration ratio",
        error_y=dict(
            type="data", array=shown["ratio_hi"] - shown["calibration_ratio"], arrayminus=shown["calibration_ratio"] - shown["ratio_lo"]
        ),
        customdata=shown[["rows", "positives", "mean_score", "rate", "note"]],
        hovertemplate="%{x}<br>ratio %{y:.2f}<br>mean score %{customdata[2]:.2%} · rate %{customdata[3]:.2%}"
        "<br>%{customdata[1]:,} positives of %{customdata[0]:,} rows<br>%{customdata[4]}<extra></extra>",
    )
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(title="mean score / observed rate", rangemode="tozero")
    return fig.update_layout(title=title, margin=MARGIN, showlegend=False)

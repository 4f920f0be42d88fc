"""Value tab figures from core.value.diagnostics' frames; layout only."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

REFERENCE = dict(color="gray", dash="dash", width=1)
MARGIN = dict(t=50, b=10)
PREDICTED = "rgb(255,127,14)"
ACTUAL = "rgb(31,119,180)"
RANKING_STYLE = {  # value_gain's rankings: the model's two in colour, the bounds in grey
    "expected value": dict(color="rgb(31,119,180)", width=3),
    "probability": dict(color="rgb(255,127,14)", width=2),
    "random": REFERENCE,
    "perfect": dict(color="gray", dash="dot", width=1),
}


def decile_bars(deciles: pd.DataFrame, value_column: str) -> go.Figure:
    """Mean predicted (expected value) and mean actual value per decile of expected value, the actual with its 95% interval."""
    fig = go.Figure()
    fig.add_bar(
        x=deciles["decile"],
        y=deciles["mean_predicted"],
        name="predicted (expected value)",
        marker_color=PREDICTED,
        customdata=deciles[["rows", "ratio"]],
        hovertemplate="decile %{x}<br>predicted %{y:,.2f}<br>ratio %{customdata[1]:.2f} · %{customdata[0]:,} rows<extra></extra>",
    )
    fig.add_bar(
        x=deciles["decile"],
        y=deciles["mean_actual"],
        name=f"actual {value_column}",
        marker_color=ACTUAL,
        error_y=dict(
            type="data", array=deciles["actual_hi"] - deciles["mean_actual"], arrayminus=deciles["mean_actual"] - deciles["actual_lo"]
        ),
        customdata=deciles[["actual_lo", "actual_hi", "converters"]],
        hovertemplate="decile %{x}<br>actual %{y:,.2f} (95% %{customdata[0]:,.2f} – %{customdata[1]:,.2f})"
        "<br>%{customdata[2]:,} converters<extra></extra>",
    )
    fig.update_xaxes(title="decile of expected value (1 = highest)", dtick=1)
    fig.update_yaxes(title=f"mean {value_column} per row", rangemode="tozero")
    return fig.update_layout(
        title="Mean predicted and actual value by decile", barmode="group", margin=MARGIN, legend=dict(orientation="h", y=-0.2)
    )


def gain_curves(gain: pd.DataFrame) -> go.Figure:
    """Share of all actual value captured by the top share of rows, one line per ranking."""
    fig = go.Figure()
    for ranking, part in gain.groupby("ranking", sort=False):
        fig.add_scatter(
            x=part["top_share"],
            y=part["captured_share"],
            mode="lines",
            name=f"by {ranking}",
            line=RANKING_STYLE.get(ranking),
            customdata=part[["rows"]],
            hovertemplate=f"by {ranking}: top %{{x:.0%}} (%{{customdata[0]:,}} rows)<br>%{{y:.1%}} of the value<extra></extra>",
        )
    fig.update_xaxes(title="share of rows, highest first", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title="share of actual value captured", tickformat=".0%", range=[0, 1.02])
    return fig.update_layout(title="Value gain", margin=MARGIN, legend=dict(orientation="h", y=-0.2))


def residual_bars(residuals: pd.DataFrame, segment: str, top: int = 30) -> go.Figure:
    """Residual (actual − predicted mean value per row) per segment value, in table order (worst first), the first `top`."""
    shown = residuals.head(top)
    fig = go.Figure()
    fig.add_hline(y=0, line=REFERENCE)
    fig.add_bar(
        x=shown["segment"],
        y=shown["residual"],
        marker_color=[ACTUAL if r >= 0 else PREDICTED for r in shown["residual"].fillna(0)],
        customdata=shown[["rows", "converters", "mean_predicted", "mean_actual", "ratio"]],
        hovertemplate="%{x}<br>residual %{y:,.2f}<br>predicted %{customdata[2]:,.2f} · actual %{customdata[3]:,.2f}"
        " · ratio %{customdata[4]:.2f}<br>%{customdata[1]:,} converters of %{customdata[0]:,} rows<extra></extra>",
    )
    fig.update_xaxes(type="category", title=segment)
    fig.update_yaxes(title="actual − predicted, per row")
    return fig.update_layout(title=f"Value residual by {segment} (above 0: under-predicted)", margin=MARGIN, showlegend=False)


def horizon_chart(horizons: pd.DataFrame) -> go.Figure:
    """Mean predicted against actual value on mature converters per horizon; immature horizons hollow and named so."""
    labels = [f"{h} (immature)" if young else h for h, young in zip(horizons["horizon"], horizons["immature"], strict=True)]
    fig = go.Figure()
    for column, name, colour in (("mean_predicted", "predicted if converted", PREDICTED), ("mean_actual", "actual", ACTUAL)):
        fig.add_bar(
            x=labels,
            y=horizons[column],
            name=name,
            marker=dict(
                color=colour,
                pattern_shape=["/" if young else "" for young in horizons["immature"]],
            ),
            customdata=horizons[["converters", "mature_share", "note"]],
            hovertemplate=f"%{{x}}<br>{name} %{{y:,.2f}}<br>%{{customdata[0]:,}} mature converters · "
            "%{customdata[1]:.0%} of rows mature<br>%{customdata[2]}<extra></extra>",
        )
    fig.update_xaxes(type="category", title="horizon")
    fig.update_yaxes(title="mean value per converter", rangemode="tozero")
    return fig.update_layout(
        title="Value by horizon, mature converters (hatched: immature horizon)",
        barmode="group",
        margin=MARGIN,
        legend=dict(orientation="h", y=-0.2),
    )

"""Plotly figures from tidy frames; layout only, no computation of numbers."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PERCENT = ".1%"
BAND_FILL = "rgba(31,119,180,0.2)"


def interval_band(fig: go.Figure, x, lo, hi, name: str = "95% interval", fillcolor: str = BAND_FILL, **where) -> go.Figure:
    """Shades lo..hi along x: an invisible upper line, then the lower one filled up to it (`where`: row/col/secondary_y)."""
    edge = dict(mode="lines", line=dict(width=0), hoverinfo="skip")
    fig.add_scatter(x=x, y=hi, showlegend=False, name=f"{name} (upper)", **edge, **where)
    return fig.add_scatter(x=x, y=lo, fill="tonexty", fillcolor=fillcolor, name=name, **edge, **where)


def rate_bars(frame: pd.DataFrame, title: str) -> go.Figure:
    """Bar per segment with its 95% interval, in the frame's order."""
    fig = px.bar(
        frame,
        x="segment",
        y="rate",
        title=title,
        error_y=frame["rate_hi"] - frame["rate"],
        error_y_minus=frame["rate"] - frame["rate_lo"],
        hover_data={"rows": ":,", "positives": ":,", "share": ":.1%"},
    )
    fig.update_xaxes(type="category", title=None)
    return fig.update_layout(yaxis_tickformat=PERCENT, yaxis_title="rate", margin=dict(t=50, b=10))


def rate_heatmap(frame: pd.DataFrame, rows: str, columns: str, top: int = 20) -> go.Figure:
    """Rate for each pair of two segment columns, limited to each column's `top` largest values."""
    keep_rows = frame.groupby(rows, dropna=False)["rows"].sum().nlargest(top).index
    keep_cols = frame.groupby(columns, dropna=False)["rows"].sum().nlargest(top).index
    shown = frame[frame[rows].isin(keep_rows) & frame[columns].isin(keep_cols)].copy()
    shown[rows] = shown[rows].astype("string").fillna("(missing)")
    shown[columns] = shown[columns].astype("string").fillna("(missing)")
    rate = shown.pivot(index=rows, columns=columns, values="rate")
    count = shown.pivot(index=rows, columns=columns, values="rows").reindex_like(rate)
    fig = go.Figure(
        go.Heatmap(
            z=rate.to_numpy(),
            x=rate.columns.astype(str),
            y=rate.index.astype(str),
            customdata=count.to_numpy(),
            colorscale="Blues",
            texttemplate="%{z:.1%}",
            hovertemplate=f"{rows}=%{{y}}<br>{columns}=%{{x}}<br>rate=%{{z:.2%}}<br>rows=%{{customdata:,}}<extra></extra>",
            colorbar=dict(tickformat=PERCENT, title="rate"),
        )
    )
    fig.update_xaxes(type="category", title=columns)
    fig.update_yaxes(type="category", title=rows)
    return fig.update_layout(title=f"Rate by {rows} × {columns}", margin=dict(t=50, b=10))


def rate_over_time(frame: pd.DataFrame, title: str) -> go.Figure:
    """Rate per period with its 95% band, and row volume as bars on a second axis."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=frame["period"], y=frame["rows"], name="rows", marker_color="rgba(150,150,150,0.35)", secondary_y=True)
    interval_band(fig, frame["period"], frame["rate_lo"], frame["rate_hi"], secondary_y=False)
    fig.add_scatter(
        x=frame["period"], y=frame["rate"], mode="lines+markers", name="rate", line=dict(color="rgb(31,119,180)"), secondary_y=False
    )
    fig.update_yaxes(title_text="rate", tickformat=PERCENT, secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="rows", secondary_y=True, showgrid=False)
    return fig.update_layout(title=title, hovermode="x unified", margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.15))

"""Learning-curve figure: train and validation side by side, from core.selection.learning.learning_summary."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PARTS = (("train", "On the rows fitted", "rgb(127,127,127)", "rgba(127,127,127,0.2)"),
         ("valid", "On the validation rows", "rgb(31,119,180)", "rgba(31,119,180,0.2)"))  # fmt: skip


def learning_curves(summary: pd.DataFrame, metric: str) -> go.Figure:
    """Mean over folds against training rows (log scale) with a ±1 std band, train left and validation right."""
    name = metric.replace("_", " ")
    # Each panel its own y range: the validation slope (the question asked) stays readable beside the train curve.
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title, _, _ in PARTS], horizontal_spacing=0.08)
    for col, (part, title, line, band) in enumerate(PARTS, start=1):
        shown = summary[summary["part"] == part].sort_values("train_rows")
        std = shown["std"].fillna(0.0)  # one fold: no spread to draw
        fig.add_scatter(
            x=shown["train_rows"],
            y=shown["mean"] + std,
            mode="lines",
            line=dict(width=0),
            showlegend=False,
            hoverinfo="skip",
            row=1,
            col=col,
        )
        fig.add_scatter(
            x=shown["train_rows"],
            y=shown["mean"] - std,
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor=band,
            name="±1 std over folds",
            showlegend=col == 2 and bool(shown["std"].notna().any()),
            hoverinfo="skip",
            row=1,
            col=col,
        )
        fig.add_scatter(
            x=shown["train_rows"],
            y=shown["mean"],
            mode="lines+markers",
            line=dict(color=line),
            name=title.lower().replace("on the ", ""),
            customdata=shown[["fraction", "std"]].to_numpy(),
            hovertemplate=f"%{{x:,}} training rows (%{{customdata[0]:.1%}})<br>{name} %{{y:.4f}} ± %{{customdata[1]:.4f}}<extra></extra>",
            row=1,
            col=col,
        )
        ticks = shown["train_rows"].tolist()  # the fitted sizes themselves: log axes otherwise label 2, 3, 5 between decades
        fig.update_xaxes(type="log", title="training rows (log scale)", tickvals=ticks, ticktext=[f"{n:,}" for n in ticks], row=1, col=col)
    fig.update_yaxes(title=name, row=1, col=1)
    return fig.update_layout(title=f"Learning curve — {name}", margin=dict(t=70, b=10), legend=dict(orientation="h", y=-0.2))

"""SHAP figures from the frames core.diagnostics.explain returns; layout only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

RANK_SCALE = [[0.0, "rgb(30,136,229)"], [1.0, "rgb(255,13,87)"]]  # low value blue, high red, as shap draws it
NO_RANK = "rgba(140,140,140,0.6)"
ROW_HEIGHT = 28


def _height(rows: int) -> int:
    return max(300, 120 + ROW_HEIGHT * rows)


def importance_bars(mean_abs: pd.DataFrame) -> go.Figure:
    """Mean |SHAP| per feature as horizontal bars, the most important at the top."""
    fig = go.Figure(
        go.Bar(
            x=mean_abs["mean_abs_shap"],
            y=mean_abs["feature"],
            orientation="h",
            name="mean |SHAP|",
            hovertemplate="%{y}<br>mean |SHAP| = %{x:.4g}<extra></extra>",
        )
    )
    fig.update_yaxes(type="category", autorange="reversed", title=None)
    fig.update_xaxes(title="mean |SHAP|", rangemode="tozero")
    return fig.update_layout(title="Global importance (mean |SHAP|)", height=_height(len(mean_abs)), margin=dict(t=50, b=10))


def beeswarm(frame: pd.DataFrame, seed: int = 0) -> go.Figure:
    """One jittered strip of SHAP values per feature, coloured by the value's rank; the first feature at the top.

    Points without a rank (text or missing values) are grey, in their own trace.
    """
    order = list(dict.fromkeys(frame["feature"]))
    position = len(order) - 1 - frame["feature"].map({f: i for i, f in enumerate(order)}).to_numpy(dtype=float)
    y = position + np.random.default_rng(seed).uniform(-0.35, 0.35, len(frame))  # jitter only spreads the dots
    ranked = frame["colour"].notna().to_numpy()
    # One text per point: plotly serialises a list of strings ~10x faster than a 3-column object customdata.
    text = (frame["feature"].astype(str) + "<br>value = " + frame["value"].astype(str) + "<br>row " + frame["row"].astype(str)).to_numpy()
    hover = "%{hovertext}<br>SHAP = %{x:.4g}<extra></extra>"
    fig = go.Figure()
    fig.add_scatter(
        x=frame["shap"][ranked],
        y=y[ranked],
        mode="markers",
        name="value rank",
        hovertext=text[ranked].tolist(),
        hovertemplate=hover,
        marker=dict(
            size=5,
            opacity=0.7,
            color=frame["colour"][ranked],
            colorscale=RANK_SCALE,
            cmin=0,
            cmax=1,
            colorbar=dict(title="value", tickvals=[0, 1], ticktext=["low", "high"]),
        ),
    )
    fig.add_scatter(
        x=frame["shap"][~ranked],
        y=y[~ranked],
        mode="markers",
        name="text or missing",
        hovertext=text[~ranked].tolist(),
        hovertemplate=hover,
        marker=dict(size=5, opacity=0.6, color=NO_RANK),
    )
    fig.add_vline(x=0, line_width=1, line_color="grey")
    fig.update_yaxes(
        tickvals=list(range(len(order) - 1, -1, -1)), ticktext=order, range=[-0.6, len(order) - 0.4], title=None, showgrid=False
    )
    fig.update_xaxes(title="SHAP value (impact on the model's output)", zeroline=False)
    return fig.update_layout(
        title="SHAP values per feature", height=_height(len(order)), margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.12)
    )


def dependence(frame: pd.DataFrame, feature: str, colour_by: str | None = None) -> go.Figure:
    """SHAP value of `feature` against its value; points coloured by `colour_by`'s value when given."""
    colour = "colour" if colour_by else None
    orders = {name: list(frame[name].cat.categories) for name in ("value", "colour") if isinstance(frame[name].dtype, pd.CategoricalDtype)}
    fig = px.scatter(
        frame,
        x="value",
        y="shap",
        color=colour,
        category_orders=orders,
        hover_data={"row": True},
        labels={"value": feature, "shap": f"SHAP value of {feature}", "colour": colour_by or ""},
        opacity=0.7,
    )
    if "value" in orders:  # points of one category share an x: a box shows how they spread
        fig.add_box(
            x=frame["value"],
            y=frame["shap"],
            name="spread",
            showlegend=False,
            boxpoints=False,
            fillcolor="rgba(0,0,0,0)",
            line_color="grey",
        )
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=orders["value"])
    fig.add_hline(y=0, line_width=1, line_color="grey")
    fig.update_traces(marker=dict(size=5))
    title = f"Dependence on {feature}" + (f", coloured by {colour_by}" if colour_by else "")
    return fig.update_layout(title=title, margin=dict(t=50, b=10))


def waterfall(frame: pd.DataFrame) -> go.Figure:
    """One row's path from the base value (first `start`) through each feature to its total (last `end`)."""
    base, total = float(frame["start"].iloc[0]), float(frame["end"].iloc[-1])
    labels = [f if v is None or pd.isna(v) else f"{f} = {v}" for f, v in zip(frame["feature"], frame["value"], strict=True)]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            base=base,
            y=[*labels, "model output"],
            x=[*frame["shap"], 0.0],
            measure=["relative"] * len(frame) + ["total"],
            text=[f"{s:+.3g}" for s in frame["shap"]] + [f"{total:.3g}"],
            textposition="outside",
            cliponaxis=False,
            increasing=dict(marker=dict(color="rgb(255,13,87)")),
            decreasing=dict(marker=dict(color="rgb(30,136,229)")),
            totals=dict(marker=dict(color="rgb(120,120,120)")),
            connector=dict(line=dict(color="rgb(180,180,180)", width=1)),
            hovertemplate="%{y}<br>%{text}<extra></extra>",
        )
    )
    fig.add_vline(x=base, line_width=1, line_dash="dot", line_color="grey")
    fig.update_yaxes(type="category", autorange="reversed", title=None)
    fig.update_xaxes(title="model output (SHAP scale)")
    return fig.update_layout(
        title=f"From the base value {base:.3g} to this row's {total:.3g}",
        height=_height(len(frame) + 1),
        margin=dict(t=50, b=10, r=60),
        showlegend=False,
    )


def group_heatmap(frame: pd.DataFrame, title: str = "Mean |SHAP| by group") -> go.Figure:
    """Mean |SHAP| for each group (rows) and feature (columns), in the frame's order."""
    groups, names = list(dict.fromkeys(frame["group"])), list(dict.fromkeys(frame["feature"]))
    value = frame.pivot(index="group", columns="feature", values="mean_abs_shap").reindex(index=groups, columns=names)
    rows = frame.pivot(index="group", columns="feature", values="rows").reindex(index=groups, columns=names)
    fig = go.Figure(
        go.Heatmap(
            z=value.to_numpy(),
            x=names,
            y=groups,
            customdata=rows.to_numpy(),
            colorscale="Blues",
            texttemplate="%{z:.3g}",
            hovertemplate="group=%{y}<br>feature=%{x}<br>mean |SHAP|=%{z:.4g}<br>rows=%{customdata:,}<extra></extra>",
            colorbar=dict(title="mean |SHAP|"),
        )
    )
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(type="category", autorange="reversed", title=None)
    return fig.update_layout(title=title, height=_height(len(groups)), margin=dict(t=50, b=10))

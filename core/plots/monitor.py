"""Monitor page figures from a monitoring pass's tables (monitor.parquet, drift.parquet, histograms.parquet, alerts.parquet).

Layout only. Each window is drawn at its start; windows whose labels are immature are shaded, estimates are dashed, and the
windows where an alert fired carry a red cross.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.plots import PERCENT, interval_band

LINE = "rgb(31,119,180)"
ESTIMATE = "rgb(255,127,14)"
ALERT = "rgb(214,39,40)"
FAINT = "rgb(160,160,160)"
REFERENCE = "rgb(120,120,120)"
MARGIN = dict(t=50, b=10)
LEGEND = dict(orientation="h", y=-0.2)
HEIGHT = 500  # the four timelines stand in a 2 × 2 grid: one height keeps its rows aligned


def score_timeline(windows: pd.DataFrame, alerts: pd.DataFrame, psi_limit: float) -> go.Figure:
    """Mean score per window above, its score PSI against the model's test scores below with the alert limit."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14, row_heights=[0.5, 0.5])
    fig.add_scatter(
        x=windows["start"], y=windows["mean_score"], mode="lines+markers", name="mean score", line=dict(color=LINE),
        hovertemplate="mean score %{y:.2%}<extra></extra>", row=1, col=1,
    )  # fmt: skip
    fig.add_scatter(
        x=windows["start"], y=windows["psi"], mode="lines+markers", name="score PSI", line=dict(color=ESTIMATE),
        hovertemplate="score PSI %{y:.4f}<extra></extra>", row=2, col=1,
    )  # fmt: skip
    fig.add_hline(
        y=psi_limit, line_dash="dash", line_color=ALERT, line_width=1, row=2, col=1,
        annotation_text=f"limit {psi_limit:g}", annotation_position="top left",
    )  # fmt: skip
    _alert_marks(fig, alerts, "score_psi", row=2, col=1)
    _shade_immature(fig, windows)
    fig.update_yaxes(title="mean score", tickformat=PERCENT, rangemode="tozero", row=1, col=1)
    highest = windows["psi"].max()
    top = max(float(highest) if pd.notna(highest) else 0.0, psi_limit) * 1.15 or 1.0
    fig.update_yaxes(title="score PSI", range=[0, top], row=2, col=1)
    fig.update_xaxes(title="window start", row=2, col=1)
    return fig.update_layout(title="Scores per window", margin=MARGIN, legend=LEGEND, hovermode="x unified", height=HEIGHT)


def roc_auc_timeline(windows: pd.DataFrame, alerts: pd.DataFrame, floor: float) -> go.Figure:
    """Realised ROC AUC with its 95% band on mature windows, the confidence-based estimate dashed on every window (with its
    band when the table has est_roc_auc_lo/hi), the floor."""
    mature = windows["mature"].astype(bool)
    realised = windows["roc_auc"].where(mature)
    fig = go.Figure()
    interval_band(fig, windows["start"], windows["roc_auc_lo"].where(mature), windows["roc_auc_hi"].where(mature))
    fig.add_scatter(
        x=windows["start"], y=realised, mode="lines+markers", name="realised (labels mature)", line=dict(color=LINE),
        marker=dict(symbol=_hollow_when_few(windows), size=8, color=LINE), hovertemplate="realised ROC AUC %{y:.4f}<extra></extra>",
    )  # fmt: skip
    if {"est_roc_auc_lo", "est_roc_auc_hi"} <= set(windows.columns):  # a pass that logged the estimate's interval
        band = windows["est_roc_auc_lo"], windows["est_roc_auc_hi"]
        interval_band(fig, windows["start"], *band, name="estimate's 95% interval", fillcolor="rgba(255,127,14,0.15)")
    fig.add_scatter(
        x=windows["start"], y=windows["est_roc_auc"], mode="lines+markers", name="estimated from scores (CBPE)",
        line=dict(color=ESTIMATE, dash="dash"), marker=dict(color=ESTIMATE, size=6),
        hovertemplate="estimated ROC AUC %{y:.4f}<extra></extra>",
    )  # fmt: skip
    fig.add_hline(
        y=floor, line_dash="dash", line_color=ALERT, line_width=1, annotation_text=f"floor {floor:g}", annotation_position="bottom left"
    )
    _alert_marks(fig, alerts, "roc_auc")
    _shade_immature(fig, windows)
    fig.update_xaxes(title="window start")
    fig.update_yaxes(title="ROC AUC")
    return fig.update_layout(
        title="ROC AUC: estimated against realised", margin=MARGIN, legend=LEGEND, hovermode="x unified", height=HEIGHT
    )


def calibration_timeline(windows: pd.DataFrame, alerts: pd.DataFrame, band: tuple[float, float]) -> go.Figure:
    """Calibration ratio (mean score / rate) with its 95% interval on mature windows, the allowed band shaded; immature
    windows' ratios, whose late conversions have not arrived, drawn faint."""
    mature = windows["mature"].astype(bool)
    fig = go.Figure()
    fig.add_hrect(y0=band[0], y1=band[1], fillcolor="rgba(44,160,44,0.12)", line_width=0)
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey", line_width=1)
    interval_band(fig, windows["start"], windows["calibration_ratio_lo"].where(mature), windows["calibration_ratio_hi"].where(mature))
    fig.add_scatter(
        x=windows["start"], y=windows["calibration_ratio"].where(mature), mode="lines+markers", name="calibration ratio",
        line=dict(color=LINE), marker=dict(symbol=_hollow_when_few(windows), size=8, color=LINE),
        hovertemplate="calibration ratio %{y:.3f}<extra></extra>",
    )  # fmt: skip
    if (~mature).any():
        fig.add_scatter(
            x=windows["start"], y=windows["calibration_ratio"].where(~mature), mode="markers", name="labels immature",
            marker=dict(symbol="circle-open", size=7, color=FAINT), hovertemplate="ratio so far %{y:.3f} (immature)<extra></extra>",
        )  # fmt: skip
    _alert_marks(fig, alerts, "calibration_ratio")
    _shade_immature(fig, windows)
    fig.update_xaxes(title="window start")
    fig.update_yaxes(title="mean score / rate")
    title = f"Calibration ratio (band {band[0]:g}–{band[1]:g})"
    return fig.update_layout(title=title, margin=MARGIN, legend=LEGEND, hovermode="x unified", height=HEIGHT)


def volume_timeline(windows: pd.DataFrame) -> go.Figure:
    """Rows per window as bars, immature windows paler and windows that run past the data's end hatched, with the positives
    counted so far."""
    mature = windows["mature"].astype(bool)
    past_end = windows["past_end"].astype(bool)
    fig = go.Figure()
    fig.add_bar(
        x=windows["start"], y=windows["rows"], name="rows (hatched: window runs past the data's end)",
        marker=dict(color=mature.map({True: LINE, False: "rgba(31,119,180,0.4)"}).tolist(),
                    pattern=dict(shape=past_end.map({True: "/", False: ""}).tolist())),
        hovertemplate="%{y:,} rows<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=windows["start"], y=windows["positives"], mode="lines+markers", name="positives (so far)", line=dict(color=ESTIMATE),
        hovertemplate="%{y:,} positives<extra></extra>",
    )  # fmt: skip
    fig.update_xaxes(title="window start")
    fig.update_yaxes(title="rows", rangemode="tozero")
    return fig.update_layout(title="Volume per window", margin=MARGIN, legend=LEGEND, hovermode="x unified", height=HEIGHT)


def drift_heatmap(drift: pd.DataFrame, top: int = 10) -> go.Figure:
    """Feature PSI per window for the `top` features with the highest PSI in any window, highest first."""
    worst = drift.groupby("feature")["psi"].max().sort_values(ascending=False).head(top).index.tolist()
    shown = drift[drift["feature"].isin(worst)].pivot_table(index="feature", columns="start", values="psi", aggfunc="first")
    shown = shown.reindex(worst)
    fig = go.Figure(
        go.Heatmap(
            z=shown.to_numpy(),
            x=list(shown.columns),
            y=list(shown.index),
            colorscale="Reds",
            zmin=0,
            colorbar=dict(title="PSI"),
            hovertemplate="%{y}<br>window %{x|%Y-%m-%d}<br>PSI %{z:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="window start")
    return fig.update_layout(title=f"Feature drift per window (top {len(worst)} by PSI)", margin=MARGIN)


def drift_bars(rows: pd.DataFrame, limit: float, top: int = 15) -> go.Figure:
    """PSI of the `top` features of one window, highest first; bars above the alert limit in red."""
    shown = rows.sort_values("psi", ascending=False).head(top)
    fig = go.Figure(
        go.Bar(
            x=shown["psi"],
            y=shown["feature"],
            orientation="h",
            marker_color=[ALERT if value > limit else LINE for value in shown["psi"]],
            hovertemplate="%{y}: PSI %{x:.4f}<extra></extra>",
        )
    )
    fig.add_vline(x=limit, line_dash="dash", line_color=ALERT, line_width=1)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=f"PSI vs training (dashed: limit {limit:g})", rangemode="tozero")
    return fig.update_layout(title="Top drifting features", margin=MARGIN, height=max(300, 28 * len(shown) + 120))


def feature_histogram(histogram: pd.DataFrame, feature: str) -> go.Figure:
    """Reference (training) against current share per bin or level of one feature, in the bins' order."""
    shown = histogram[histogram["feature"] == feature].sort_values("order")
    fig = go.Figure()
    fig.add_bar(
        x=shown["bin"], y=shown["reference_share"], name="reference (training)", marker_color=REFERENCE,
        hovertemplate="%{x}: %{y:.2%} of training rows<extra></extra>",
    )  # fmt: skip
    fig.add_bar(
        x=shown["bin"], y=shown["current_share"], name="current", marker_color=LINE,
        hovertemplate="%{x}: %{y:.2%} of monitored rows<extra></extra>",
    )  # fmt: skip
    fig.update_xaxes(type="category", title=feature)
    fig.update_yaxes(title="share of rows", tickformat=PERCENT, rangemode="tozero")
    return fig.update_layout(title=f"{feature}: reference against current", barmode="group", margin=MARGIN, legend=LEGEND)


def _alert_marks(fig: go.Figure, alerts: pd.DataFrame, rule: str, **where) -> None:
    """A red cross at each fired alert of `rule`, at its window and value."""
    fired = alerts[alerts["rule"] == rule] if len(alerts) else alerts
    if not len(fired):
        return
    fig.add_scatter(
        x=fired["window_start"], y=fired["value"], mode="markers", name="alert", marker=dict(symbol="x", size=12, color=ALERT),
        hovertemplate=f"alert {rule}: %{{y:.4g}}<extra></extra>", **where,
    )  # fmt: skip


def _shade_immature(fig: go.Figure, windows: pd.DataFrame) -> None:
    """A grey span over the windows whose labels are immature."""
    immature = windows.loc[~windows["mature"].astype(bool), "start"]
    if len(immature):
        fig.add_vrect(
            x0=immature.min(), x1=immature.max(), fillcolor="grey", opacity=0.12, line_width=0,
            annotation_text="labels immature", annotation_position="top left",
        )  # fmt: skip


def _hollow_when_few(windows: pd.DataFrame) -> list[str]:
    return windows["few_positives"].astype(bool).map({True: "circle-open", False: "circle"}).tolist()

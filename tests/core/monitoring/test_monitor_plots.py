"""Monitor page figures on hand-made tables with the pass's columns: what each trace holds and where the marks sit."""

import numpy as np
import pandas as pd
import pytest

from core.diagnostics.rolling import COLUMNS
from core.plots import monitor as plots

T0 = pd.Timestamp("2026-10-05")
DAY = pd.Timedelta(days=1)


@pytest.fixture
def windows() -> pd.DataFrame:
    """Four daily 7-day windows: two mature (the second with few positives), two immature."""
    table = pd.DataFrame(np.nan, index=range(4), columns=COLUMNS)
    table["start"] = [T0 + i * DAY for i in range(4)]
    table["end"] = table["start"] + 7 * DAY
    table["rows"] = [1000, 900, 1100, 400]
    table["positives"] = [50, 20, 40, 5]
    table["mean_score"] = [0.05, 0.05, 0.06, 0.07]
    table["psi"] = [0.01, 0.02, 0.3, 0.5]
    table["roc_auc"] = [0.80, 0.78, 0.70, 0.60]
    table["roc_auc_lo"], table["roc_auc_hi"] = table["roc_auc"] - 0.05, table["roc_auc"] + 0.05
    table["est_roc_auc"] = [0.79, 0.79, 0.76, 0.74]
    table["calibration_ratio"] = [1.0, 1.1, 1.5, 3.0]
    table["calibration_ratio_lo"], table["calibration_ratio_hi"] = table["calibration_ratio"] - 0.1, table["calibration_ratio"] + 0.1
    table["few_positives"] = [False, True, False, True]
    table["mature"] = [True, True, False, False]
    table["past_end"] = False
    table["drift"] = False
    table["note"] = ""
    return table.assign(max_feature_psi=[0.01, 0.05, 0.4, 0.6], top_feature=["a", "a", "channel", "channel"], alerts=[0, 0, 2, 1])


@pytest.fixture
def alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": ["score_psi", "feature_psi", "score_psi", "roc_auc"],
            "window_start": [T0 + 2 * DAY, T0 + 2 * DAY, T0 + 3 * DAY, T0 + 3 * DAY],
            "value": [0.3, 0.4, 0.5, 0.55],
            "limit": [0.25, 0.2, 0.25, 0.6],
            "feature": [None, "channel", None, None],
            "estimated": [False, False, False, True],
        }
    )


def immature_spans(fig):
    return [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect" and s.fillcolor == "grey"]


def test_score_timeline_draws_mean_score_psi_limit_and_the_alerts_of_its_rule(windows, alerts):
    fig = plots.score_timeline(windows, alerts, 0.25)
    assert [t.name for t in fig.data] == ["mean score", "score PSI", "alert"]
    mean, psi, marks = fig.data
    assert list(mean.y) == [0.05, 0.05, 0.06, 0.07] and list(psi.y) == [0.01, 0.02, 0.3, 0.5]
    assert list(marks.x) == [T0 + 2 * DAY, T0 + 3 * DAY] and list(marks.y) == [0.3, 0.5]  # score_psi only
    assert [s.y0 for s in fig.layout.shapes if s.type == "line"] == [0.25]
    assert immature_spans(fig) == [(T0 + 2 * DAY, T0 + 3 * DAY)] * 2  # one per panel
    assert fig.layout.yaxis2.range == pytest.approx((0, 0.5 * 1.15))


def test_roc_auc_timeline_shows_realised_only_where_mature_and_the_estimate_dashed_everywhere(windows, alerts):
    fig = plots.roc_auc_timeline(windows.drop(columns=["est_roc_auc_lo", "est_roc_auc_hi"], errors="ignore"), alerts, 0.6)
    assert [t.name for t in fig.data] == [
        "95% interval (upper)",
        "95% interval",
        "realised (labels mature)",
        "estimated from scores (CBPE)",
        "alert",
    ]
    upper, band, realised, estimate, marks = fig.data
    assert list(realised.y[:2]) == [0.80, 0.78] and all(np.isnan(realised.y[2:]))
    assert list(upper.y[:2]) == pytest.approx([0.85, 0.83]) and band.fill == "tonexty" and all(np.isnan(band.y[2:]))
    assert list(realised.marker.symbol) == ["circle", "circle-open", "circle", "circle-open"]
    assert estimate.line.dash == "dash" and list(estimate.y) == [0.79, 0.79, 0.76, 0.74]
    assert list(marks.x) == [T0 + 3 * DAY] and list(marks.y) == [0.55]
    assert [s.y0 for s in fig.layout.shapes if s.type == "line"] == [0.6]


def test_calibration_timeline_shades_the_band_and_draws_immature_ratios_faint(windows, alerts):
    fig = plots.calibration_timeline(windows, alerts.iloc[:0], (0.8, 1.25))
    assert [t.name for t in fig.data] == ["95% interval (upper)", "95% interval", "calibration ratio", "labels immature"]
    assert list(fig.data[2].y[:2]) == [1.0, 1.1] and all(np.isnan(fig.data[2].y[2:]))
    assert all(np.isnan(fig.data[3].y[:2])) and list(fig.data[3].y[2:]) == [1.5, 3.0]
    band = [s for s in fig.layout.shapes if s.type == "rect" and s.y0 is not None and s.y0 == 0.8]
    assert len(band) == 1 and band[0].y1 == 1.25
    assert fig.layout.title.text == "Calibration ratio (band 0.8–1.25)"


def test_volume_timeline_has_rows_and_positives(windows):
    fig = plots.volume_timeline(windows)
    assert list(fig.data[0].y) == [1000, 900, 1100, 400] and list(fig.data[1].y) == [50, 20, 40, 5]
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[2]  # immature windows paler


@pytest.fixture
def drift() -> pd.DataFrame:
    rows = []
    for i, (a, channel, device) in enumerate([(0.01, 0.02, 0.0), (0.02, 0.5, 0.1)]):
        for feature, value in (("a", a), ("channel", channel), ("device", device)):
            rows.append({"start": T0 + i * DAY, "end": T0 + (i + 7) * DAY, "feature": feature, "kind": "numeric", "psi": value})
    return pd.DataFrame(rows)


def test_drift_heatmap_orders_features_by_their_worst_window(drift):
    fig = plots.drift_heatmap(drift, top=2)
    heat = fig.data[0]
    assert list(heat.y) == ["channel", "device"] and list(heat.x) == [T0, T0 + DAY]
    assert heat.z.tolist() == [[0.02, 0.5], [0.0, 0.1]]


def test_drift_bars_sorts_by_psi_and_reds_those_above_the_limit(drift):
    fig = plots.drift_bars(drift[drift["start"] == T0 + DAY], 0.2)
    bars = fig.data[0]
    assert list(bars.y) == ["channel", "device", "a"] and list(bars.x) == [0.5, 0.1, 0.02]
    assert list(bars.marker.color) == [plots.ALERT, plots.LINE, plots.LINE]


def test_feature_histogram_puts_reference_beside_current_in_bin_order():
    histogram = pd.DataFrame(
        {
            "feature": ["channel"] * 3 + ["a"],
            "bin": ["social", "search", "(missing)", "(0, 1]"],
            "order": [1, 0, 2, 0],
            "reference_share": [0.2, 0.8, 0.0, 1.0],
            "current_share": [0.5, 0.4, 0.1, 1.0],
        }
    )
    fig = plots.feature_histogram(histogram, "channel")
    reference, current = fig.data
    assert list(reference.x) == ["search", "social", "(missing)"] and list(reference.y) == [0.8, 0.2, 0.0]
    assert list(current.y) == [0.4, 0.5, 0.1] and fig.layout.barmode == "group"


def test_roc_auc_timeline_draws_the_estimates_band_when_the_pass_has_one(windows, alerts):
    banded = windows.assign(est_roc_auc_lo=windows["est_roc_auc"] - 0.02, est_roc_auc_hi=windows["est_roc_auc"] + 0.02)
    fig = plots.roc_auc_timeline(banded, alerts.iloc[:0], 0.6)
    assert [t.name for t in fig.data] == [
        "95% interval (upper)", "95% interval", "realised (labels mature)", "estimate's 95% interval (upper)", "estimate's 95% interval", "estimated from scores (CBPE)",
    ]  # fmt: skip
    band = next(t for t in fig.data if t.name == "estimate's 95% interval")
    assert list(band.y) == pytest.approx([0.77, 0.77, 0.74, 0.72]) and band.fill == "tonexty"

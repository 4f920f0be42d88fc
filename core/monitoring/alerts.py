"""Alert rules of a monitoring pass: which windows cross a limit, by how much, and whether the value is an estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import settings

ALERT_COLUMNS = ["rule", "window_start", "value", "limit", "feature", "estimated"]
RULES = ("score_psi", "feature_psi", "calibration_ratio", "roc_auc")
# feature_psi's limit in a window is at least this many times the PSI that sampling alone gives there (drift's psi_noise):
# with 51 buckets and 2,500 rows that noise is 0.02, the default limit itself; on the demo's 125k-row windows it is 1e-4.
NOISE_MULTIPLE = 3.0


@dataclass(frozen=True)
class Limits:
    """The limits the rules compare with; `from_settings` reads the current settings."""

    score_psi: float
    feature_psi: float
    calibration_band: tuple[float, float]
    roc_auc: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            score_psi=settings.get("monitor_max_score_psi"),
            feature_psi=settings.get("monitor_max_feature_psi"),
            calibration_band=tuple(settings.get("monitor_calibration_band")),
            roc_auc=settings.get("gate_min_roc_auc"),
        )


def alerts(windows: pd.DataFrame, drift: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Every crossed limit. Columns: rule, window_start, value, limit, feature, estimated; by window_start, then RULES order.

    score_psi: psi > limits.score_psi. feature_psi: a drift row's psi > the larger of limits.feature_psi and NOISE_MULTIPLE ×
    its psi_noise (one alert per feature and window; the limit recorded is the one applied).
    calibration_ratio: on mature windows with positives >= their min_positives (few_positives false), ratio < lo or > hi;
    the limit is the bound crossed. roc_auc: the realised roc_auc on mature windows that have one, else est_roc_auc
    (estimated true), below limits.roc_auc. Each comparison is strict, and a NaN value never fires.
    """
    found = [
        _fired(windows, "score_psi", windows["psi"], limits.score_psi, above=True),
        _feature_alerts(drift, limits.feature_psi),
        _calibration_alerts(windows, limits.calibration_band),
        _roc_auc_alerts(windows, limits.roc_auc),
    ]
    table = pd.concat([f for f in found if len(f)], ignore_index=True) if any(len(f) for f in found) else _empty()
    order = table["rule"].map({rule: i for i, rule in enumerate(RULES)})
    table = table.assign(_order=order).sort_values(["window_start", "_order"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)[ALERT_COLUMNS]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": pd.Series(dtype=object),
            "window_start": pd.Series(dtype="datetime64[ns]"),
            "value": pd.Series(dtype=float),
            "limit": pd.Series(dtype=float),
            "feature": pd.Series(dtype=object),
            "estimated": pd.Series(dtype=bool),
        }
    )


def _fired(windows: pd.DataFrame, rule: str, values, limit, above: bool, mask=None, estimated=False) -> pd.DataFrame:
    """Rows of `windows` where `values` is strictly above (or below) `limit`, among `mask`."""
    values = np.asarray(values, dtype=float)
    crossed = values > limit if above else values < limit  # NaN compares false: no alert
    if mask is not None:
        crossed &= np.asarray(mask, dtype=bool)
    return pd.DataFrame(
        {
            "rule": rule,
            "window_start": windows["start"].to_numpy()[crossed],
            "value": values[crossed],
            "limit": np.broadcast_to(np.asarray(limit, dtype=float), values.shape)[crossed],
            "feature": None,
            "estimated": np.broadcast_to(np.asarray(estimated, dtype=bool), values.shape)[crossed],
        }
    )


def _feature_alerts(drift: pd.DataFrame, limit: float) -> pd.DataFrame:
    if drift is None or drift.empty:
        return _empty()
    noise = drift["psi_noise"].to_numpy(dtype=float) if "psi_noise" in drift else np.zeros(len(drift))
    limits = np.fmax(limit, NOISE_MULTIPLE * noise)  # a NaN noise (no rows) leaves the setting
    crossed = drift["psi"].to_numpy(dtype=float) > limits
    hit = drift.loc[crossed]
    return pd.DataFrame(
        {
            "rule": "feature_psi",
            "window_start": hit["start"].to_numpy(),
            "value": hit["psi"].to_numpy(dtype=float),
            "limit": limits[crossed],
            "feature": hit["feature"].astype(object).to_numpy(),
            "estimated": False,
        }
    )


def _calibration_alerts(windows: pd.DataFrame, band: tuple[float, float]) -> pd.DataFrame:
    lo, hi = band
    ratio = windows["calibration_ratio"]
    settled = windows["mature"].to_numpy(dtype=bool) & ~windows["few_positives"].to_numpy(dtype=bool)
    below = _fired(windows, "calibration_ratio", ratio, lo, above=False, mask=settled)
    above = _fired(windows, "calibration_ratio", ratio, hi, above=True, mask=settled)
    return pd.concat([below, above], ignore_index=True)


def _roc_auc_alerts(windows: pd.DataFrame, floor: float) -> pd.DataFrame:
    realised = windows["roc_auc"].to_numpy(dtype=float)
    use_realised = windows["mature"].to_numpy(dtype=bool) & ~np.isnan(realised)
    value = np.where(use_realised, realised, windows["est_roc_auc"].to_numpy(dtype=float))
    return _fired(windows, "roc_auc", value, floor, above=False, estimated=~use_realised)

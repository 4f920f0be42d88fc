"""What Diagnostics shows, computed from a run's predictions: metrics, calibration, thresholds, windows, segments, SHAP."""

"""Monitoring a registered model on new data: feature drift, the monitoring pass, alerts."""

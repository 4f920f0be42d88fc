"""The value stage: fitting E[value | converted] after the classifier, its metrics and diagnostics."""

"""The value (revenue) stage: regression metrics and value diagnostics."""

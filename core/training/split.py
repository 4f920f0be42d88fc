"""Train / valid / test splits: by time (oldest first), stratified by the target, or random."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.errors import DataError

PARTS = ("train", "valid", "test")


def split_labels(y: np.ndarray, time: pd.Series | None, kind: str, valid_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """'train', 'valid' or 'test' per row. Temporal: the oldest rows train, the newest test (ties stay together)."""
    n = len(y)
    labels = np.full(n, "train", dtype=object)
    if kind == "temporal":
        if time is None:
            raise DataError("A temporal split needs a time column; set one or use a stratified split.")
        # Cut at time quantiles so rows sharing a timestamp land in the same part.
        t = pd.to_datetime(time, utc=True).dt.tz_localize(None).to_numpy()  # one clock for zone-aware and naive times
        valid_from, test_from = np.quantile(t.astype("int64"), [1 - valid_fraction - test_fraction, 1 - test_fraction])
        ints = t.astype("int64")
        labels[ints >= valid_from] = "valid"
        labels[ints >= test_from] = "test"
        return labels
    index = np.arange(n)
    stratify = y if kind == "stratified" else None
    try:
        rest, test = train_test_split(index, test_size=test_fraction, stratify=stratify, random_state=seed)
        train, valid = train_test_split(
            rest, test_size=valid_fraction / (1 - test_fraction), stratify=None if stratify is None else y[rest], random_state=seed
        )
    except ValueError:
        smallest = int(min((y == 1).sum(), (y == 0).sum()))
        raise DataError(
            f"Too few rows to split {kind}ly into train, valid and test: {n:,} rows, {smallest:,} in the smaller class; "
            "use more data, larger valid and test shares, or a random split."
        ) from None
    labels[valid] = "valid"
    labels[test] = "test"
    return labels

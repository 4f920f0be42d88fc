import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.training.split import split_labels


def test_temporal_split_keeps_time_order_and_ties_together():
    time = pd.Series(pd.to_datetime(["2026-01-01"] * 4 + ["2026-01-02"] * 3 + ["2026-01-03"] * 3))
    y = np.array([0, 1] * 5)
    labels = split_labels(y, time, "temporal", 0.2, 0.2, 0)
    assert labels.tolist() == ["train"] * 4 + ["valid"] * 3 + ["test"] * 3


def test_stratified_split_sizes_and_rates():
    y = np.array([1] * 100 + [0] * 900)
    labels = split_labels(y, None, "stratified", 0.15, 0.15, 3)
    assert [(labels == part).sum() for part in ("train", "valid", "test")] == [700, 150, 150]
    for part in ("train", "valid", "test"):
        assert y[labels == part].mean() == pytest.approx(0.1)


def test_temporal_without_time_is_a_data_error():
    with pytest.raises(DataError, match="needs a time column"):
        split_labels(np.array([0, 1]), None, "temporal", 0.2, 0.2, 0)

"""Fold assignment: stratified k-fold keeps the class ratio, time-series folds never look back and keep the gap."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.selection.folds import fold_positions, inner_split
from core.spec import TrainSpec
from core.training.prepare import Prepared

DAY = pd.Timedelta(days=1)


def prepared(y, labels, times=None) -> Prepared:
    """A Prepared over one numeric feature (and a time column when given)."""
    frame = pd.DataFrame({"x": np.arange(len(y), dtype=float)})
    if times is not None:
        frame["t"] = times
    return Prepared(frame, np.asarray(y), np.asarray(labels, dtype=object), ["x"], [], pd.DataFrame())


def spec_for(kind, folds, gap=True, time=True, split="temporal") -> TrainSpec:
    return TrainSpec.from_dict(
        {
            "dataset": "d",
            "target": "y",
            "time_column": "t" if time else None,
            "split": {"kind": split},
            "validation": {"kind": kind, "folds": folds, "gap": gap},
        }
    )


def test_stratified_folds_keep_the_class_ratio_to_one_row_and_never_touch_test():
    rng = np.random.default_rng(0)
    y = (rng.random(203) < 0.17).astype(int)
    labels = rng.choice(["train", "valid", "test"], 203, p=[0.6, 0.2, 0.2])
    prep = prepared(y, labels)
    pool = np.flatnonzero(labels != "test")
    rate = y[pool].mean()
    found = fold_positions(prep, spec_for("kfold", 5, time=False))
    assert len(found) == 5
    for train_pos, valid_pos in found:
        assert abs(y[valid_pos].sum() - len(valid_pos) * rate) <= 1
        assert abs(y[train_pos].sum() - len(train_pos) * rate) <= 1
        assert not set(train_pos) & set(valid_pos)
        assert sorted([*train_pos, *valid_pos]) == pool.tolist()  # every train+valid row, no test row
    every_valid = np.concatenate([v for _, v in found])
    assert sorted(every_valid) == pool.tolist()  # each row validates exactly once


def test_stratified_folds_are_the_seeds_stratified_kfold():
    from sklearn.model_selection import StratifiedKFold

    y = np.array([0, 1] * 20)
    labels = np.array(["train"] * 30 + ["test"] * 10, dtype=object)
    found = fold_positions(prepared(y, labels), spec_for("kfold", 3, time=False))
    expected = StratifiedKFold(3, shuffle=True, random_state=0).split(np.zeros(30), y[:30])
    for (train_pos, valid_pos), (fit, held) in zip(found, expected, strict=True):
        assert train_pos.tolist() == fit.tolist() and valid_pos.tolist() == held.tolist()


def days(n_days, start="2026-01-01"):
    return pd.Timestamp(start) + DAY * np.arange(n_days)


def test_time_series_blocks_by_hand_without_gap():
    # 12 daily rows, the last two test: 10 rows in 5 blocks of 2 days for 4 folds.
    y = np.arange(12) % 2
    labels = ["train"] * 8 + ["valid"] * 2 + ["test"] * 2
    found = fold_positions(prepared(y, labels, days(12)), spec_for("timeseries", 4, gap=False))
    assert [(t.tolist(), v.tolist()) for t, v in found] == [
        ([0, 1], [2, 3]),
        ([0, 1, 2, 3], [4, 5]),
        ([0, 1, 2, 3, 4, 5], [6, 7]),
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9]),
    ]


def test_time_series_gap_leaves_conversion_days_out(monkeypatch):
    # 20 daily rows in 4 blocks of 5 days (starts: day 5, 10, 15); a 3-day gap trains on days < start - 3.
    monkeypatch.setenv("WB_CONVERSION_DAYS", "3")
    times = days(20)
    y = np.arange(20) % 2
    prep = prepared(y, ["train"] * 20, times)
    found = fold_positions(prep, spec_for("timeseries", 3, gap=True))
    assert [(t.tolist(), v.tolist()) for t, v in found] == [
        ([0, 1], [5, 6, 7, 8, 9]),
        (list(range(7)), [10, 11, 12, 13, 14]),
        (list(range(12)), [15, 16, 17, 18, 19]),
    ]
    for train_pos, valid_pos in found:
        start = times[valid_pos].min()
        assert times[train_pos].max() < start - 3 * DAY  # no training row within the gap before the block
        assert times[train_pos].max() < times[valid_pos].min()  # never validates on a row older than a training row


def test_time_series_folds_on_shuffled_rows_with_ties_zones_and_a_test_part(monkeypatch):
    monkeypatch.setenv("WB_CONVERSION_DAYS", "1.5")
    rng = np.random.default_rng(1)
    n = 400
    times = pd.Series(pd.Timestamp("2026-03-01", tz="Europe/Berlin") + DAY * rng.integers(0, 40, n))  # many ties
    y = (rng.random(n) < 0.3).astype(int)
    labels = np.where(times >= pd.Timestamp("2026-04-03", tz="Europe/Berlin"), "test", "train")
    prep = prepared(y, labels, times)
    found = fold_positions(prep, spec_for("timeseries", 4))
    test = set(np.flatnonzero(labels == "test"))
    held_blocks = []
    for train_pos, valid_pos in found:
        assert not (set(train_pos) | set(valid_pos)) & test
        start = times[valid_pos].min()
        assert times[train_pos].max() < start - 1.5 * DAY
        # Expanding window: every train+valid row older than the block start minus the gap trains.
        older = np.flatnonzero((labels != "test") & (times < start - 1.5 * DAY).to_numpy())
        assert sorted(train_pos) == older.tolist()
        held_blocks.append(set(times[valid_pos]))
    for first, second in zip(held_blocks, held_blocks[1:], strict=False):
        assert not first & second and max(first) < min(second)  # a timestamp lives in one block, blocks in order


def test_gap_too_long_for_the_first_block_is_a_data_error(monkeypatch):
    monkeypatch.setenv("WB_CONVERSION_DAYS", "7")
    prep = prepared(np.arange(20) % 2, ["train"] * 20, days(20))
    with pytest.raises(DataError, match="fold 1 has no training rows .*--no-gap"):
        fold_positions(prep, spec_for("timeseries", 3))


@pytest.mark.parametrize(
    ("y", "times", "kind", "folds", "message"),
    [
        ([0] * 8 + [1] * 2, None, "kfold", 3, "smaller class has 2"),
        ([0, 1] * 5, [pd.Timestamp("2026-01-01")] * 5 + [pd.Timestamp("2026-01-02")] * 5, "timeseries", 3, "too few distinct times"),
        ([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], days(10), "timeseries", 4, "training rows hold one class"),
        ([0, 1, 0, 1, 0, 0, 1, 0, 1, 0], days(10), "timeseries", 4, "validation rows hold one class"),
    ],
)
def test_folds_that_cannot_be_scored_are_data_errors(y, times, kind, folds, message):
    prep = prepared(np.array(y), ["train"] * len(y), times)
    with pytest.raises(DataError, match=message):
        fold_positions(
            prep, spec_for(kind, folds, gap=False, time=times is not None, split="temporal" if times is not None else "stratified")
        )


def test_inner_split_keeps_the_newest_rows_for_a_temporal_split():
    prep = prepared(np.arange(40) % 2, ["train"] * 40, days(40))
    positions = np.arange(3, 37)  # 34 rows; share 0.15 / 0.85: the quantile cut at 1 - 3/17 keeps the newest 6
    fit_pos, stop_pos = inner_split(prep, spec_for("timeseries", 3), positions)
    assert fit_pos.tolist() == list(range(3, 31)) and stop_pos.tolist() == list(range(31, 37))


def test_inner_split_is_stratified_and_seeded_without_time():
    y = np.array([1] * 20 + [0] * 80)
    prep = prepared(y, ["train"] * 100)
    positions = np.arange(100)
    fit_pos, stop_pos = inner_split(prep, spec_for("kfold", 3, time=False, split="stratified"), positions)
    assert len(stop_pos) == 18 and y[stop_pos].sum() == 4  # ceil(100 * 0.15 / 0.85) rows, a fifth of them positive
    assert sorted([*fit_pos, *stop_pos]) == positions.tolist()
    again = inner_split(prep, spec_for("kfold", 3, time=False, split="stratified"), positions)
    assert again[1].tolist() == stop_pos.tolist()

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from core.diagnostics.intervals import Z95, segment_table, wilson_interval, with_wilson_interval


def test_zero_successes_has_the_closed_form_upper_bound():
    lo, hi = wilson_interval([0], [10])
    assert lo[0] == 0.0
    assert hi[0] == pytest.approx(Z95**2 / (10 + Z95**2))  # 0.27753...


def test_half_of_ten_is_symmetric_around_one_half():
    lo, hi = wilson_interval([5], [10])
    assert (lo[0], hi[0]) == pytest.approx((0.236593, 0.763407), abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(1, 7), (3, 40), (97, 100), (250, 10_000)])
def test_matches_scipy_wilson(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval([k], [n])
    assert (lo[0], hi[0]) == pytest.approx((expected.low, expected.high), rel=1e-9)


def test_no_rows_gives_no_interval():
    lo, hi = wilson_interval([0], [0])
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_frame_gets_rate_and_bounds():
    frame = with_wilson_interval(pd.DataFrame({"rows": [10, 4], "positives": [0, 2]}))
    assert frame["rate"].tolist() == [0.0, 0.5]
    assert list(frame.columns) == ["rows", "positives", "rate", "rate_lo", "rate_hi"]


def test_segment_table_gives_exact_bounds_shares_and_labels():
    frame = pd.DataFrame({"k0": pd.array(["a", None], dtype="str"), "k1": [1.5, None], "rows": [4, 6], "positives": [2, None]})
    table = segment_table(frame, ["k0", "k1"], ["device", "price"])
    assert list(table.columns) == ["segment", "device", "price", "rows", "positives", "rate", "rate_lo", "rate_hi", "share"]
    assert table["segment"].tolist() == ["a × 1.5", "(missing) × (missing)"]
    assert table["segment"].dtype == object
    assert (table["rows"].tolist(), table["positives"].tolist(), table["share"].tolist()) == ([4, 6], [2, 0], [0.4, 0.6])
    lo, hi = wilson_interval([2, 0], [4, 6])
    assert table["rate_lo"].tolist() == lo.tolist() and table["rate_hi"].tolist() == hi.tolist()
    assert (table["rate_lo"].iloc[0], table["rate_hi"].iloc[0]) == pytest.approx((0.150039, 0.849961), abs=1e-6)
    assert table["rate_hi"].iloc[1] == pytest.approx(Z95**2 / (6 + Z95**2))


def test_segment_table_leaves_out_a_key_named_like_a_result_column():
    table = segment_table(pd.DataFrame({"k0": [True, False], "rows": [3, 1], "positives": [1, 1]}), ["k0"], ["share"])
    assert list(table.columns) == ["segment", "rows", "positives", "rate", "rate_lo", "rate_hi", "share"]
    assert table["segment"].tolist() == ["True", "False"] and table["share"].tolist() == [0.75, 0.25]


def test_segment_table_of_no_rows_is_empty_with_every_column():
    table = segment_table(pd.DataFrame({"k0": pd.Series([], dtype="str"), "rows": [], "positives": []}), ["k0"], ["device"])
    assert table.empty and list(table.columns) == ["segment", "device", "rows", "positives", "rate", "rate_lo", "rate_hi", "share"]

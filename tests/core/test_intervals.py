import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from core.intervals import Z95, wilson_interval, with_wilson_interval


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

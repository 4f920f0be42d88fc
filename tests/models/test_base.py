"""Text-compared categories: the same levels and codes whatever type the values arrive as."""

import numpy as np
import pandas as pd
import pytest

from models.base import as_categorical, as_text, text_levels, with_levels

COLUMNS = [
    pd.Series(["a", "b", None, "a"]),
    pd.Series([1, 2, np.nan]),
    pd.Series([True, False, None], dtype=object),
    pd.Series(["x", None], dtype="str"),
    pd.Series([None, None], dtype=object),
    pd.Series(["b", "z", "a"], dtype="category"),
]


@pytest.mark.parametrize("column", COLUMNS)
def test_levels_and_codes_match_converting_every_value_to_text(column):
    assert text_levels(column) == sorted(as_text(column).dropna().unique())
    levels = ["a", "b", "1.0", "True"]
    expected = [v if v in levels else None for v in as_text(column)]
    got = as_categorical(column, levels)
    assert [None if pd.isna(v) else v for v in got.astype(object)] == expected
    assert list(got.categories) == levels


def test_unknown_and_missing_values_become_missing_even_with_no_levels():
    assert as_categorical(pd.Series(["a", None]), []).isna().all()
    assert list(as_categorical(pd.Series(["b", "q", None, "a"]), ["a", "b"]).codes) == [1, -1, -1, 0]


def test_with_levels_is_as_categorical_over_text_levels_in_one_pass():
    column = pd.Series(["b", None, "a", "b", 1, "1"], dtype=object)
    values, levels = with_levels(column)
    assert levels == text_levels(column) == ["1", "a", "b"]
    assert values.equals(as_categorical(column, levels))
    assert values.codes.tolist() == [2, -1, 1, 2, 0, 0]

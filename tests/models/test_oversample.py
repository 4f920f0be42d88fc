"""SMOTE-family oversampling over raw frames: counts as imbalanced-learn says, levels kept, originals untouched."""

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE

from core.errors import DataError
from models.oversample import DENSE_WIDTH, METHODS, ONE_HOT, Encoding, oversample, sampler
from tests.conftest import messy_frame


def _messy(rows=600, every=7):
    """The messy export (JSON characters, unicode, gaps, flags, text) with every `every`-th row positive."""
    X = messy_frame(rows).drop(columns=["converted"])
    X.index = X.index + 1000  # row keys as prep.frame has them, not 0..n
    return X, (np.arange(rows) % every == 0).astype(int)


@pytest.mark.parametrize("method", METHODS)
def test_originals_come_first_untouched_and_synthetic_rows_keep_columns_dtypes_and_levels(method):
    X, y = _messy()
    X_res, y_res = oversample(X, y, method, None, seed=0)
    pd.testing.assert_frame_equal(X_res.iloc[: len(X)], X)
    assert y_res.dtype.kind == "i" and (y_res[: len(X)] == y).all() and (y_res[len(X) :] == 1).all()
    assert list(X_res.columns) == list(X.columns)  # "price[usd]", 'col "q"', "größe m²", "it's" ... as given
    assert X_res.dtypes.equals(X.dtypes)
    synthetic = X_res.iloc[len(X) :]
    assert list(synthetic.index) == list(range(X.index.max() + 1, X.index.max() + 1 + len(synthetic)))
    for column in ('col "q"', "select", "flag on", "seen at"):  # categorical: only levels of the training rows
        assert set(synthetic[column].dropna()) <= set(X[column].dropna())
    # Numbers lie between the positives' own (SMOTE interpolates between positives); integers stay integers.
    positives = X[y == 1]
    for column in ("price[usd]", "a,b", "größe m²", "{x}: y"):
        assert positives[column].min() <= synthetic[column].min() and synthetic[column].max() <= positives[column].max()
    assert synthetic["it's"].dropna().between(positives["it's"].min(), positives["it's"].max()).all()


def test_smote_raises_the_positives_to_the_negatives_count_and_the_others_match_imblearn_on_the_same_encoding():
    X, y = _messy()
    negatives = int((y == 0).sum())
    _, y_res = oversample(X, y, "smote", None, seed=0)
    assert (y_res == 1).sum() == negatives and (y_res == 0).sum() == negatives  # sampling_strategy "auto"
    for method in ("borderline_smote", "adasyn"):
        _, expected = sampler(method, 0).fit_resample(Encoding(X, None).matrix, y)
        assert np.bincount(oversample(X, y, method, None, seed=0)[1]).tolist() == np.bincount(expected).tolist()


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    X, y = _messy()
    first, again, other = (oversample(X, y, "smote", None, seed=s)[0] for s in (3, 3, 4))
    pd.testing.assert_frame_equal(first, again)
    assert not first.iloc[len(X) :].reset_index(drop=True).equals(other.iloc[len(X) :].reset_index(drop=True))


def test_encoding_by_hand_median_for_gaps_scaled_by_std_and_one_hot_of_levels_with_missing_as_a_level():
    X = pd.DataFrame({"n": [1.0, np.nan, 3.0, 5.0], "c": ["a", "b", None, "a"]})
    encoding = Encoding(X, None)
    filled = np.array([1.0, 3.0, 3.0, 5.0])  # the gap is the median of 1, 3, 5
    std = filled.std()
    expected = np.column_stack(
        [filled / std, [0, 1, 0, 0], ONE_HOT * np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])]
    )  # scaled number, missing indicator, levels a, b, missing in first-seen order
    np.testing.assert_allclose(encoding.matrix, expected)


def test_decoding_by_hand_takes_the_nearer_parents_category_and_gap_and_rounds_integers():
    X = pd.DataFrame(
        {
            "n": pd.array([2, None, 4, 6], dtype="Int64"),
            "f": [0.0, 1.0, 2.0, 3.0],
            "c": pd.Categorical(["x", "y", "x", "z"]),
            "b": [True, False, True, True],
        }
    )
    encoding = Encoding(X, None)
    a, b = encoding.matrix[0], encoding.matrix[1]  # rows 0 (n=2, c=x, b=True) and 1 (n missing, c=y, b=False)
    synthetic = encoding.decode(np.vstack([0.7 * a + 0.3 * b, 0.3 * a + 0.7 * b, 0.5 * encoding.matrix[2] + 0.5 * encoding.matrix[3]]))
    # 0.7 * 2 + 0.3 * 4 (the gap's stand-in, the median) = 2.6 in the matrix: decoded as the present parent's 2.
    assert synthetic["n"].tolist()[0] == 2 and pd.isna(synthetic["n"].iloc[1]) and synthetic["n"].iloc[2] == 5
    assert synthetic["f"].tolist() == pytest.approx([0.3, 0.7, 2.5])
    assert synthetic["c"].tolist()[:2] == ["x", "y"] and synthetic["b"].tolist()[:2] == [True, False]
    assert synthetic.dtypes.equals(X.dtypes)
    assert list(synthetic.index) == [4, 5, 6]


def test_many_levels_make_a_sparse_matrix_that_samples_the_same_way():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"id": [f"site {i}" for i in rng.integers(0, DENSE_WIDTH * 2, 400)], "x": rng.normal(size=400)})
    y = (np.arange(400) % 5 == 0).astype(int)
    assert not isinstance(Encoding(X, None).matrix, np.ndarray)
    X_res, y_res = oversample(X, y, "smote", None, seed=1)
    assert (y_res == 1).sum() == (y == 0).sum()
    assert set(X_res["id"].iloc[len(X) :]) <= set(X["id"])


def test_an_explicit_categorical_list_decides_which_columns_are_levels():
    X, y = _messy()
    X_res, _ = oversample(X, y, "smote", ["{x}: y"], seed=0)  # a number read as a category, the text then as numbers
    assert set(X_res["{x}: y"].iloc[len(X) :]) <= set(X["{x}: y"])


def test_same_as_imblearn_smote_on_numbers_alone():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200) * 10})
    y = (rng.random(200) < 0.2).astype(int)
    scaled = X / X.std(ddof=0)
    expected_X, expected_y = SMOTE(k_neighbors=5, random_state=7).fit_resample(scaled.to_numpy(), y)
    X_res, y_res = oversample(X, y, "smote", None, seed=7)
    np.testing.assert_allclose(X_res.to_numpy(), expected_X * X.std(ddof=0).to_numpy())
    assert (y_res == expected_y).all()


def test_too_few_minority_rows_for_k_neighbors_is_one_clear_line():
    X = pd.DataFrame({"x": np.arange(30.0)})
    y = np.array([1] * 5 + [0] * 25)
    with pytest.raises(
        DataError, match=r"^Oversampling \(smote\) needs at least 6 training rows of class 1 \(k_neighbors = 5\); there are 5\."
    ):
        oversample(X, y, "smote", None, seed=0)
    with pytest.raises(DataError, match="only y = 0"):
        oversample(X, np.zeros(30, dtype=int), "adasyn", None, seed=0)


def test_adasyn_without_a_majority_neighbour_says_to_try_smote():
    X = pd.DataFrame({"x": np.r_[np.arange(10.0), 1000 + np.arange(30.0)]})  # the positives far from every negative
    y = np.array([1] * 10 + [0] * 30)
    with pytest.raises(DataError, match=r"Oversampling \(adasyn\) cannot sample these rows: .* Try smote\.$"):
        oversample(X, y, "adasyn", None, seed=0)

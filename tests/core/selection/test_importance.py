"""Feature importance: the model's own where it has one, else the mean ROC AUC drop under permutation."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.metrics import roc_auc_score

from core.selection.importance import feature_importance, permutation_importance


class FirstColumn(ClassifierMixin, BaseEstimator):
    """Scores rows by column `a` alone: the other columns cannot matter."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-X["a"].to_numpy(dtype=float)))
        return np.column_stack([1 - p, p])


def frame(rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.choice(["x", "y"], rows), "c": rng.normal(size=rows)})
    return X, (X["a"] + rng.normal(size=rows) > 0).astype(int).to_numpy()


def test_unused_columns_score_zero_and_the_used_one_its_auc_drop():
    X, y = frame(300)
    model = FirstColumn().fit(X, y)
    found = permutation_importance(model, X, y, seed=5, repeats=4)
    assert found["feature"].tolist() == ["a", "b", "c"]
    assert found.loc[1:, "importance"].tolist() == [0.0, 0.0]
    # By hand, as sklearn shuffles: one RandomState per column from the seed's first draw, each repeat shuffling the
    # already shuffled column again; the importance is the mean drop from the unshuffled ROC AUC.
    seed = np.random.RandomState(5).randint(np.iinfo(np.int32).max + 1)
    rng, order, column, drops = np.random.RandomState(seed), np.arange(300), X["a"].to_numpy(), []
    for _ in range(4):
        rng.shuffle(order)
        column = column[order]
        drops.append(roc_auc_score(y, X["a"]) - roc_auc_score(y, column))
    assert found.loc[0, "importance"] == np.mean(drops)


def test_at_most_the_given_rows_are_used_sampled_with_the_seed():
    X, y = frame(500)
    model = FirstColumn().fit(X, y)
    found = permutation_importance(model, X, y, seed=2, rows=120, repeats=2)
    sample = X.sample(120, random_state=2)
    expected = sklearn_permutation_importance(model, sample, y[sample.index], scoring="roc_auc", n_repeats=2, random_state=2)
    np.testing.assert_array_equal(found["importance"], expected.importances_mean)


def test_one_class_gives_no_importance_and_a_models_own_importance_is_kept():
    X, _ = frame(50)
    found = permutation_importance(FirstColumn().fit(X, None), X, np.zeros(50, dtype=int), seed=0)
    assert found["importance"].isna().all() and len(found) == 3

    class Own(FirstColumn):
        feature_importances_ = np.array([3.0, 2.0, 1.0])

    own = feature_importance(Own(), X, np.zeros(50, dtype=int), seed=0)
    assert own.to_dict("list") == {"feature": ["a", "b", "c"], "importance": [3.0, 2.0, 1.0]}

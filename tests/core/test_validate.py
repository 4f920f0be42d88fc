import numpy as np
import pandas as pd

from core.validate import dropped, first_error, single_feature_auc, validate


def frame_and_target(n=2000):
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.2).astype(int)
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "leak": y * 10.0 + rng.random(n),
            "same": np.ones(n),
            "visitor": np.arange(n),
            "channel": rng.choice(["a", "b"], n),
            "ratio": np.where(rng.random(n) < 0.01, np.inf, rng.random(n)),
        }
    )
    labels = np.array(["train"] * (n - 400) + ["valid"] * 200 + ["test"] * 200, dtype=object)
    return frame, y, labels


def test_checks_flag_leak_constant_id_and_infinities():
    frame, y, labels = frame_and_target()
    table = validate(frame, y, labels, list(frame.columns), "y", None)
    assert list(table.columns) == ["check", "column", "severity", "detail"]
    flagged = {(r.check, r.column): r.severity for r in table.itertuples()}
    assert flagged[("leak", "leak")] == "error"
    assert flagged[("constant", "same")] == "warning"
    assert flagged[("id-like", "visitor")] == "warning"
    assert flagged[("infinite values", "ratio")] == "warning"
    assert ("leak", "noise") not in flagged
    assert dropped(table) == ["same"]
    assert first_error(table).startswith("leak (leak)")


def test_one_class_in_test_is_an_error():
    frame, y, labels = frame_and_target()
    y = y.copy()
    y[labels == "test"] = 0
    table = validate(frame[["noise"]], y, labels, ["noise"], "y", None)
    assert "only class 0" in first_error(table)


def test_single_feature_auc_uses_rates_for_categories():
    y = np.array([1, 1, 0, 0])
    assert single_feature_auc(pd.Series(["a", "a", "b", "b"]), y) == 1.0
    assert single_feature_auc(pd.Series([0.4, 0.3, 0.2, 0.1]), y) == 1.0
    assert single_feature_auc(pd.Series([0.1, 0.4, 0.2, 0.05]), y) == 0.75

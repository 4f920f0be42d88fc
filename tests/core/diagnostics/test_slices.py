import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from core.diagnostics import slice_finder
from core.diagnostics.intervals import Z95, wilson_interval
from core.diagnostics.metrics import EPS, ece
from core.diagnostics.slice_finder import SLICE_COLUMNS, find_slices
from core.diagnostics.slices import METRICS, benjamini_hochberg, parity, segment_metrics
from core.errors import DataError
from core.plots.segments import NOT_SIGNIFICANT, SIGNIFICANT, parity_bars, segment_metric_bars, slice_bars


def predictions(n: int, seed: int = 0, decimals: int | None = 2) -> pd.DataFrame:
    """Scores with ties (rounded) and exact 0 and 1, segments with missing values."""
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 5, n)
    if decimals is not None:
        score = np.round(score, decimals)
    score[:3] = [0.0, 1.0, 0.0]
    country = rng.choice(np.array(["DE", "FR", "US", "NL", None], dtype=object), n, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    device = rng.choice(np.array(["mobile", "desktop", np.nan], dtype=object), n, p=[0.6, 0.35, 0.05])
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"y": y, "score": score, "score_raw": score, "country": country, "device": device})


def hanley_mcneil(auc, n1, n0):
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))


def rows_of(frame, filters):
    mask = np.ones(len(frame), dtype=bool)
    for column, op, value in filters:
        mask &= frame[column].isna().to_numpy() if op == "is null" else (frame[column] == value).to_numpy()
    return mask


# segment_metrics


def test_segment_metrics_equal_scikit_learn_per_segment():
    frame = predictions(3000)
    table = segment_metrics(frame, "country")
    assert list(table.columns) == [
        "segment", "rows", "positives", "base_rate", "base_rate_lo", "base_rate_hi", "mean_score", "roc_auc", "roc_auc_lo",
        "roc_auc_hi", "pr_auc", "log_loss", "brier", "ece", "calibration_ratio", "calibration_ratio_lo", "calibration_ratio_hi", "note",
    ]  # fmt: skip
    assert sorted(table["segment"]) == sorted(["DE", "FR", "US", "NL", "(missing)"])
    for row in table.itertuples():
        part = frame[frame["country"].isna()] if row.segment == "(missing)" else frame[frame["country"] == row.segment]
        y, raw = part["y"].to_numpy(), part["score"].to_numpy()
        s = np.clip(raw, EPS, 1 - EPS)  # as core.diagnostics.metrics.scores
        n1, n0 = y.sum(), len(y) - y.sum()
        assert (row.rows, row.positives, row.note) == (len(y), n1, "")
        assert row.roc_auc == pytest.approx(roc_auc_score(y, s), abs=1e-9)
        assert row.pr_auc == pytest.approx(average_precision_score(y, s), abs=1e-9)
        assert row.log_loss == pytest.approx(log_loss(y, s, labels=[0, 1]), abs=1e-9)
        assert row.brier == pytest.approx(brier_score_loss(y, s), abs=1e-9)
        assert row.ece == pytest.approx(ece(y, raw), abs=1e-9)
        assert row.mean_score == pytest.approx(s.mean(), abs=1e-12)
        half = Z95 * hanley_mcneil(row.roc_auc, n1, n0)
        assert (row.roc_auc_lo, row.roc_auc_hi) == pytest.approx((row.roc_auc - half, row.roc_auc + half), abs=1e-12)
        lo, hi = wilson_interval(n1, len(y))
        assert (row.base_rate, row.base_rate_lo, row.base_rate_hi) == pytest.approx((n1 / len(y), lo, hi), abs=1e-12)
        ratio = s.mean() / (n1 / len(y))
        assert (row.calibration_ratio, row.calibration_ratio_lo, row.calibration_ratio_hi) == pytest.approx(
            (ratio, s.mean() / hi, s.mean() / lo), abs=1e-12
        )


def test_segment_metrics_match_without_ties_too():
    frame = predictions(2000, seed=3, decimals=None)
    table = segment_metrics(frame, "device", metric="pr_auc")
    for row in table.itertuples():
        part = frame[frame["device"].isna()] if row.segment == "(missing)" else frame[frame["device"] == row.segment]
        s = np.clip(part["score"], EPS, 1 - EPS)
        assert row.roc_auc == pytest.approx(roc_auc_score(part["y"], s), abs=1e-9)
        assert row.pr_auc == pytest.approx(average_precision_score(part["y"], s), abs=1e-9)


@pytest.mark.parametrize("metric", list(METRICS))
def test_segment_metrics_are_sorted_worst_first(metric):
    table = segment_metrics(predictions(3000, seed=1), "country", metric=metric)
    values = table[metric].to_numpy()
    if METRICS[metric] == "lower":
        assert (np.diff(values) >= 0).all()
    elif METRICS[metric] == "higher":
        assert (np.diff(values) <= 0).all()
    else:
        assert (np.diff(np.abs(np.log(values))) <= 0).all()


def test_a_single_class_segment_has_no_auc_and_says_why():
    frame = pd.DataFrame(
        {
            "y": [0, 0, 0, 1, 1, 1, 0, 1],
            "score": [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.4, 0.9],
            "channel": ["none", "none", "none", "all", "all", "all", "both", "both"],
        }
    )
    table = segment_metrics(frame, "channel").set_index("segment")
    for segment in ("none", "all"):
        assert np.isnan(table.loc[segment, "roc_auc"]) and np.isnan(table.loc[segment, "pr_auc"])
        assert "only one class in this segment" in table.loc[segment, "note"]
    assert np.isnan(table.loc["none", "calibration_ratio"])  # no positives: mean_score / 0
    assert table.loc["all", "calibration_ratio"] == pytest.approx(0.7)
    assert table.loc["both", "roc_auc"] == 1.0
    assert table.loc["none", "brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)
    # every NaN in the table comes with a note
    numbers = table.drop(columns="note")
    assert (table.loc[numbers.isna().any(axis=1), "note"] != "").all()
    assert table.index[-2:].tolist() in (["none", "all"], ["all", "none"])  # no AUC: listed last


def test_missing_segment_values_form_their_own_group():
    frame = pd.DataFrame({"y": [1, 0, 1, 0, 1, 0], "score": [0.9, 0.1, 0.8, 0.3, 0.2, 0.6], "device": ["m", "m", None, np.nan, None, "d"]})
    table = segment_metrics(frame, "device").set_index("segment")
    assert table.loc["(missing)", ["rows", "positives"]].tolist() == [3, 2]
    assert table.loc["(missing)", "roc_auc"] == pytest.approx(0.5)  # positives 0.8, 0.2 vs negative 0.3
    assert table["rows"].sum() == 6


def test_bad_input_is_a_data_error():
    frame = predictions(50)
    with pytest.raises(DataError, match="segment metric"):
        segment_metrics(frame, "country", metric="accuracy")
    with pytest.raises(DataError, match="Unknown segment column"):
        segment_metrics(frame, "planet")
    with pytest.raises(DataError, match="only 0 and 1"):
        segment_metrics(frame.assign(y=2), "country")
    with pytest.raises(DataError, match="missing: score"):
        parity(frame.drop(columns="score"), "country", 0.5)


# parity


def test_parity_by_hand():
    frame = pd.DataFrame(
        {
            "y": [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0],
            "score": [0.9, 0.4, 0.6, 0.2, 0.7, 0.8, 0.1, 0.3, 0.6, 0.1, 0.2, 0.9, 0.1],
            "group": ["a"] * 4 + ["b"] * 4 + [None] * 3 + ["d"] * 2,
        }
    )
    table = parity(frame, "group", threshold=0.5)
    assert list(table.columns) == [
        "group", "rows", "positives", "selection_rate", "tpr", "fpr", "selection_ratio", "tpr_ratio", "fpr_ratio", "below_four_fifths", "note",
    ]  # fmt: skip
    assert table["group"].tolist() == ["(missing)", "a", "b", "d"]  # lowest selection ratio first
    t = table.set_index("group")
    # a: chosen 0.9(y1), 0.6(y0) of 4 -> selection 1/2, TPR 1/2, FPR 1/2
    # b: chosen 0.7(y1), 0.8(y0) of 4 -> selection 1/2, TPR 1, FPR 1/3
    # missing: chosen 0.6(y0) of 3 -> selection 1/3, TPR 0, FPR 1/2
    # d: chosen 0.9(y0) of 2, no positives -> selection 1/2, TPR none, FPR 1/2
    assert t["selection_rate"].tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 2, 1 / 2])
    assert t["tpr"].iloc[:3].tolist() == pytest.approx([0, 1 / 2, 1]) and np.isnan(t.loc["d", "tpr"])
    assert t["fpr"].tolist() == pytest.approx([1 / 2, 1 / 2, 1 / 3, 1 / 2])
    assert t["selection_ratio"].tolist() == pytest.approx([2 / 3, 1, 1, 1])
    assert t["tpr_ratio"].iloc[:3].tolist() == pytest.approx([0, 1 / 2, 1]) and np.isnan(t.loc["d", "tpr_ratio"])
    assert t["fpr_ratio"].tolist() == pytest.approx([2 / 3, 2 / 3, 1, 2 / 3])  # lowest FPR (b, 1/3) / this FPR
    assert t["below_four_fifths"].tolist() == [True, False, False, False]
    assert t.loc["d", "note"] == "no positives: no TPR" and t.loc["a", "note"] == ""
    assert t["rows"].tolist() == [3, 4, 4, 2] and t["positives"].tolist() == [1, 2, 1, 0]


# find_slices


def test_slice_tests_by_hand():
    frame = pd.DataFrame(
        {
            "y": [1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0],
            "score": [0.9, 0.3, 0.4, 0.2, 0.6, 0.8, 0.7, 0.5, 0.1, 0.3, 0.3],
            "g": ["a"] * 5 + ["b"] * 6,
        }
    )
    assert find_slices(frame, ["g"], min_rows=2).empty  # eleven rows prove nothing: no slice is worse
    table = find_slices(frame, ["g"], min_rows=2, worse_only=False).set_index("slice")
    assert table.attrs == {"tested": 2, "worse": 0}
    assert list(table.reset_index().columns) == SLICE_COLUMNS
    assert sorted(table.index) == ["g = a", "g = b"]
    auc_p, ratio_p, expected = {}, {}, {}
    for name in ("a", "b"):
        inside, rest = frame[frame.g == name], frame[frame.g != name]
        auc, rest_auc = roc_auc_score(inside.y, inside.score), roc_auc_score(rest.y, rest.score)
        n1, n0 = inside.y.sum(), len(inside) - inside.y.sum()
        r1, r0 = rest.y.sum(), len(rest) - rest.y.sum()
        z = (auc - rest_auc) / math.sqrt(hanley_mcneil(auc, n1, n0) ** 2 + hanley_mcneil(rest_auc, r1, r0) ** 2)
        auc_p[name] = math.erfc(abs(z) / math.sqrt(2))
        s = inside.score.to_numpy()
        z = (s.sum() - n1) / math.sqrt((s * (1 - s)).sum())
        ratio_p[name] = math.erfc(abs(z) / math.sqrt(2))
        row = table.loc[f"g = {name}"]
        assert row.filters == [("g", "=", name)]
        assert (row.rows, row.positives) == (len(inside), n1)
        assert (row.roc_auc, row.rest_roc_auc, row.auc_diff) == pytest.approx((auc, rest_auc, auc - rest_auc), abs=1e-12)
        assert (row.auc_p, row.ratio_p) == pytest.approx((auc_p[name], ratio_p[name]), abs=1e-12)
        assert row.calibration_ratio == pytest.approx(s.sum() / n1)
        assert row.rest_calibration_ratio == pytest.approx(rest.score.sum() / r1)
        assert row.effect == pytest.approx(max(rest_auc - auc, 0, abs(math.log(s.sum() / n1))))
        expected[name] = auc_p[name], ratio_p[name]
    # Benjamini–Hochberg over the four tests: sorted p times 4 / rank, then running minimum from the top
    p = sorted([*auc_p.values(), *ratio_p.values()])
    q = [min(min(p[j] * 4 / (j + 1) for j in range(i, 4)), 1) for i in range(4)]
    for name in ("a", "b"):
        assert table.loc[f"g = {name}", "auc_q"] == pytest.approx(q[p.index(auc_p[name])])
        assert table.loc[f"g = {name}", "ratio_q"] == pytest.approx(q[p.index(ratio_p[name])])
    assert table["flagged_by"].tolist() == ["", ""] and table["finding"].tolist() == ["", ""]


def two_groups() -> pd.DataFrame:
    """a: 1000 rows all scored 0.2, 100 positives (no ranking, predicts 200); b: 200 positives at 0.4, 800 negatives at 0.1."""
    return pd.DataFrame(
        {
            "y": [1] * 100 + [0] * 900 + [1] * 200 + [0] * 800,
            "score": [0.2] * 1000 + [0.4] * 200 + [0.1] * 800,
            "g": ["a"] * 1000 + ["b"] * 1000,
        }
    )


def test_each_slice_says_which_test_flagged_it_and_against_what():
    table = find_slices(two_groups(), ["g"]).set_index("slice")
    # a: AUC 0.5 (all tied) vs b's 1.0; 200 predicted / 100 observed. b: AUC 1.0 is better than a's, so only its
    # calibration counts: 0.4 * 200 + 0.1 * 800 = 160 predicted / 200 observed.
    assert table.index.tolist() == ["g = a", "g = b"]  # effect: max(0.5, ln 2) = 0.693 before |ln 0.8| = 0.223
    assert table["flagged_by"].tolist() == ["ROC AUC vs the rest and calibration", "calibration"]
    assert table.loc["g = a", "finding"] == (
        "ROC AUC 0.500 vs 1.000 on the rest (q < 0.001); over-predicts: 2.00× the observed positives (q < 0.001); the rest 0.80×"
    )
    assert table.loc["g = b", "finding"] == "under-predicts: 0.80× the observed positives (q < 0.001); the rest 2.00×"
    assert table["effect"].tolist() == pytest.approx([math.log(2), -math.log(0.8)])
    fig = slice_bars(table.reset_index())
    assert list(fig.data[0].marker.color) == [SIGNIFICANT, NOT_SIGNIFICANT]  # b's AUC is higher: its AUC bar is not red
    assert list(fig.data[1].marker.color) == [SIGNIFICANT, SIGNIFICANT]


def test_at_most_fifteen_slices_lead_by_effect():
    rng = np.random.default_rng(11)
    n = 60_000
    frame = pd.DataFrame({"g": rng.integers(0, 30, n).astype(str)})
    frame["score"] = rng.uniform(0.05, 0.5, n)
    frame["y"] = (rng.random(n) < frame["score"] * (1 + frame["g"].astype(int) / 20)).astype(int)  # g = 29 is 2.45x under-predicted
    table = find_slices(frame, ["g"])
    assert len(table) == 15 < table.attrs["worse"] and (table["flagged_by"] != "").all()
    assert table["effect"].is_monotonic_decreasing and table["slice"].iloc[0] == "g = 29"


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg([0.01, 0.04, 0.03, np.nan, 0.5])
    # four tests: 0.01*4/1 = .04, 0.03*4/2 = .06, 0.04*4/3 = .0533 -> running min from the top .0533, 0.5*4/4 = .5
    assert q[[0, 2, 1, 4]] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert np.isnan(q[3])


def test_slice_and_rest_aucs_equal_scikit_learn_with_ties_and_missing_values():
    frame = predictions(4000, seed=2)
    table = find_slices(frame, ["country", "device"], min_rows=100, max_slices=1000, worse_only=False)
    assert len(table) > 10 and table["slice"].str.contains("&").any() and table["slice"].str.contains("is null").any()
    s = np.clip(frame["score"].to_numpy(), EPS, 1 - EPS)
    for row in table.itertuples():
        mask = rows_of(frame, row.filters)
        assert row.rows == mask.sum()
        assert row.roc_auc == pytest.approx(roc_auc_score(frame.y[mask], s[mask]), abs=1e-9)
        assert row.rest_roc_auc == pytest.approx(roc_auc_score(frame.y[~mask], s[~mask]), abs=1e-9)
        assert row.calibration_ratio == pytest.approx(s[mask].sum() / frame.y[mask].sum(), abs=1e-9)


def test_tied_scores_are_counted_the_same_when_too_many_for_a_dense_count(monkeypatch):
    frame = predictions(4000, seed=5)
    dense = find_slices(frame, ["country", "device"], min_rows=100, max_slices=1000, worse_only=False)
    monkeypatch.setattr(slice_finder, "DENSE_TIE_CELLS", 0)
    sparse = find_slices(frame, ["country", "device"], min_rows=100, max_slices=1000, worse_only=False)
    pd.testing.assert_frame_equal(dense, sparse)


def test_a_planted_bad_slice_is_found_first():
    rng = np.random.default_rng(7)
    n = 50_000
    frame = pd.DataFrame(
        {
            "country": rng.choice(["DE", "FR", "US", "GB", "NL", "ES"], n),
            "device": rng.choice(["mobile", "desktop", "tablet"], n),
            "channel": rng.choice(["search", "social", "email", "display"], n),
        }
    )
    frame["score"] = 1 / (1 + np.exp(-rng.normal(-2.5, 1.0, n)))
    frame["y"] = (rng.random(n) < frame["score"]).astype(int)
    bad = ((frame["country"] == "DE") & (frame["device"] == "mobile")).to_numpy()
    frame.loc[bad, "y"] = (rng.random(bad.sum()) < frame.loc[bad, "score"].mean()).astype(int)  # same rate, no ranking
    table = find_slices(frame, ["country", "device", "channel"])
    top = table.iloc[0]
    assert top["slice"] == "country = DE & device = mobile"
    assert top["filters"] == [("country", "=", "DE"), ("device", "=", "mobile")]
    assert top["flagged_by"] == "ROC AUC vs the rest" and top["auc_diff"] < -0.1 and top["auc_q"] < 0.001
    assert top["finding"] == f"ROC AUC {top['roc_auc']:.3f} vs {top['rest_roc_auc']:.3f} on the rest (q < 0.001)"
    assert top["effect"] == pytest.approx(-top["auc_diff"])  # its calibration is fine: only the AUC counts
    # only slices found worse are listed, and each holds planted rows (DE, mobile, or a pair with one of them)
    assert 0 < len(table) == table.attrs["worse"] < table.attrs["tested"] and (table["flagged_by"] != "").all()
    for filters in table["filters"]:
        assert ("country", "=", "DE") in filters or ("device", "=", "mobile") in filters
    assert table["effect"].is_monotonic_decreasing


def test_slices_skip_rare_values_and_pairs_that_repeat_a_single_value():
    rng = np.random.default_rng(4)
    n = 6000
    country = rng.choice(["DE", "FR", "US"], n)
    frame = pd.DataFrame({"country": country, "region": np.where(country == "US", "america", "europe"), "rare": "common"})
    frame.loc[:49, "rare"] = "seldom"  # 50 rows, below min_rows
    frame["score"] = rng.beta(2, 8, n)
    frame["y"] = (rng.random(n) < frame["score"]).astype(int)
    table = find_slices(frame, ["country", "region", "rare"], min_rows=200, max_slices=1000, worse_only=False)
    labels = set(table["slice"])
    assert "country = US" in labels and "country = US & region = america" not in labels  # same rows as country = US
    assert "country = DE & region = europe" not in labels
    assert not any("seldom" in label for label in labels)
    assert table.set_index("slice").loc["rare = common", "rows"] == n - 50  # its rest, the 50 rare rows, has both classes
    assert all(mask_rows == row for mask_rows, row in zip((rows_of(frame, f).sum() for f in table["filters"]), table["rows"], strict=True))


def test_no_slice_big_enough_gives_an_empty_table():
    table = find_slices(predictions(300), ["country"], min_rows=1000)
    assert table.empty and list(table.columns) == SLICE_COLUMNS
    assert len(slice_bars(table).data) == 2


# figures


def test_figures_build_with_expected_traces():
    frame = predictions(3000)
    table = segment_metrics(frame, "country")
    fig = segment_metric_bars(table, "roc_auc")
    assert [t.type for t in fig.data] == ["bar"] and list(fig.data[0].x) == table["segment"].tolist()
    assert fig.data[0].error_y.array == pytest.approx((table["roc_auc_hi"] - table["roc_auc"]).tolist())
    assert segment_metric_bars(table, "ece").data[0].error_y.array is None
    ratio = segment_metric_bars(segment_metrics(frame, "country", "calibration_ratio"), "calibration_ratio")
    assert [shape.y0 for shape in ratio.layout.shapes] == [1]

    fig = parity_bars(parity(frame, "country", 0.3))
    assert [t.name for t in fig.data] == ["selection", "selection ratio", "TPR", "TPR ratio", "FPR", "FPR ratio"]
    assert [shape.y0 for shape in fig.layout.shapes] == [0.8]

    slices = find_slices(frame, ["country", "device"], min_rows=100, worse_only=False)
    fig = slice_bars(slices)
    assert [t.name for t in fig.data] == ["AUC difference", "calibration"]
    assert list(fig.data[0].y) == slices["slice"].tolist() and list(fig.data[1].x) == pytest.approx(
        (slices["calibration_ratio"] - 1).tolist()
    )

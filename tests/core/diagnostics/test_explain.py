import numpy as np
import pandas as pd
import pytest

from core.diagnostics import explain
from core.errors import DataError
from core.plots import explain as figures


@pytest.fixture
def shap() -> pd.DataFrame:
    """Four explained rows, one number and one text feature; every value a binary fraction, so sums are exact."""
    return pd.DataFrame(
        {
            "row": [10, 11, 12, 13],
            "spend": [1.0, np.nan, 3.0, 3.0],
            "channel": ["a", None, "b", "a"],
            "shap.spend": [0.5, -0.25, 1.0, 0.0],
            "shap.channel": [-0.5, 0.25, 0.25, 0.5],
            "shap._base": [-2.0] * 4,
        }
    )


def one_row(count: int, base: float = 0.5) -> pd.DataFrame:
    """One row of `count` features f00.. with SHAP +1/16, -2/16, +3/16, ... (|SHAP| grows with the number)."""
    names = [f"f{i:02d}" for i in range(count)]
    values = {name: [float(i)] for i, name in enumerate(names)}
    contributions = {f"shap.{name}": [(i + 1) / 16 * (1 if i % 2 == 0 else -1)] for i, name in enumerate(names)}
    return pd.DataFrame({"row": [7], **values, **contributions, "shap._base": [base]})


def test_features_are_the_shap_columns_without_the_base(shap):
    assert explain.features(shap) == ["spend", "channel"]


def test_mean_abs_is_sorted_largest_first(shap):
    table = explain.mean_abs(shap)
    assert table.columns.tolist() == ["feature", "mean_abs_shap"]
    assert table["feature"].tolist() == ["spend", "channel"]
    assert table["mean_abs_shap"].tolist() == [1.75 / 4, 1.5 / 4]


def test_beeswarm_ranks_numbers_within_the_feature_and_leaves_text_and_missing_uncoloured(shap):
    frame = explain.beeswarm(shap)
    assert frame.columns.tolist() == ["row", "feature", "shap", "value", "colour"]
    assert frame["feature"].tolist() == ["spend"] * 4 + ["channel"] * 4
    spend = frame[frame["feature"] == "spend"]
    # values 1, NaN, 3, 3: ranks 1, -, 2.5, 2.5 of three present values, scaled (rank - 1) / 2
    assert spend["colour"].tolist()[0] == 0.0
    assert np.isnan(spend["colour"].iloc[1])
    assert spend["colour"].tolist()[2:] == [0.75, 0.75]
    assert spend["value"].tolist() == ["1", "(missing)", "3", "3"]
    assert spend["shap"].tolist() == [0.5, -0.25, 1.0, 0.0]
    channel = frame[frame["feature"] == "channel"]
    assert channel["colour"].isna().all()
    assert channel["value"].tolist() == ["a", "(missing)", "b", "a"]
    assert explain.beeswarm(shap, top=1)["feature"].unique().tolist() == ["spend"]


def test_a_single_present_number_sits_mid_scale():
    assert explain.value_rank(pd.Series([np.nan, 4.0])).tolist()[1] == 0.5


def test_dependence_keeps_text_as_categories_and_colours_by_another_feature(shap):
    text = explain.dependence(shap, "channel", colour_by="spend")
    assert text.columns.tolist() == ["row", "value", "shap", "colour"]
    assert list(text["value"].cat.categories) == ["a", "b", "(missing)"]
    assert text["value"].astype(str).tolist() == ["a", "(missing)", "b", "a"]
    assert text["shap"].tolist() == [-0.5, 0.25, 0.25, 0.5]
    assert text["colour"].tolist()[2:] == [3.0, 3.0]
    number = explain.dependence(shap, "spend", colour_by="channel")
    assert number["value"].dtype == float and np.isnan(number["value"].iloc[1])
    assert number["colour"].astype(str).tolist() == ["a", "(missing)", "b", "a"]
    assert explain.dependence(shap, "spend")["colour"].isna().all()


def test_dependence_on_an_unknown_feature_names_the_known_ones(shap):
    with pytest.raises(DataError, match="'price'.*spend, channel"):
        explain.dependence(shap, "price")


def test_waterfall_walks_from_the_base_to_the_row_total(shap):
    frame = explain.waterfall(shap, 12)
    assert frame.columns.tolist() == ["feature", "value", "shap", "start", "end"]
    assert frame["feature"].tolist() == ["spend", "channel"]
    assert frame["value"].tolist() == ["3", "b"]
    assert frame["start"].tolist() == [-2.0, -1.0]
    assert frame["end"].tolist() == [-1.0, -0.75]
    assert frame["end"].iloc[-1] == -2.0 + 1.0 + 0.25


def test_waterfall_folds_features_beyond_the_top_twelve_into_one_bar():
    frame = explain.waterfall(one_row(15), 7)
    assert len(frame) == 13
    assert frame["feature"].tolist()[:3] == ["f14", "f13", "f12"]
    assert frame["feature"].iloc[11] == "f03"
    assert frame["feature"].iloc[-1] == "(3 other features)"
    assert frame["shap"].iloc[-1] == (1 - 2 + 3) / 16
    assert frame["start"].iloc[0] == 0.5
    assert (frame["start"].iloc[1:].to_numpy() == frame["end"].iloc[:-1].to_numpy()).all()
    assert frame["end"].iloc[-1] == 0.5 + (1 - 2 + 3 - 4 + 5 - 6 + 7 - 8 + 9 - 10 + 11 - 12 + 13 - 14 + 15) / 16 == 1.0


def test_waterfall_shows_a_single_thirteenth_feature_rather_than_folding_it():
    frame = explain.waterfall(one_row(13), 7)
    assert len(frame) == 13 and frame["feature"].iloc[-1] == "f00"
    assert frame["end"].iloc[-1] == 0.5 + (1 - 2 + 3 - 4 + 5 - 6 + 7 - 8 + 9 - 10 + 11 - 12 + 13) / 16


def test_waterfall_of_an_unknown_row_is_a_one_line_data_error(shap):
    with pytest.raises(DataError) as err:
        explain.waterfall(shap, 99)
    assert "99" in str(err.value) and "\n" not in str(err.value)


def test_by_group_means_absolute_shap_per_group_with_missing_as_its_own_group(shap):
    table = explain.by_group(shap, pd.Series(["x", None, "x", "y"]))
    assert table.columns.tolist() == ["group", "feature", "mean_abs_shap", "rows"]
    assert table["group"].tolist() == ["x", "x", "y", "y", "(missing)", "(missing)"]
    assert table["feature"].tolist() == ["spend", "channel"] * 3
    assert table["mean_abs_shap"].tolist() == [0.75, 0.375, 0.0, 0.5, 0.25, 0.25]
    assert table["rows"].tolist() == [2, 2, 1, 1, 1, 1]
    assert explain.by_group(shap, pd.Series(["x"] * 4), top=1)["feature"].tolist() == ["spend"]


def test_by_group_aligns_groups_by_position(shap):
    shifted = pd.Series(["x", None, "x", "y"], index=[5, 6, 7, 8])
    assert explain.by_group(shap, shifted)["rows"].tolist() == [2, 2, 1, 1, 1, 1]


def test_joined_adds_prediction_columns_keeps_unmatched_rows_and_never_duplicates_a_feature(shap):
    predictions = pd.DataFrame(
        {
            "row": [12, 10, 99],
            "y": [1, 0, 1],
            "time": pd.to_datetime(["2026-03-03", "2026-03-02", "2026-03-04"]),
            "channel": ["z", "z", "z"],
            "device": ["mobile", "desktop", "mobile"],
        }
    )
    frame = explain.joined(shap, predictions, ["time", "channel", "device"])
    assert frame.columns.tolist() == [*shap.columns, "time", "device"]
    assert frame["row"].tolist() == [10, 11, 12, 13]
    assert frame["channel"].tolist()[::2] == ["a", "b"]
    assert frame["device"].tolist()[::2] == ["desktop", "mobile"]
    assert frame["device"].iloc[[1, 3]].isna().all()
    assert frame["time"].iloc[[1, 3]].isna().all() and frame["time"].iloc[0] == pd.Timestamp("2026-03-02")


def test_joined_names_an_unknown_prediction_column(shap):
    with pytest.raises(DataError, match="'country'"):
        explain.joined(shap, pd.DataFrame({"row": [10]}), ["country"])


def test_window_labels_start_at_the_first_day_and_end_before_the_next_window():
    times = pd.Series(pd.to_datetime(["2026-03-02 13:00:00", "2026-03-09 00:00:00", "2026-03-08 23:59:59", None, "2026-12-29 00:00:00"]))
    labels = explain.window_labels(times)
    assert labels.tolist()[:3] == ["2026-03-02 → 03-09", "2026-03-09 → 03-16", "2026-03-02 → 03-09"]
    assert pd.isna(labels.iloc[3])
    assert labels.iloc[4] == "2026-12-28 → 2027-01-04"  # 43 weeks after 03-02; the end's year is shown
    assert explain.window_labels(times.iloc[:3], length_days=1).tolist() == [
        "2026-03-02 → 03-03",
        "2026-03-09 → 03-10",
        "2026-03-08 → 03-09",
    ]


def test_window_labels_keep_the_index_and_feed_by_group(shap):
    times = pd.Series(pd.to_datetime(["2026-03-02", "2026-03-12", None, "2026-03-03"]), index=[4, 3, 2, 1])
    labels = explain.window_labels(times)
    assert labels.index.tolist() == [4, 3, 2, 1]
    table = explain.by_group(shap, labels, top=1)
    assert table["group"].tolist() == ["2026-03-02 → 03-09", "2026-03-09 → 03-16", "(missing)"]
    assert table["mean_abs_shap"].tolist() == [0.25, 0.25, 1.0]


def test_log_odds_note_says_what_each_family_explains():
    assert "log-odds" in explain.log_odds_note("gbdt") and "pred_contrib" in explain.log_odds_note("gbdt")
    assert "exact" in explain.log_odds_note("linear") and "log-odds" in explain.log_odds_note("linear")
    assert "probability" in explain.log_odds_note("forest") and "TreeExplainer" in explain.log_odds_note("forest")
    assert explain.log_odds_note("hashed_sgd").startswith("No SHAP") and "collisions" in explain.log_odds_note("hashed_sgd")


def test_figures_build_with_the_expected_traces(shap):
    bars = figures.importance_bars(explain.mean_abs(shap))
    assert [t.type for t in bars.data] == ["bar"] and list(bars.data[0].y) == ["spend", "channel"]
    swarm = figures.beeswarm(explain.beeswarm(shap))
    assert [(t.type, t.name) for t in swarm.data] == [("scatter", "value rank"), ("scatter", "text or missing")]
    assert len(swarm.data[0].x) == 3 and len(swarm.data[1].x) == 5
    assert all(t.startswith("spend<br>value = ") for t in swarm.data[0].hovertext) and "%{hovertext}" in swarm.data[0].hovertemplate
    assert (np.abs(np.asarray(swarm.data[0].y) - 1) <= 0.35).all()  # spend, the top feature, on the top strip
    assert list(swarm.layout.yaxis.ticktext) == ["spend", "channel"] and list(swarm.layout.yaxis.tickvals) == [1, 0]
    by_text = figures.dependence(explain.dependence(shap, "spend", "channel"), "spend", "channel")
    assert {t.name for t in by_text.data} == {"a", "b", "(missing)"}
    plain = figures.dependence(explain.dependence(shap, "channel"), "channel")
    assert [t.type for t in plain.data] == ["scatter", "box"] and plain.layout.xaxis.type == "category"
    assert list(plain.layout.xaxis.categoryarray) == ["a", "b", "(missing)"]
    assert [t.type for t in figures.dependence(explain.dependence(shap, "spend"), "spend").data] == ["scatter"]
    fall = figures.waterfall(explain.waterfall(shap, 12))
    assert [t.type for t in fall.data] == ["waterfall"]
    assert fall.data[0].base == -2.0 and list(fall.data[0].measure) == ["relative", "relative", "total"]
    assert list(fall.data[0].y) == ["spend = 3", "channel = b", "model output"]
    heat = figures.group_heatmap(explain.by_group(shap, pd.Series(["x", None, "x", "y"])))
    assert [t.type for t in heat.data] == ["heatmap"] and list(heat.data[0].y) == ["x", "y", "(missing)"]
    assert heat.data[0].z.tolist() == [[0.75, 0.375], [0.0, 0.5], [0.25, 0.25]]


def test_lightgbm_waterfall_ends_at_the_models_raw_log_odds():
    from core.diagnostics.explain import explanation
    from models.gbdt import GBDTClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=300),
            "x2": np.where(rng.random(300) < 0.1, np.nan, rng.normal(size=300)),
            "colour": rng.choice(["red", "green", "blue"], 300),
        },
        index=np.arange(1000, 1300),
    )
    y = ((X["x1"] + (X["colour"] == "red") + rng.normal(size=300)) > 0.5).astype(int)
    model = GBDTClassifier(n_estimators=30, min_child_samples=10).fit(X, y)
    shap = explanation(model, X, 50, seed=1)
    raw = pd.Series(model.model_.predict(model._prepare(X), raw_score=True), index=X.index)
    for row in shap["row"].head(5):
        assert explain.waterfall(shap, row)["end"].iloc[-1] == pytest.approx(raw[row], abs=1e-9)
    total = shap.filter(like="shap.").sum(axis=1).to_numpy()
    assert total == pytest.approx(raw[shap["row"]].to_numpy(), abs=1e-9)


def test_an_empty_sample_still_draws(shap):
    empty = shap.iloc[:0]
    assert figures.importance_bars(explain.mean_abs(empty)).data[0].type == "bar"
    assert len(figures.beeswarm(explain.beeswarm(empty)).data) == 2
    assert figures.dependence(explain.dependence(empty, "channel", "spend"), "channel", "spend").data
    assert explain.by_group(empty, pd.Series([], dtype=object)).empty
    assert explain.window_labels(pd.Series([], dtype="datetime64[ns]")).empty


def test_joined_returns_the_shap_rows_alone_when_predictions_have_no_row_key():
    shap = pd.DataFrame({"row": [3, 1], "x": [1.0, 2.0], "shap.x": [0.5, -0.5], "shap._base": [0.0, 0.0]})
    assert explain.joined(shap, pd.DataFrame({"y": [0, 1], "channel": ["a", "b"]}), ["channel"]).equals(shap)


def test_waterfall_rows_are_picked_by_score_around_the_cut(shap):
    predictions = pd.DataFrame({"row": [13, 12, 11, 10, 99], "score": [0.1, 0.4, 0.6, 0.6, 0.9], "y": [0, 0, 1, 0, 1]})
    # row 99 is not explained; rows 10 and 11 tie at 0.6 (the smaller key wins), so the lowest score at or above the
    # cut 0.5 is row 10 again, already picked as the highest: it keeps its first pick
    picks = explain.waterfall_rows(shap, predictions, cut=0.5)
    assert picks.to_dict("list") == {
        "pick": ["highest score", "just below the cut", "lowest score"],
        "row": [10, 12, 13],
        "score": [0.6, 0.4, 0.1],
        "y": [0, 0, 0],
    }
    assert explain.waterfall_rows(shap, predictions, cut=0.05)[["pick", "row"]].values.tolist() == [
        ["highest score", 10],
        ["just above the cut", 13],
    ]
    assert explain.waterfall_rows(shap, predictions, cut=0.45)[["pick", "row"]].values.tolist() == [
        ["highest score", 10],
        ["just below the cut", 12],
        ["lowest score", 13],
    ]
    assert explain.waterfall_rows(shap, predictions, cut=0.3)[["pick", "row"]].values.tolist() == [
        ["highest score", 10],
        ["just above the cut", 12],
        ["just below the cut", 13],
    ]
    assert explain.waterfall_rows(shap.iloc[:0], predictions, cut=0.5).columns.tolist() == ["pick", "row", "score", "y"]
    assert explain.waterfall_rows(shap, predictions.drop(columns="row"), cut=0.5).empty

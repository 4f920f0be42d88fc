"""Learning curves: fractions, row choice, metrics equal to a refit's, the summary and the still-rising rule by hand."""

import html
import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest

import models
from core import data, report, train
from core.diagnostics import metrics
from core.progress import Log
from core.selection import learning
from core.selection.learning import FRACTIONS, learning_curve, learning_summary, learning_verdict, still_rising
from core.spec import TrainSpec
from core.training.prepare import prepare
from tests.conftest import DEMO_ARGS

EXCLUDED = {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]}


def quiet():
    return Log(io.StringIO())


@pytest.fixture(scope="module")
def demo_con(demo_root):
    return data.connect(demo_root)


def demo_spec(**changes) -> TrainSpec:
    raw = {"dataset": "demo", "target": "converted", "time_column": "event_time", "features": EXCLUDED, "sample_rows": 4000}
    raw["model"] = {"family": "linear", "params": {"C": 0.5}}
    return TrainSpec.from_dict(raw | changes)


def curve_frame(valid_by_fold: dict[float, list[float]], metric="roc_auc", rows=(100, 178)) -> pd.DataFrame:
    """A hand-made learning-curve frame: the validation metric per fraction and fold, train a constant 0.9."""
    out = []
    for (fraction, values), n in zip(valid_by_fold.items(), rows, strict=True):
        for fold, value in enumerate(values):
            out.append({"fraction": fraction, "train_rows": n + fold, "fold": fold, "part": "valid", metric: value})
            out.append({"fraction": fraction, "train_rows": n + fold, "fold": fold, "part": "train", metric: 0.9})
    return pd.DataFrame(out)


def test_fractions_are_five_log_spaced_up_to_all_rows():
    assert FRACTIONS == (0.1, 0.178, 0.316, 0.562, 1.0)
    assert np.allclose(np.diff(np.log(FRACTIONS)), np.log(10) / 4, atol=0.005)


def test_summary_is_the_mean_and_sample_std_over_folds():
    frame = pd.DataFrame(
        {
            "fraction": [0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 0.1, 1.0],
            "train_rows": [10, 11, 13, 100, 110, 130, 12, 120],
            "fold": [0, 1, 2, 0, 1, 2, 0, 0],
            "part": ["valid"] * 6 + ["train"] * 2,
            "roc_auc": [0.6, 0.7, 0.8, 0.7, 0.75, 0.8, 0.95, 0.9],
        }
    )
    out = learning_summary(frame, "roc_auc")
    assert list(out.columns) == ["fraction", "train_rows", "part", "mean", "std"]
    valid = out[out["part"] == "valid"].set_index("fraction")
    assert valid.loc[0.1, "mean"] == pytest.approx(0.7)
    assert valid.loc[0.1, "std"] == pytest.approx(0.1)  # sqrt((0.01 + 0 + 0.01) / 2)
    assert valid.loc[1.0, "std"] == pytest.approx(0.05)
    assert valid["train_rows"].tolist() == [11, 113]  # 34 / 3 = 11.3 and 340 / 3 = 113.3, rounded
    train_part = out[out["part"] == "train"]
    assert train_part["mean"].tolist() == [0.95, 0.9] and train_part["std"].isna().all()  # one fold: no spread


def test_still_rising_on_a_rising_curve_and_not_on_a_flat_one():
    rising = curve_frame({0.5: [0.70, 0.72, 0.71], 1.0: [0.73, 0.74, 0.75]})  # gains 0.03, 0.02, 0.04: mean 0.03, std 0.01
    assert still_rising(rising, "roc_auc") is True
    step = learning.last_step(rising, "roc_auc")
    assert step["gain"] == pytest.approx(0.03) and step["spread"] == pytest.approx(0.01)
    assert (step["rows_before"], step["rows_after"]) == (101, 179)
    flat = curve_frame({0.5: [0.70, 0.72, 0.71], 1.0: [0.701, 0.721, 0.711]})  # gains 0.001 each: under the 0.002 tolerance
    assert still_rising(flat, "roc_auc") is False
    noisy = curve_frame({0.5: [0.70, 0.72, 0.71], 1.0: [0.75, 0.70, 0.74]})  # mean gain 0.02 but std of gains 0.036
    assert still_rising(noisy, "roc_auc") is False
    assert learning_verdict(rising, "roc_auc").startswith(
        "Still rising: more data would likely help (validation roc auc moved +0.0300 ± 0.0100"
    )
    assert learning_verdict(flat, "roc_auc").startswith("Flat: more data is unlikely to help (validation roc auc moved +0.0010")
    assert learning_verdict(noisy, "roc_auc").startswith("Flat: more data is unlikely to help")


def test_lower_is_better_metrics_rise_when_they_fall_and_a_worse_curve_says_falling():
    better = curve_frame({0.5: [0.30, 0.32], 1.0: [0.25, 0.28]}, metric="log_loss")  # loss falls 0.05 and 0.04
    assert still_rising(better, "log_loss") is True
    assert "log loss moved -0.0450" in learning_verdict(better, "log_loss")
    worse = curve_frame({0.5: [0.80, 0.81], 1.0: [0.75, 0.77]})  # AUC drops 0.05 and 0.04: std 0.007
    assert still_rising(worse, "roc_auc") is False
    assert learning_verdict(worse, "roc_auc").startswith("Falling: the most rows scored worse than fewer (validation roc auc moved -0.0450")


def test_one_fold_uses_the_tolerance_alone_and_a_missing_metric_cannot_be_judged():
    single = curve_frame({0.5: [0.700], 1.0: [0.703]})
    assert still_rising(single, "roc_auc") is True  # +0.003 > 0.002, spread 0 with one fold
    assert learning_verdict(single, "roc_auc") == (
        "Still rising: more data would likely help (validation roc auc moved +0.0030 from 100 to 178 training rows)."
    )
    missing = curve_frame({0.5: [0.7, 0.7], 1.0: [np.nan, 0.8]})
    assert still_rising(missing, "roc_auc") is None
    assert learning_verdict(missing, "roc_auc").startswith("Not enough to judge")


def test_a_time_ordered_fraction_keeps_the_newest_rows_and_a_random_one_keeps_the_class_ratio():
    positions = np.arange(10, 30)
    times = np.arange(20)[::-1]  # position 10 is the newest
    assert learning.subsample(positions, None, 0.25, 0, times).tolist() == [10, 11, 12, 13, 14]
    y = np.zeros(40, dtype=int)
    y[positions[::4]] = 1  # 5 positives among the 20 positions
    small, large = (learning.subsample(positions, y, f, 7) for f in (0.4, 0.6))
    assert (len(small), int(y[small].sum())) == (8, 2)  # round(0.4 * 15) negatives, round(0.4 * 5) positives
    assert set(small) <= set(large)  # nested: a larger fraction holds the smaller one's rows
    assert learning.subsample(positions, y, 1.0, 7).tolist() == positions.tolist()


def test_holdout_curve_fits_growing_shares_of_the_train_rows_and_scores_like_a_direct_fit(demo_con):
    spec = demo_spec()
    prep = prepare(demo_con, spec, quiet())
    params = models.resolve_params(models.family("linear"), spec.model.params)
    frame = learning_curve(spec, prep, params, quiet())
    assert list(frame.columns) == ["fraction", "train_rows", "fold", "part", "roc_auc", "pr_auc", "log_loss", "brier", "ece"]
    assert frame["fraction"].unique().tolist() == list(FRACTIONS) and frame["fold"].unique().tolist() == [0]
    sizes = frame.loc[frame["part"] == "valid", "train_rows"].tolist()
    train_pos, valid_pos = np.flatnonzero(prep.labels == "train"), np.flatnonzero(prep.labels == "valid")
    assert sizes == sorted(set(sizes)) and sizes[-1] == len(train_pos)
    # The split is temporal, so a share is the newest training rows; refit it by hand: the same numbers to the last digit.
    kept = learning.subsample(train_pos, prep.y, FRACTIONS[1], spec.seed, prep.frame["event_time"].to_numpy()[train_pos])
    assert prep.frame["event_time"].iloc[kept].min() >= prep.frame["event_time"].iloc[np.setdiff1d(train_pos, kept)].max()
    model = models.family("linear").build(params, spec).fit(prep.frame.loc[kept, prep.features], prep.y[kept])
    for part, rows in (("valid", valid_pos), ("train", kept)):
        expected = metrics.scores(prep.y[rows], model.predict_proba(prep.frame.loc[rows, prep.features])[:, 1])
        got = frame[(frame["part"] == part) & (frame["fraction"] == FRACTIONS[1])].iloc[0]
        for name in learning.METRICS:
            assert got[name] == pytest.approx(expected[name], rel=1e-12), (part, name)
    assert isinstance(still_rising(frame, "roc_auc"), bool)


def test_kfold_curve_has_every_fold_and_the_full_fraction_is_each_folds_training_rows(demo_con):
    from core.selection.folds import fold_positions

    spec = demo_spec(validation={"kind": "kfold", "folds": 3}, sample_rows=3000)
    prep = prepare(demo_con, spec, quiet())
    params = models.resolve_params(models.family("linear"), spec.model.params)
    frame = learning_curve(spec, prep, params, quiet())
    assert len(frame) == 5 * 3 * 2
    full = frame[(frame["fraction"] == 1.0) & (frame["part"] == "valid")].sort_values("fold")
    assert full["train_rows"].tolist() == [len(train_pos) for train_pos, _ in fold_positions(prep, spec)]
    summary = learning_summary(frame, "roc_auc")
    assert summary["std"].notna().all() and len(summary) == 10
    # With CV on, the full share reuses cross-validation's fold fits: the same metrics as the CV folds and as a refit.
    from core.selection.cv import cross_validate

    fits = {}
    folds = cross_validate(spec, prep, params, quiet(), fits)
    reused = learning_curve(spec, prep, params, quiet(), full=fits)
    pd.testing.assert_frame_equal(reused, frame)
    assert full["roc_auc"].tolist() == pytest.approx(folds["roc_auc"].tolist(), rel=1e-12)


def test_timeseries_curve_keeps_each_folds_newest_rows(demo_con):
    from core.selection.folds import fold_positions

    spec = demo_spec(validation={"kind": "timeseries", "folds": 3, "gap": False}, split={"kind": "stratified"})
    assert learning.in_time_order(spec) and not learning.in_time_order(demo_spec(split={"kind": "stratified"}))
    prep = prepare(demo_con, spec, quiet())
    frame = learning_curve(spec, prep, models.resolve_params(models.family("linear"), spec.model.params), quiet())
    found = fold_positions(prep, spec)
    full = frame[(frame["fraction"] == 1.0) & (frame["part"] == "valid")].sort_values("fold")
    assert full["train_rows"].tolist() == [len(t) for t, _ in found]  # an expanding window: each fold has more history
    times = prep.frame["event_time"].to_numpy()
    train_pos = found[2][0]
    kept = learning.subsample(train_pos, prep.y, FRACTIONS[0], spec.seed + 2, times[train_pos])
    assert times[kept].min() >= times[np.setdiff1d(train_pos, kept)].max()  # the newest tenth of the fold's history
    shown = frame[(frame["fold"] == 2) & (frame["part"] == "valid")]["train_rows"].tolist()
    assert shown[0] == len(kept) == round(0.1 * len(train_pos))


def test_a_training_run_with_learning_curve_logs_the_artifact(train_env, capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("dataset: demo\ntarget: converted\nsample_rows: 4000\n")
    code = train.main(["--spec", str(spec), *DEMO_ARGS, "--family", "linear", "--param", "C=0.5", "--learning-curve"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    logged = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="learning_curve.parquet"))
    assert logged["fraction"].unique().tolist() == list(FRACTIONS) and set(logged["part"]) == {"train", "valid"}
    assert "learning curve: fold 1/1" in err
    # The report writes the same section: the figure, and the page's verdict words for every metric.
    assert report.main(["--run", run_id, "--out", str(tmp_path / "report")]) == 0
    capsys.readouterr()
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Learning curve: would more data help?" in page and "Overview · learning curve" in page
    for name in learning.METRICS:
        assert html.escape(learning_verdict(logged, name)) in page
    numbers = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert len(numbers["learning_curve"]) == len(logged) == 10
    assert [v["still_rising"] for v in numbers["learning_verdict"]] == [still_rising(logged, m) for m in learning.METRICS]


def test_a_run_without_a_curve_gets_no_report_section():
    assert report.learning_tables(None) == {}
    assert report.learning_figures({}) == [] and report.learning_section({}) == []


def test_the_figure_draws_train_and_validation_side_by_side_on_log_axes():
    from core.plots.learning import learning_curves

    frame = curve_frame({0.5: [0.70, 0.72, 0.71], 1.0: [0.73, 0.74, 0.75]})
    fig = learning_curves(learning_summary(frame, "roc_auc"), "roc_auc")
    means = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.xaxis for t in means] == ["x", "x2"] and list(means[1].y) == pytest.approx([0.71, 0.74])
    assert fig.layout.xaxis.type == fig.layout.xaxis2.type == "log" and list(fig.layout.xaxis2.ticktext) == ["101", "179"]

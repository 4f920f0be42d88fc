"""Cross-validation on the small demo: equal to scikit-learn's cross_validate, fits inside each fold, logged by core.train."""

import io
import json
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_validate as sk_cross_validate

import models
from core import demo, settings, train
from core.progress import Log
from core.selection.cv import cross_validate, cv_summary, fold_fit, needs_stop_rows
from core.selection.folds import fold_positions, inner_split
from core.spec import TrainSpec, Validation
from core.training.prepare import connect_and_prepare
from models.calibrated import calibrated_scores
from tests.conftest import DEMO_ARGS

COLUMNS = [
    "fold",
    "train_rows",
    "valid_rows",
    "valid_positives",
    "valid_start",
    "valid_end",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
]


def demo_spec(family, **extra) -> TrainSpec:
    raw = {
        "dataset": "demo",
        "target": "converted",
        "time_column": "event_time",
        "features": {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]},
        "model": {"family": family},
        "sample_rows": 6000,
        **extra,
    }
    return TrainSpec.from_dict(raw)


def prepare(spec, demo_root, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    _, prep = connect_and_prepare(spec, Log(io.StringIO()))
    return prep, models.resolve_params(models.family(spec.model.family), spec.model.params)


@pytest.mark.parametrize(
    ("family", "params", "kind"),
    [("linear", {}, "kfold"), ("linear", {}, "timeseries"), ("forest", {"n_estimators": 10, "max_depth": 4}, "kfold")],
)
def test_cv_equals_sklearn_cross_validate_on_the_same_folds(demo_root, monkeypatch, family, params, kind):
    model = {"family": family, "params": params}
    spec = demo_spec(family, validation={"kind": kind, "folds": 4, "gap": False}, calibration="none", model=model)
    prep, params = prepare(spec, demo_root, monkeypatch)
    frame = cross_validate(spec, prep, params, Log(io.StringIO()))
    assert frame.columns.tolist() == COLUMNS and frame["fold"].tolist() == [1, 2, 3, 4]

    folds = fold_positions(prep, spec)
    estimator = models.family(family).build(params, spec)
    scoring = ["roc_auc", "neg_log_loss", "average_precision", "neg_brier_score"]
    theirs = sk_cross_validate(estimator, prep.frame[prep.features], prep.y, cv=folds, scoring=scoring)
    np.testing.assert_allclose(frame["roc_auc"], theirs["test_roc_auc"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame["log_loss"], -theirs["test_neg_log_loss"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame["pr_auc"], theirs["test_average_precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame["brier"], -theirs["test_neg_brier_score"], rtol=0, atol=1e-9)
    summary = cv_summary(frame)
    assert summary["cv_roc_auc_mean"] == pytest.approx(np.mean(theirs["test_roc_auc"]), abs=1e-9)
    assert summary["cv_log_loss_mean"] == pytest.approx(-np.mean(theirs["test_neg_log_loss"]), abs=1e-9)

    assert frame["train_rows"].tolist() == [len(t) for t, _ in folds]
    assert frame["valid_rows"].tolist() == [len(v) for _, v in folds]
    assert frame["valid_positives"].tolist() == [int(prep.y[v].sum()) for _, v in folds]
    times = pd.to_datetime(prep.frame["event_time"])
    assert frame["valid_start"].tolist() == [times.iloc[v].min() for _, v in folds]
    assert frame["valid_end"].tolist() == [times.iloc[v].max() for _, v in folds]


@pytest.mark.parametrize(
    ("family", "calibration", "expected"),
    [
        ("linear", "none", False),
        ("forest", "none", False),
        ("linear", "isotonic", True),
        ("gbdt", "none", True),
        ("ensemble", "none", True),
    ],
)
def test_a_fold_keeps_stop_rows_when_the_family_reads_eval_rows_or_calibrates(family, calibration, expected):
    spec = demo_spec(family, calibration=calibration)
    known = models.families()  # the ensemble family may be absent from this checkout: its params are not needed
    params = models.resolve_params(known[family], {}) if family in known else {}
    assert needs_stop_rows(spec, params) is expected


def test_cv_summary_is_mean_and_sample_std_by_hand():
    frame = pd.DataFrame({name: [0.6, 0.7, 0.8] for name in ("roc_auc", "pr_auc", "log_loss", "brier", "ece")})
    frame["ece"] = [0.01, 0.03, 0.02]
    summary = cv_summary(frame)
    assert set(summary) == {f"cv_{m}_{s}" for m in ("roc_auc", "pr_auc", "log_loss", "brier", "ece") for s in ("mean", "std")}
    assert summary["cv_roc_auc_mean"] == pytest.approx(0.7)
    assert summary["cv_roc_auc_std"] == pytest.approx(0.1)  # sqrt((0.01 + 0 + 0.01) / 2): ddof=1
    assert summary["cv_ece_mean"] == pytest.approx(0.02) and summary["cv_ece_std"] == pytest.approx(0.01)


def test_gbdt_fold_early_stops_and_calibrates_on_its_own_training_rows(demo_root, monkeypatch):
    spec = demo_spec(
        "gbdt", validation={"kind": "kfold", "folds": 3}, calibration="isotonic", model={"family": "gbdt", "params": {"n_estimators": 40}}
    )
    prep, params = prepare(spec, demo_root, monkeypatch)
    train_pos, valid_pos = fold_positions(prep, spec)[1]
    final, valid_scores, train_scores = fold_fit(spec, prep, params, train_pos, valid_pos, Log(io.StringIO()))

    fit_pos, stop_pos = inner_split(prep, spec, train_pos)
    assert set(stop_pos) <= set(train_pos) and not set(stop_pos) & set(valid_pos)
    assert set(fit_pos) | set(stop_pos) == set(train_pos)
    # The same fit by hand, with the fold's inner rows for early stopping and calibration, gives the same scores.
    _, model, by_hand, _ = train.fit(spec, prep, params, Log(io.StringIO()), rows=(fit_pos, stop_pos))
    raw = model.predict_proba(prep.frame.loc[valid_pos, prep.features])[:, 1]
    np.testing.assert_allclose(valid_scores, calibrated_scores(by_hand, raw), rtol=0, atol=1e-12)
    np.testing.assert_allclose(valid_scores, final.predict_proba(prep.frame.loc[valid_pos, prep.features])[:, 1], rtol=0, atol=1e-12)
    assert len(train_scores) == len(train_pos)


def test_flags_set_the_validation():
    spec, _ = train.parse_args([*DEMO_ARGS, "--validation", "timeseries", "--folds", "4", "--no-gap"])
    assert spec.validation == Validation("timeseries", 4, False)
    spec, _ = train.parse_args([*DEMO_ARGS, "--validation", "kfold"])
    assert spec.validation == Validation("kfold", 5, True)
    assert train.parse_args(DEMO_ARGS)[0].validation == Validation()


def run_cli(args, capsys):
    code = train.main(args)
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def test_a_kfold_run_logs_cv_parquet_and_its_mean_and_spread(train_env, capsys):
    code, result, err = run_cli(
        [*DEMO_ARGS, "--param", "n_estimators=40", "num_leaves=15", "--validation", "kfold", "--folds", "3"], capsys
    )
    assert code == 0, err
    run = mlflow.get_run(result["run_id"])
    frame = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path="cv.parquet"))
    assert len(frame) == 3 and frame.columns.tolist() == COLUMNS
    assert frame["valid_rows"].sum() == result["rows"]["train"] + result["rows"]["valid"]  # train+valid, each row once
    for name in ("roc_auc", "log_loss", "ece"):
        assert run.data.metrics[f"cv_{name}_mean"] == pytest.approx(frame[name].mean(), abs=1e-12)
        assert run.data.metrics[f"cv_{name}_std"] == pytest.approx(frame[name].std(ddof=1), abs=1e-12)
        assert result["cv"][f"{name}_mean"] == pytest.approx(frame[name].mean(), abs=1e-12)
    assert set(result["metrics"]) == {"roc_auc", "pr_auc", "log_loss", "brier", "ece"}  # the test split, as before
    assert "CV fold 3/3 (kfold)" in err


def test_a_holdout_run_has_no_cv(train_env, capsys):
    code, result, _ = run_cli([*DEMO_ARGS, "--family", "linear", "--param", "C=0.5"], capsys)
    assert code == 0 and "cv" not in result
    assert "cv_roc_auc_mean" not in mlflow.get_run(result["run_id"]).data.metrics


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*DEMO_ARGS[:4], "--exclude", *demo.NOT_FEATURES, "user_id", "--validation", "timeseries"],
            "needs a time column",
        ),
        ([*DEMO_ARGS, "--validation", "kfold", "--folds", "1"], "`validation.folds` must be a whole number from 2 to 20"),
        ([*DEMO_ARGS, "--validation", "timeseries"], "CV fold 1 has no training rows"),  # 7-day gap, 3-day blocks
    ],
)
def test_bad_validation_exits_2_with_one_line(train_env, capsys, args, message):
    code, result, err = run_cli(args, capsys)
    assert code == 2 and message in result["error"]
    assert err.strip().splitlines()[-1] == f"error: {result['error']}" and "Traceback" not in err
    if result["run_id"]:
        assert mlflow.get_run(result["run_id"]).info.status == "FAILED"


def test_the_cli_refuses_one_fold_in_a_subprocess(train_env):
    done = subprocess.run(
        [sys.executable, "-m", "core.train", *DEMO_ARGS, "--validation", "kfold", "--folds", "1"],
        cwd=settings.PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: `validation.folds` must be a whole number from 2 to 20; got 1."]
    assert json.loads(done.stdout.strip().splitlines()[-1])["error"].startswith("`validation.folds`")

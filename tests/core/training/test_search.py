"""Search: Optuna trials as nested runs, the best parameters refit in the parent run."""

import json

import mlflow
import optuna

import models
from core import train
from core.training.search import space
from tests.conftest import DEMO_ARGS


def test_space_skips_fixed_and_unsearched_parameters():
    trial = optuna.trial.FixedTrial({"learning_rate": 0.1, "num_leaves": 8, "min_child_samples": 20, "subsample": 0.9,
                                     "colsample_bytree": 0.7, "reg_lambda": 2.0, "cat_smooth": 5.0})  # fmt: skip
    params = space(trial, models.family("gbdt"), fixed={"learning_rate": 0.05})
    assert "learning_rate" not in params and "n_estimators" not in params and "early_stopping_rounds" not in params
    assert params["num_leaves"] == 8


def test_trials_are_nested_runs_and_the_best_is_refit(train_env, capsys):
    code = train.main([*DEMO_ARGS, "--family", "linear", "--n-trials", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    parent = mlflow.get_run(result["run_id"])
    trials = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result['run_id']}'", output_format="list"
    )
    assert len(trials) == 3
    scores = {t.data.params["C"]: t.data.metrics["valid_roc_auc"] for t in trials}
    best_c = max(scores, key=scores.get)
    assert float(parent.data.params["param.C"]) == float(best_c)
    assert parent.data.metrics["search_best_valid_roc_auc"] == max(scores.values())
    assert "search: 3 trials complete" in err


def test_gbdt_search_runs_with_pruning_callbacks(train_env, capsys):
    code = train.main([*DEMO_ARGS, "--param", "n_estimators=80", "--n-trials", "4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "trials complete" in err

"""Hyperparameter search with Optuna: each trial a nested MLflow run, LightGBM trials pruned."""

from __future__ import annotations

import mlflow
import optuna

import models
from core.diagnostics import metrics

# The LightGBM metric reported while boosting, so the pruner can stop a trial early.
LGB_METRIC = {"roc_auc": "auc", "pr_auc": "average_precision", "log_loss": "binary_logloss"}
REPORT_EVERY = 10


def space(trial: optuna.Trial, family, fixed: dict) -> dict:
    """Parameters for one trial: the family's searched parameters not fixed in the spec."""
    params = {}
    for p in family.PARAMS:
        if p.name in fixed or not p.searched:
            continue
        if p.choices:
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type is int:
            params[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
        elif p.type is float:
            params[p.name] = trial.suggest_float(p.name, max(p.low, 1e-12) if p.log else p.low, p.high, log=p.log)
    return params


def _pruning_callback(trial: optuna.Trial, metric: str):
    def callback(env) -> None:
        if env.iteration % REPORT_EVERY:
            return
        for _, name, value, _ in env.evaluation_result_list:
            if name == metric:
                trial.report(value, env.iteration)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at round {env.iteration}")

    return callback


def search(spec, prep, log) -> dict:
    """The best parameters found on the valid split within the spec's trial and time budget."""
    from core.train import fit  # train imports this module; the cycle closes at call time

    family = models.family(spec.model.family)
    fixed = models.resolve_params(family, spec.model.params)
    given = set(spec.model.params)
    metric = spec.search.metric
    maximize = metric != "log_loss"
    valid = prep.labels == "valid"
    X_valid, y_valid = prep.frame.loc[valid, prep.features], prep.y[valid]

    experiment = mlflow.active_run().info.experiment_id  # nested runs otherwise land in the default experiment

    def objective(trial: optuna.Trial) -> float:
        params = {**fixed, **space(trial, family, {k: fixed[k] for k in given})}
        with mlflow.start_run(nested=True, run_name=f"trial {trial.number}", experiment_id=experiment):
            mlflow.log_params(params)
            extra = {}
            if family.NAME == "gbdt":
                extra = {"callbacks": [_pruning_callback(trial, LGB_METRIC[metric])], "eval_metric": LGB_METRIC[metric]}
            try:
                _, model, _, _ = fit(spec, prep, params, log, calibrate=False, **extra)
            except optuna.TrialPruned:
                mlflow.set_tag("wb.trial", "pruned")
                raise
            value = metrics.scores(y_valid, model.predict_proba(X_valid)[:, 1])[metric]
            mlflow.log_metric(f"valid_{metric}", value)
            mlflow.set_tag("wb.trial", "complete")
        log(f"trial {trial.number}: valid {metric} {value:.4f}")
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=50),
    )
    study.optimize(objective, n_trials=spec.search.n_trials or None, timeout=spec.search.timeout_s)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = len(study.trials) - len(done)
    log(f"search: {len(done)} trials complete, {pruned} pruned; best valid {metric} {study.best_value:.4f}")
    mlflow.log_metric(f"search_best_valid_{metric}", study.best_value)
    return {**fixed, **study.best_params}

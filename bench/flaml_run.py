"""FLAML AutoML on a table bench.selection exported, run by .venv-bench's Python (FLAML is not in the runtime venv).

    .venv-bench/bin/python bench/flaml_run.py FOLDER BUDGET_S [--folds 5] [--seed 0]

FOLDER holds train.parquet (the train+valid rows) and test.parquet: the features and `y` (0/1). It imports nothing of
ours. Last stdout line, JSON: best_estimator, best_config, best_cv_roc_auc (FLAML's n-fold CV on the train+valid rows),
test_roc_auc (its final model, refitted on them), default_lgbm_cv_roc_auc (LGBMClassifier() on the same folds scheme),
fit_s, trials, versions.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from pathlib import Path


def default_lgbm_cv(X, y, folds: int, seed: int) -> float:
    """Mean ROC AUC of LightGBM at its defaults over stratified shuffled folds: the anchor the issue quotes."""
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(LGBMClassifier(verbose=-1, random_state=seed), X, y, cv=splitter, scoring="roc_auc").mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("budget_s", type=float)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pandas as pd
    from flaml import AutoML
    from sklearn.metrics import roc_auc_score

    train = pd.read_parquet(args.folder / "train.parquet")
    test = pd.read_parquet(args.folder / "test.parquet")
    y, y_test = train.pop("y").to_numpy(), test.pop("y").to_numpy()
    automl = AutoML()
    began = time.perf_counter()
    automl.fit(
        train,
        y,
        task="classification",
        metric="roc_auc",
        time_budget=args.budget_s,
        eval_method="cv",
        n_splits=args.folds,
        seed=args.seed,
        verbose=0,
        log_file_name="",
    )
    fit_s = time.perf_counter() - began
    score = automl.predict_proba(test)[:, 1]
    out = {
        "best_estimator": automl.best_estimator,
        "best_config": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in (automl.best_config or {}).items()},
        "best_cv_roc_auc": 1.0 - float(automl.best_loss),  # FLAML minimises 1 - roc_auc
        "test_roc_auc": float(roc_auc_score(y_test, score)),
        "default_lgbm_cv_roc_auc": default_lgbm_cv(train, y, args.folds, args.seed),
        "fit_s": round(fit_s, 1),
        "trials": len(automl.config_history),
        "rows": {"train_valid": len(train), "test": len(test)},
        "versions": {name: metadata.version(name) for name in ("flaml", "lightgbm", "xgboost", "scikit-learn", "pandas")},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

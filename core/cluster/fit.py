"""The dask engine's gbdt: LightGBM trained on a dask.distributed cluster, then an ordinary local run.

lightgbm.dask 4.7 has no early stopping (each worker would stop on its own share of the valid split; with
`early_stopping_rounds` training hangs), so the booster trains every round and is cut afterwards where LightGBM's
early stopping would have stopped it: the valid split's log loss after each round is summed on the workers (from
`pred_leaf` and the leaf values, one pass) and the same rule picks the best round. The cut booster goes into a
`models.gbdt.GBDTClassifier` with the categories the cluster trained on, so the logged model is the local engine's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core import data, settings
from core.cluster import frame as frames
from core.cluster.client import cluster_client, scheduler_address
from core.diagnostics.explain import explanation
from core.errors import JobError
from models import gbdt
from models.base import text_levels
from models.calibrated import calibrate_on_scores, calibrated_scores
from models.imbalance import PriorCorrection

# Parameters lightgbm.dask sets for its network and one-thread workers: wrong, or slow, for a model used alone.
NETWORK = ("machines", "num_machines", "local_listen_port", "time_out", "tree_learner", "num_threads", "listen_time_out")
CHUNK_ROWS = 20_000


def booster_input(part: pd.DataFrame, estimator) -> pd.DataFrame:
    """The booster's columns (f0, f1, …: categories over the trained levels, numbers as float64) and `__target`."""
    X = part[list(estimator.feature_names_in_)]
    floats = [c for c in X.columns if pd.api.types.is_float_dtype(X[c])]
    X = X.assign(**{c: X[c].replace([np.inf, -np.inf], np.nan) for c in floats})  # as the local engine's prepare
    return estimator._prepare(X).assign(**{frames.TARGET: part[frames.TARGET].to_numpy()})


def round_losses(part: pd.DataFrame, estimator, booster, leaf_values: np.ndarray) -> np.ndarray:
    """Summed log loss of the partition's rows after each boosting round; the last entry is the row count."""
    out = np.zeros(leaf_values.shape[0] + 1)
    if not len(part):
        return out.reshape(1, -1)
    X = estimator._prepare(part[list(estimator.feature_names_in_)])
    y = part[frames.TARGET].to_numpy(dtype=float)
    trees = np.arange(leaf_values.shape[0])
    for start in range(0, len(X), CHUNK_ROWS):
        leaves = booster.predict(X.iloc[start : start + CHUNK_ROWS], pred_leaf=True, num_iteration=-1, num_threads=1)
        raw = np.cumsum(leaf_values[trees, leaves], axis=1)  # the raw score after each round
        chunk_y = y[start : start + CHUNK_ROWS, None]
        out[:-1] += (np.logaddexp(0, raw) - chunk_y * raw).sum(axis=0)
    out[-1] = len(X)
    return out.reshape(1, -1)


def scored(part: pd.DataFrame, model, features: list[str], keep: list[str]) -> pd.DataFrame:
    """The kept columns, `y` and the model's raw score per row."""
    out = part[keep].copy()
    out["y"] = part[frames.TARGET].to_numpy(dtype=int)
    out["score_raw"] = model.predict_proba(part[features])[:, 1] if len(part) else np.array([], dtype=float)
    return out


def leaf_table(booster) -> np.ndarray:
    """Leaf values per tree (trees × most leaves), from the booster's dump."""
    trees = booster.dump_model(num_iteration=-1)["tree_info"]  # every round, not a best one
    values = np.zeros((len(trees), max(t["num_leaves"] for t in trees)))
    for i, tree in enumerate(trees):
        pending = [tree["tree_structure"]]
        while pending:
            node = pending.pop()
            if "leaf_index" in node:
                values[i, node["leaf_index"]] = node["leaf_value"]
            elif "left_child" in node:
                pending += [node["left_child"], node["right_child"]]
            else:  # a tree of one leaf
                values[i, 0] = node.get("leaf_value", 0.0)
    return values


def best_round(losses: np.ndarray, patience: int) -> int:
    """The round LightGBM's early stopping keeps (1-based): the best so far once `patience` rounds bring no gain."""
    best = 0
    for i in range(1, len(losses)):
        if losses[i] < losses[best]:
            best = i
        elif i - best >= patience:
            break
    return best + 1


def cut(local, rounds: int):
    """The local LGBMClassifier with its first `rounds` trees and without the cluster's network and thread settings."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=local.booster_.model_to_string(num_iteration=rounds))
    booster.params = {k: v for k, v in booster.params.items() if k not in NETWORK}
    for key in NETWORK:
        local._other_params.pop(key, None)
        local.__dict__.pop(key, None)
    local.set_params(n_jobs=-1)
    local._Booster = booster
    local._best_iteration = rounds
    return local


def _lgb_params(estimator, scale_pos_weight: float) -> dict:
    return {
        "n_estimators": estimator.n_estimators,
        "learning_rate": estimator.learning_rate,
        "num_leaves": estimator.num_leaves,
        "min_child_samples": estimator.min_child_samples,
        "subsample": estimator.subsample,
        "subsample_freq": 1 if estimator.subsample < 1 else 0,
        "colsample_bytree": estimator.colsample_bytree,
        "reg_lambda": estimator.reg_lambda,
        "cat_smooth": estimator.cat_smooth,
        "class_weight": estimator.class_weight,
        "scale_pos_weight": scale_pos_weight,
        "random_state": estimator.random_state,
        "verbose": -1,
    }


def _kept(part: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    """Every positive and about `rate` of the negatives, by a seeded hash of the row key."""
    keep = (part[frames.TARGET].to_numpy() == 1) | (frames.mix(part[frames.ROW].to_numpy(), seed + 1) < rate)
    return part[keep]


def _sampled(part: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    return part[frames.mix(part[frames.ROW].to_numpy(), seed + 2) < share]


def fit_dask(con, spec, params: dict, prep, log, scheduler: str | None = None) -> tuple:
    """Fits gbdt on a dask cluster. Returns (scores, predictions, importance, shap_frame, final, example, rows)."""
    import dask
    from lightgbm import DaskLGBMClassifier

    frames.check_spec(spec)
    frames.require_parquet(data.resolve(con, spec.dataset))
    segments = [c for c in prep.segments if c not in prep.features and c != spec.time_column]
    time = [spec.time_column] if spec.time_column else []
    wanted = [*prep.features, *time, *segments]
    with cluster_client(scheduler) as client:
        workers = len(client.scheduler_info().get("workers", {}))
        where = scheduler_address(scheduler) or "a local cluster"
        log(f"dask: {workers} workers on {where}", 0.15)
        keyed, total = frames.read_keyed(con, spec, wanted, prep.frame)
        labelled, rows, positives = frames.split_frame(con, spec, keyed, total)
        log(
            f"read {total:,} rows in {keyed.npartitions} partitions: {rows['train']:,} train, {rows['valid']:,} valid, {rows['test']:,} test",
            0.2,
        )
        if not rows["valid"] or not rows["test"] or positives["train"] in (0, rows["train"]):
            raise JobError("A split is empty or the train split has one class; use more data or other split fractions.")

        estimator = gbdt.build(params, spec)
        estimator._remember_columns(prep.frame[prep.features].head(5))
        estimator.booster_names_ = [f"f{i}" for i in range(len(estimator.feature_names_in_))]
        train_raw = labelled[labelled[frames.SPLIT] == 0]
        scale = 1.0
        if spec.imbalance.method == "scale_pos_weight":
            scale = (rows["train"] - positives["train"]) / max(positives["train"], 1)
        model_wrap = None
        if spec.imbalance.method == "undersample":
            train_raw = train_raw.map_partitions(_kept, spec.imbalance.undersample_rate, spec.seed, meta=train_raw._meta)
            model_wrap = spec.imbalance.undersample_rate
            log(f"undersampled negatives to {spec.imbalance.undersample_rate:.0%}")
        categorical = list(estimator.categorical_)
        found = frames.each_partition(train_raw, frames.distinct_values, categorical) if categorical else []
        uniques = {
            c: pd.unique(np.concatenate([np.asarray(f[c], dtype=object) for f in found] or [np.array([], dtype=object)]))
            for c in categorical
        }
        estimator.categories_ = {c: text_levels(pd.Series(uniques[c], dtype=object)) for c in categorical}
        train = train_raw.map_partitions(booster_input, estimator, meta=booster_input(train_raw._meta, estimator)).persist()
        X, y = train[estimator.booster_names_], train[frames.TARGET]
        log(f"fitting gbdt on the cluster ({estimator.n_estimators} rounds; cut at the best valid round afterwards)", 0.3)
        internal = dict(zip(estimator.feature_names_in_, estimator.booster_names_, strict=True))
        trained = DaskLGBMClassifier(client=client, **_lgb_params(estimator, scale)).fit(
            X, y, categorical_feature=[internal[c] for c in categorical] or "auto"
        )
        local = trained.to_local()
        del train, X, y

        valid = labelled[labelled[frames.SPLIT] == 1]
        values = leaf_table(local.booster_)
        shared = [dask.delayed(x, pure=True) for x in (estimator, local.booster_, values)]
        summed = np.sum(dask.compute(*[dask.delayed(round_losses)(p, *shared) for p in valid.to_delayed()]), axis=0)[0]
        rounds = best_round(summed[:-1] / summed[-1], estimator.early_stopping_rounds)
        estimator.model_ = cut(local, rounds)
        log(
            f"kept {rounds} of {values.shape[0]} rounds (early stopping on the valid log loss, {estimator.early_stopping_rounds} rounds)",
            0.5,
        )
        model = estimator
        if model_wrap is not None:
            model = PriorCorrection(estimator, model_wrap)
            model.classes_ = estimator.classes_

        keep = [frames.ROW, *time, *[c for c in prep.segments if c not in time]]
        meta = pd.DataFrame(
            {**{c: labelled._meta[c] for c in keep}, "y": pd.Series([], dtype=int), "score_raw": pd.Series([], dtype=float)}
        )
        share = min(1.0, 2 * settings.get("shap_rows") / max(rows["test"], 1))
        test_rows = labelled[labelled[frames.SPLIT] == 2]
        shipped = dask.delayed(model, pure=True)
        valid_scores, test_scores, sample = dask.compute(
            valid.map_partitions(scored, shipped, prep.features, [], meta=meta[["y", "score_raw"]]),
            test_rows.map_partitions(scored, shipped, prep.features, keep, meta=meta),
            test_rows.map_partitions(_sampled, share, spec.seed, meta=test_rows._meta)[[frames.ROW, *prep.features]],
        )
    if not test_scores[frames.ROW].is_monotonic_increasing:  # partitions come back in key order: no sorted copy then
        test_scores = test_scores.sort_values(frames.ROW)
    valid_raw, valid_y = valid_scores["score_raw"].to_numpy(), valid_scores["y"].to_numpy()
    test_raw = test_scores["score_raw"].to_numpy()
    final = model
    if spec.calibration != "none":
        final = calibrate_on_scores(model, valid_raw, valid_y, spec.calibration)
        log(f"calibrated ({spec.calibration}) on {len(valid_y):,} valid rows", 0.6)
    scores = {
        "valid": (valid_y, calibrated_scores(final, valid_raw)),
        "test": (test_scores["y"].to_numpy(), calibrated_scores(final, test_raw)),
    }
    predictions = pd.DataFrame(
        {"row": test_scores[frames.ROW].to_numpy(), "y": scores["test"][0], "score": scores["test"][1], "score_raw": test_raw}
    )
    if spec.time_column:
        predictions["time"] = pd.to_datetime(test_scores[spec.time_column]).to_numpy()
    for column in prep.segments:
        predictions[column] = test_scores[column].to_numpy()
    importance = pd.DataFrame({"feature": prep.features, "importance": estimator.feature_importances_})
    sample = sample.sort_values(frames.ROW).set_index(frames.ROW).rename_axis(None)[prep.features]
    shap_rows = settings.get("shap_rows")
    shap_frame = explanation(estimator, sample, shap_rows, spec.seed) if shap_rows else None
    return scores, predictions, importance, shap_frame, final, sample.head(5), rows

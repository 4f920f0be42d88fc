"""One training job = one MLflow run: load, validate, split, fit, calibrate, score, explain, log.

    python -m core.train --spec spec.yaml
    python -m core.train --data demo --target converted --time-column event_time --family gbdt

Progress goes to stderr; the last line of stdout is one JSON object
`{"run_id", "status", "metrics": {...test split...}, "rows": {"train", "valid", "test"}}`, plus
`"cv": {"<metric>_mean", "<metric>_std"}` under k-fold or time-series validation.
Exit 0 on success, 2 with a one-line message for bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import socket
import tempfile
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import mlflow

import models
from core import jobs, stream, tracking
from core.cli import crashed, describe, leave
from core.errors import DataError, JobError, SpecError, WorkbenchError, failed
from core.progress import Log
from core.spec import ENGINES, IMBALANCE, OVERSAMPLING, VALIDATIONS, VALUE_FAMILIES, TrainSpec, flatten
from core.training import naming
from core.training import run_record as record
from core.training.prepare import Prepared, connect_and_prepare
from core.training.search import search
from core.training.validate import first_error
from core.value.stage import fit_value_stage, stage_rows
from models.calibrated import calibrate_on_scores
from models.imbalance import PriorCorrection, undersample


def fit(spec: TrainSpec, prep: Prepared, params: dict, log: Log, calibrate: bool = True, rows=None, **fit_kwargs):
    """(estimator, model, final, valid_raw): the model adds the prior correction, the final one calibration.

    `rows`: (train, valid) row masks or positions, default the split's; a fold fits on its own rows this way.
    valid_raw is the model's score on the valid rows when calibrating computed it, else None.
    """
    family = models.family(spec.model.family)
    train, valid = rows if rows is not None else (prep.labels == "train", prep.labels == "valid")
    # Rows and columns in one take each: a column selection first would copy every row once more (~0.2 s at 1M rows).
    X_train, y_train = prep.frame.loc[train, prep.features], prep.y[train]
    X_valid = prep.frame.loc[valid, prep.features]
    estimator = family.build(params, spec)
    if spec.imbalance.method == "scale_pos_weight" and "scale_pos_weight" in estimator.get_params():
        estimator.set_params(scale_pos_weight=float((y_train == 0).sum() / max(y_train.sum(), 1)))
    model = estimator
    if spec.imbalance.method == "undersample":
        keep = undersample(y_train, spec.imbalance.undersample_rate, spec.seed)
        X_train, y_train = X_train[keep], y_train[keep]
        model = PriorCorrection(estimator, spec.imbalance.undersample_rate)
        log(f"undersampled negatives to {spec.imbalance.undersample_rate:.0%}: {len(y_train):,} training rows")
    if spec.imbalance.method in OVERSAMPLING:  # the training rows only: valid, test and CV blocks stay as observed
        from models.oversample import oversample

        X_train, y_train = oversample(X_train, y_train, spec.imbalance.method, spec.categorical, spec.seed)
        log(f"oversampled positives ({spec.imbalance.method}): {len(y_train):,} training rows")
    log(f"fitting {family.NAME} on {len(y_train):,} rows", 0.3)
    model.fit(X_train, y_train, eval_set=(X_valid, prep.y[valid]), **fit_kwargs)
    final, valid_raw = model, None
    if calibrate and spec.calibration != "none":
        valid_raw = model.predict_proba(X_valid)[:, 1]
        final = calibrate_on_scores(model, valid_raw, prep.y[valid], spec.calibration)
        log(f"calibrated ({spec.calibration}) on {len(X_valid):,} valid rows", 0.6)  # valid: a mask or positions (a fold's)
    return estimator, model, final, valid_raw


def train(
    spec: TrainSpec,
    run_id: str | None = None,
    log: Log | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    prepared: tuple | None = None,
) -> dict:
    """Runs the whole job inside one MLflow run and returns the result the CLI prints.

    `scheduler`: the dask scheduler of an `engine: dask` spec (default WB_DASK_SCHEDULER, else a local cluster).
    `prepared`: (con, Prepared) already read for this spec but its model (a leaderboard reads once for all families);
    local, non-streaming families only.
    """
    log = log or Log()
    family = models.family(spec.model.family)
    params = models.resolve_params(family, spec.model.params)
    streaming = getattr(family, "STREAMING", False)
    on_dask = spec.engine == "dask"  # the cluster reads every row; the checks, as for streaming, take a sample
    # Read and check the data while the tracking store opens (DuckDB and numpy work outside the GIL, and opening
    # the store costs ~1-2 s); an error in reading surfaces below, inside the run.
    # The files as the first read finds them: a file replaced while the job reads fails the run, not the model.
    unchanged = functools.partial(jobs.same_files, spec.dataset, jobs.dataset_files(spec.dataset))
    if prepared is not None and not (streaming or on_dask):
        reading = Future()
        reading.set_result(prepared)
    else:
        reader = ThreadPoolExecutor(1, thread_name_prefix="prepare")
        reading = reader.submit(connect_and_prepare, stream.sample_spec(spec) if streaming or on_dask else spec, log)
        reader.shutdown(wait=False)
    exp = tracking.experiment_id(spec.experiment)
    if resume:
        if not streaming:
            raise JobError(f"Run {run_id} is a {family.NAME} run; only hashed_sgd jobs save a checkpoint to resume from.")
        if tracking.client().get_run(run_id).info.status == "FINISHED":
            raise JobError(f"Run {run_id} already finished; there is nothing to resume.")
    run = mlflow.start_run(run_id=run_id, experiment_id=None if run_id else exp, run_name=None if run_id else naming.run_name(spec))
    with run, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mlflow.set_tags(
            {
                "wb.pid": str(os.getpid()),
                "wb.host": socket.gethostname(),
                "wb.family": family.NAME,
                "wb.dataset": spec.dataset,
                "wb.target": spec.target,
                "wb.engine": spec.engine,
                "wb.imbalance": spec.imbalance.method,  # pages say when scores come from an oversampled fit
            }
        )
        if spec.time_column:
            mlflow.set_tag("wb.time_column", spec.time_column)
        if resume:
            mlflow.set_tag("wb.error", "")  # the failure being resumed from is over
        mlflow.log_metric("progress", 0.0)
        mlflow.log_params(flatten(spec))
        (folder / "spec.yaml").write_text(spec.to_yaml())
        mlflow.log_artifact(str(folder / "spec.yaml"))
        try:
            con, prep = reading.result()
            mlflow.log_metric("progress", 0.1)  # prepare's own progress went nowhere: a run is active per thread
            jobs.pause("loaded")
            unchanged()
            record.log_frame(prep.checks, "validation.parquet", folder)
            problem = first_error(prep.checks)
            if problem:
                raise DataError(f"Validation failed: {problem}")
            value_rows = stage_rows(spec, prep) if spec.value.column else None  # a value stage that cannot fit fails now
            if spec.search.n_trials or spec.search.timeout_s:
                if streaming:
                    raise SpecError(f"{family.NAME} streams its data, so it has no search; set search.n_trials to 0.")
                log(
                    f"searching {family.NAME} parameters ({spec.search.n_trials or 'no'} trial cap, {spec.search.timeout_s or 'no'} s cap)",
                    0.2,
                )
                params = search(spec, prep, log)
            mlflow.log_params({f"param.{k}": v for k, v in params.items()})  # after the search: params are immutable
            if models.oversampling_problem(family, spec.imbalance.method):  # synthetic rows need every positive in memory
                raise SpecError(models.oversampling_problem(family, spec.imbalance.method))
            cv = {}
            if spec.validation.kind != "holdout" or spec.learning_curve:
                if streaming:
                    raise SpecError(f"{family.NAME} streams its data: it validates on the holdout split only, without learning curves.")
                cv = _log_selection(spec, prep, params, folder, log)
            if streaming:
                scores, predictions, importance, final, example, rows = stream.fit_streaming(con, spec, params, prep, log, folder, resume)
                record.log_fingerprint(record.fingerprint(con, spec, prep, sum(rows.values())), folder)
                result = record.log_results(scores, predictions, importance, None, final, example, rows, folder, log, prep.types, unchanged)
            elif on_dask:
                from core.cluster.fit import fit_dask  # dask and distributed load only for dask runs

                # The checks' sample (up to 200,000 rows) is not read again on the cluster: the fit takes only its
                # column types, so the driver need not hold it (nor the finished read holding it) through the fit.
                reading, prep = None, dataclasses.replace(prep, frame=prep.frame.head(5).copy())
                scores, predictions, importance, shap_frame, final, example, rows = fit_dask(con, spec, params, prep, log, scheduler)
                record.log_fingerprint(record.fingerprint(con, spec, prep, sum(rows.values())), folder)
                result = record.log_results(
                    scores, predictions, importance, shap_frame, final, example, rows, folder, log, prep.types, unchanged
                )
            else:
                record.log_fingerprint(record.fingerprint(con, spec, prep, len(prep.y)), folder)
                estimator, model, final, valid_raw = fit(spec, prep, params, log)
                stages = fit_value_stage(spec, prep, log, value_rows) if spec.value.column else None
                jobs.pause("fitted")
                result = record.evaluate_and_log(spec, prep, estimator, model, final, valid_raw, folder, log, unchanged, stages)
            if spec.validation.kind != "holdout":
                result["cv"] = {name.removeprefix("cv_"): value for name, value in cv.items()}
            return {"run_id": mlflow.active_run().info.run_id, **result}
        except WorkbenchError as err:
            mlflow.set_tag("wb.error", str(err))
            err.run_id = mlflow.active_run().info.run_id
            raise
        except Exception as err:  # a bug: the run says what, train.log holds the traceback, the analyst gets one line
            full = jobs.disk_full(err)
            if full is not None:
                mlflow.set_tag("wb.error", str(full))
                full.run_id = mlflow.active_run().info.run_id
                raise full from None
            mlflow.set_tag("wb.error", describe(err))
            log.lines.extend(traceback.format_exc().rstrip().splitlines())
            err.run_id, err.traceback_logged = mlflow.active_run().info.run_id, True
            raise
        finally:
            try:
                (folder / "train.log").write_text("\n".join(log.lines) + "\n")
                mlflow.log_artifact(str(folder / "train.log"))
            except OSError as err:  # a full disk: the run's error says so, and the job's own log keeps the lines
                if jobs.disk_full(err) is None:
                    raise


def _log_selection(spec: TrainSpec, prep: Prepared, params: dict, folder: Path, log: Log) -> dict:
    """Cross-validation (cv.parquet, cv_<metric>_mean/_std) and the learning curve, on the train+valid rows.

    Returns the CV summary ({} for holdout), which the CLI result carries as `cv`."""
    summary, fits = {}, ({} if spec.learning_curve else None)
    if spec.validation.kind != "holdout":
        from core.selection.cv import cross_validate, cv_summary

        folds = cross_validate(spec, prep, params, log, fits)
        record.log_frame(folds, "cv.parquet", folder)
        summary = cv_summary(folds)
        mlflow.log_metrics(summary)
    if spec.learning_curve:
        from core.selection.learning import learning_curve

        record.log_frame(learning_curve(spec, prep, params, log, full=fits), "learning_curve.parquet", folder)
    return summary


def key_values(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--param {item!r} must look like name=value.")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def flat(groups: list[list[str]] | None) -> list[str]:
    return [item for group in groups or [] for item in group]


def _spec_of_run(run_id: str) -> TrainSpec:
    tracking.client()
    try:
        return TrainSpec.from_file(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="spec.yaml"))
    except (mlflow.exceptions.MlflowException, OSError):
        raise SpecError(f"Cannot read the spec of run {run_id}; is the run id right?") from None


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that build a TrainSpec, shared by core.train and core.leaderboard (see spec_from_flags)."""
    parser.add_argument("--spec", help="a TrainSpec YAML file (flags given as well override it)")
    parser.add_argument("--data", help="dataset name or path relative to the data root")
    parser.add_argument("--target")
    parser.add_argument("--positive-value")
    parser.add_argument("--time-column")
    parser.add_argument("--features", nargs="+", action="append", metavar="COL")
    parser.add_argument("--exclude", nargs="+", action="append", metavar="COL")
    parser.add_argument("--param", nargs="+", action="append", metavar="K=V")
    parser.add_argument("--calibration", choices=("none", "sigmoid", "isotonic"))
    parser.add_argument("--split", choices=("temporal", "stratified", "random"))
    parser.add_argument("--imbalance", choices=IMBALANCE, help="e.g. smote: oversample the training rows (calibration then isotonic)")
    parser.add_argument("--filter", nargs="+", action="append", metavar="'COL OP VALUE'")
    parser.add_argument("--experiment")
    parser.add_argument("--validation", choices=VALIDATIONS, help="holdout (default), kfold (stratified) or timeseries CV")
    parser.add_argument("--folds", type=int, help="CV folds (default 5)")
    parser.add_argument("--no-gap", action="store_true", help="timeseries CV: no WB_CONVERSION_DAYS gap before each block")
    parser.add_argument("--learning-curve", action="store_true", help="also log metrics against training-set size (learning_curve.parquet)")
    parser.add_argument("--value-column", metavar="COL", help="revenue column: adds the value stage (expected value per row)")
    parser.add_argument(
        "--value-horizons",
        nargs="+",
        metavar="COL",
        help="cumulative value columns, shortest horizon first (e.g. revenue_d1 revenue_d7 revenue_d30)",
    )
    parser.add_argument("--value-family", choices=VALUE_FAMILIES, help="regressor of the value stage (default gbdt)")


def spec_from_flags(args: argparse.Namespace, raw: dict) -> dict:
    """`raw` (a spec as a dict, maybe empty) with the add_spec_flags flags given applied over it."""
    if not raw and not (args.data and args.target):
        raise SpecError("Give --spec FILE, or --data and --target.")
    flags = {"dataset": args.data, "target": args.target, "positive_value": args.positive_value, "time_column": args.time_column}
    raw.update({k: v for k, v in flags.items() if v is not None})
    if args.calibration:
        raw["calibration"] = args.calibration
    if args.experiment:
        raw["experiment"] = args.experiment
    if args.features or args.exclude:
        raw["features"] = {**raw.get("features", {}), **({"include": flat(args.features)} if args.features else {})}
        if args.exclude:
            raw["features"]["exclude"] = flat(args.exclude)
    if args.param:
        model = raw.setdefault("model", {})
        model["params"] = {**model.get("params", {}), **key_values(flat(args.param))}
    if args.split:
        raw.setdefault("split", {})["kind"] = args.split
    if args.imbalance:
        raw.setdefault("imbalance", {})["method"] = args.imbalance
    if args.filter:
        raw["filter"] = [*raw.get("filter", []), *flat(args.filter)]
    given = {"kind": args.validation, "folds": args.folds, "gap": False if args.no_gap else None}
    if any(v is not None for v in given.values()):
        raw["validation"] = {**raw.get("validation", {}), **{k: v for k, v in given.items() if v is not None}}
    if args.learning_curve:
        raw["learning_curve"] = True
    given = {"column": args.value_column, "horizons": args.value_horizons, "family": args.value_family}
    if any(v is not None for v in given.values()):
        raw["value"] = {**raw.get("value", {}), **{k: v for k, v in given.items() if v is not None}}
    return raw


def parse_args(argv: list[str] | None) -> tuple[TrainSpec, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m core.train", description="Train one model as one MLflow run.")
    add_spec_flags(parser)
    parser.add_argument("--family", choices=sorted(models.families()))
    parser.add_argument("--n-trials", type=int)
    parser.add_argument("--engine", choices=ENGINES, help="local (default) or dask: gbdt on a dask.distributed cluster")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="dask scheduler (default WB_DASK_SCHEDULER, else a local cluster)")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue a hashed_sgd run from its last checkpoint")
    parser.add_argument("--run-id", help=argparse.SUPPRESS)  # set by core.jobs, which makes the run first
    args = parser.parse_args(argv)
    if args.resume:
        args.run_id = args.resume
    raw = TrainSpec.from_file(args.spec).to_dict() if args.spec else {}
    if args.resume and not args.spec:
        raw = _spec_of_run(args.resume).to_dict()
    raw = spec_from_flags(args, raw)
    if args.family:
        raw.setdefault("model", {})["family"] = args.family
    if args.n_trials is not None:
        raw.setdefault("search", {})["n_trials"] = args.n_trials
    if args.engine:
        raw["engine"] = args.engine
    if args.scheduler and raw.get("engine", "local") != "dask":
        raise SpecError("--scheduler is for --engine dask (or a spec with engine: dask).")
    return TrainSpec.from_dict(raw), args


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep stderr for our progress lines
    run_id = None
    try:
        spec, args = parse_args(argv)
        run_id = args.run_id
        result = train(spec, run_id=run_id, resume=bool(args.resume), scheduler=args.scheduler)
    except WorkbenchError as err:
        run_id = getattr(err, "run_id", run_id)
        if run_id:
            tracking.fail(run_id, str(err).splitlines()[0])
        return failed(err, run_id=run_id, status="FAILED")
    except Exception as err:
        return crashed(err, "train", run_id=getattr(err, "run_id", run_id))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    leave(main())

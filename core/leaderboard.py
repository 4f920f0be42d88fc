"""Compare model families on the same splits or folds: one parent MLflow run, one ordinary training run per family.

    python -m core.leaderboard --data demo --target converted --time-column event_time \\
        --families gbdt linear forest [--validation kfold --folds 5] [--metric roc_auc]

Progress goes to stderr; the last line of stdout is one JSON object
`{"parent_run_id", "leaderboard": [{"family", "run_id", "<metric>_mean", "<metric>_std", "p_value_vs_best"}]}`,
best first. Exit 0 on success, 2 with a one-line message for bad input (unknown family, fewer than two, bad data).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import tempfile
from pathlib import Path

import models
from core import tracking
from core.cli import crashed, leave
from core.errors import DataError, SpecError, WorkbenchError, failed
from core.progress import Log
from core.selection import leaderboard as board
from core.selection.paired import RESAMPLES
from core.spec import TrainSpec
from core.train import add_spec_flags, spec_from_flags, train
from core.training import naming
from core.training.prepare import connect_and_prepare
from core.training.validate import first_error


class _FamilyLog(Log):
    """One family's progress: its run's lines and progress metric, and the parent's progress over all families."""

    def __init__(self, parent: Log, client, parent_id: str, family: str, done: int, count: int):
        super().__init__(parent.stream)
        self.began = parent.began
        self.parent, self.client, self.parent_id = parent, client, parent_id
        self.family, self.done, self.count = family, done, count

    def __call__(self, message: str, progress: float | None = None) -> None:
        super().__call__(f"{self.family}: {message}", progress)
        self.parent.lines.append(self.lines[-1])
        if progress is not None:
            self.client.log_metric(self.parent_id, "progress", (self.done + progress) / self.count)


def run(
    spec: TrainSpec, families: list[str], metric: str, parent_id: str | None = None, log: Log | None = None, resamples: int = RESAMPLES
) -> dict:
    """Trains each family as a child run of one parent run, ranks them and logs leaderboard.parquet on the parent.

    Returns {"parent_run_id", "leaderboard": [...]} (board.records, best first).
    """
    log = log or Log()
    if metric not in board.METRICS:
        raise SpecError(f"Unknown leaderboard metric {metric!r}; use one of: {', '.join(board.METRICS)}.")
    specs = board.family_specs(spec, families)
    client = tracking.client()
    exp = tracking.experiment_id(spec.experiment)
    if parent_id is None:
        parent_id = client.create_run(exp, run_name=f"leaderboard · {spec.dataset}").info.run_id
    tags = {
        "wb.kind": board.KIND,
        "wb.family": board.KIND,  # listed on the job board with its progress; reaped like any job
        "wb.families": ",".join(families),
        "wb.metric": metric,
        "wb.validation": spec.validation.kind,
        "wb.dataset": spec.dataset,
        "wb.target": spec.target,
        "wb.pid": str(os.getpid()),
        "wb.host": socket.gethostname(),
    }
    for key, value in tags.items():
        client.set_tag(parent_id, key, value)
    client.log_metric(parent_id, "progress", 0.0)
    try:
        shared = None
        if any(not getattr(models.family(f), "STREAMING", False) for f in families) and spec.engine == "local":
            log(f"reading {spec.dataset} once for {len(families)} families")
            shared = connect_and_prepare(spec, log)
            problem = first_error(shared[1].checks)
            if problem:
                raise DataError(f"Validation failed: {problem}")
        run_ids = {}
        for i, (family, family_spec) in enumerate(specs.items()):
            child = client.create_run(
                exp,
                run_name=naming.run_name(family_spec),
                tags={"mlflow.parentRunId": parent_id, "wb.family": family, "wb.dataset": spec.dataset, "wb.host": socket.gethostname()},
            )
            run_ids[family] = child.info.run_id
            log(f"training {family} ({i + 1} of {len(families)}) as run {child.info.run_id}")
            train(family_spec, run_id=child.info.run_id, log=_FamilyLog(log, client, parent_id, family, i, len(families)), prepared=shared)
        log(f"ranking by {metric} ({spec.validation.kind})")
        table = board.collect(run_ids, metric, spec.validation.kind, resamples, spec.seed)
        with tempfile.TemporaryDirectory() as tmp:
            table.to_parquet(Path(tmp) / "leaderboard.parquet", index=False)
            client.log_artifact(parent_id, str(Path(tmp) / "leaderboard.parquet"))
            (Path(tmp) / "spec.yaml").write_text(spec.to_yaml())
            client.log_artifact(parent_id, str(Path(tmp) / "spec.yaml"))
        best = table.iloc[0]
        client.set_tag(parent_id, "wb.best_run", best["run_id"])
        client.set_tag(parent_id, "wb.best_family", best["family"])
        log(f"best: {best['family']} ({metric} {best[f'{metric}_mean']:.4f})", None)
        client.log_metric(parent_id, "progress", 1.0)
    except Exception as err:
        err.parent_run_id = parent_id  # the CLI fails this run with the error
        _keep_log(client, parent_id, log)
        raise
    _keep_log(client, parent_id, log)
    client.set_terminated(parent_id, "FINISHED")
    return {"parent_run_id": parent_id, "leaderboard": board.records(table)}


def _keep_log(client, run_id: str, log: Log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "train.log").write_text("\n".join(log.lines) + "\n")
        client.log_artifact(run_id, str(Path(tmp) / "train.log"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as every user mistake: not argparse's usage block
        raise SpecError(f"{message} (see python -m core.leaderboard --help)")


def parse_args(argv: list[str] | None) -> tuple[TrainSpec, argparse.Namespace]:
    parser = _Parser(prog="python -m core.leaderboard", description="Train several model families on the same splits and rank them.")
    add_spec_flags(parser)  # core.train's spec flags; --param goes to every family that has the parameter
    parser.add_argument("--families", nargs="+", required=True, metavar="FAMILY", help=f"two or more of {', '.join(models.families())}")
    parser.add_argument("--metric", default="roc_auc", choices=board.METRICS)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--n-trials", type=int, help="search trials per family")
    budget.add_argument("--timeout-s", type=float, help="search seconds per family")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="paired bootstrap resamples (holdout)")
    parser.add_argument("--run-id", help=argparse.SUPPRESS)  # the parent run, made by core.jobs
    args = parser.parse_args(argv)
    raw = spec_from_flags(args, TrainSpec.from_file(args.spec).to_dict() if args.spec else {})
    if args.n_trials is not None or args.timeout_s is not None:
        raw["search"] = {**raw.get("search", {}), "n_trials": args.n_trials or 0, "timeout_s": args.timeout_s, "metric": args.metric}
    raw.setdefault("model", {})["family"] = args.families[0]  # each family gets its own copy (family_specs)
    if args.resamples < 1:
        raise SpecError(f"--resamples must be at least 1, not {args.resamples}.")
    return TrainSpec.from_dict(raw), args


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep stderr for our progress lines
    parent_id = None
    try:
        spec, args = parse_args(argv)
        parent_id = args.run_id
        board.family_specs(spec, args.families)  # bad families fail before any run is made
        result = run(spec, args.families, args.metric, parent_id, resamples=args.resamples)
    except WorkbenchError as err:
        parent_id = _parent_of(err, parent_id)
        if parent_id:
            tracking.fail(parent_id, str(err).splitlines()[0])
        return failed(err, parent_run_id=parent_id, status="FAILED")
    except Exception as err:
        return crashed(err, "leaderboard", run_id=_parent_of(err, parent_id))
    print(json.dumps(result))
    return 0


def _parent_of(err: BaseException, given: str | None) -> str | None:
    return getattr(err, "parent_run_id", given)


if __name__ == "__main__":
    leave(main())

"""Retrain & promote: the champion's spec on current data → register → compare → gate → promote if it passes.

    python -m core.retrain --model NAME [--data PATH]

The last stdout line is one JSON object: {"model", "version", "promoted", "gate": [{"rule", "value", "limit", "passed"}],
"compare": {"champion", "rows", "metrics": [...]}, "run_id", "threshold": {"cut", "policy", "policy_text", "note"} or null}.
Exit 0 whether or not the gate passed; exit 2 with one line for bad input (unknown model, no champion, unknown dataset).
The Registry page's button runs this as a job.

The new version's cut is re-derived on its own test split with the champion's threshold policy (core.diagnostics.threshold), so the
retrained champion scores with a cut chosen for it; a champion without a saved cut gives a version without one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os

from core import registry, runs, tracking, train
from core.cli import crashed, leave
from core.compare import run_spec, version_of
from core.diagnostics import threshold
from core.errors import DataError, RegistryError, WorkbenchError, failed
from core.spec import TrainSpec
from core.training.naming import run_name


def champion_spec(model: str, dataset: str | None = None) -> TrainSpec:
    """The spec the current champion was trained with, on `dataset` if given."""
    current = registry.champion(model)
    if current is None:
        raise RegistryError(f"Registered model {model!r} has no champion; promote a version first.")
    spec = run_spec(version_of(model, current).run_id)
    return dataclasses.replace(spec, dataset=dataset) if dataset else spec


def champion_policy(model: str) -> tuple[dict | None, dict | None]:
    """(policy, saved threshold) of the champion, from its version tags else its run's; (None, None) without a saved cut."""
    found = version_of(model, registry.CHAMPION)
    tags = found.tags or {}
    if runs.saved_threshold(tags) is None:
        tags = runs.run_tags(found.run_id)
    return runs.saved_policy(tags), runs.saved_threshold(tags)


def rederive_threshold(run_id: str, policy: dict, saved: dict) -> dict:
    """Cuts the run's test predictions with the policy and saves cut and policy on the run; returns {cut, policy, policy_text, note}.

    When the policy finds no cut there (e.g. every cut now loses money, or a value policy meets a run without a value
    stage), the champion's cut is kept and `note` says so.
    """
    why = "finds no cut on the new test split"
    try:
        cut = threshold.policy_cut(threshold.threshold_frame(runs.predictions(run_id)), policy)
    except DataError:  # max_value_profit on predictions without value_if_converted
        cut, why = math.nan, "needs value_if_converted, which the new run's predictions lack (no value stage)"
    note = ""
    if math.isnan(cut):
        cut = saved["threshold"]
        note = f"{threshold.policy_text(policy)} {why}: the champion's cut {cut:g} is kept"
    values = {k: policy["params"].get(k, saved[k]) for k in ("value_tp", "cost_fp", "cost_fn", "capacity")}
    runs.save_threshold(run_id, cut, **values, policy=policy, cost_per_action=policy["params"].get("cost_per_action"))
    return {"cut": cut, "policy": policy, "policy_text": threshold.policy_text(policy), "note": note}


def retrain(model: str, dataset: str | None = None, run_id: str | None = None, log: train.Log | None = None) -> dict:
    """Trains, registers, gates against the champion and promotes if the gate passes; returns the CLI result."""
    log = log or train.Log()
    spec = champion_spec(model, dataset)
    policy, saved = champion_policy(model)  # read first: a policy tag that cannot be read fails before training
    if run_id is None:  # made here so that the run is named a retrain from its start (core.jobs makes it for a job)
        run_id = tracking.client().create_run(tracking.experiment_id(spec.experiment), run_name=run_name(spec, retrain=True)).info.run_id
    try:
        trained = train.train(spec, run_id=run_id, log=log)
    except Exception as err:  # the CLI marks the run FAILED with the reason
        err.run_id = getattr(err, "run_id", run_id)
        raise
    cut = rederive_threshold(trained["run_id"], policy, saved) if policy is not None else None
    if cut is not None:
        log(f"threshold {cut['cut']:.6g} by the champion's policy, {cut['policy_text']}" + (f" ({cut['note']})" if cut["note"] else ""))
    version = registry.register(trained["run_id"], model)  # copies the cut and its policy onto the version
    log(f"registered {model} version {version}; comparing with the champion")
    comparison, verdict, against = registry.gate_version(model, version)
    promoted = bool(verdict["passed"].all())
    if promoted:
        registry.promote(model, version, "retrain & promote: the gate passed")
        log(f"gate passed: version {version} is the champion")
    else:
        failed = ", ".join(verdict.loc[~verdict["passed"], "rule"])
        log(f"gate failed ({failed}): version {against} stays the champion")
    client = tracking.client()
    for key, value in {"wb.retrain.model": model, "wb.retrain.version": str(version), "wb.retrain.promoted": str(promoted).lower()}.items():
        client.set_tag(trained["run_id"], key, value)
    return {
        "model": model,
        "version": version,
        "promoted": promoted,
        "gate": registry.records(verdict),
        "compare": {"champion": against, "rows": comparison.attrs.get("rows"), "metrics": registry.records(comparison)},
        "run_id": trained["run_id"],
        "threshold": cut,
    }


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(prog="python -m core.retrain", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, metavar="NAME")
    parser.add_argument("--data", metavar="PATH", help="dataset to train on (default: the champion's dataset)")
    parser.add_argument("--run-id", help=argparse.SUPPRESS)  # set by core.jobs, which makes the run first
    args = parser.parse_args(argv)
    try:
        result = retrain(args.model, args.data, args.run_id)
    except WorkbenchError as err:
        run_id = getattr(err, "run_id", args.run_id)
        if run_id:
            tracking.fail(run_id, str(err).splitlines()[0])
        return failed(err, model=args.model)
    except Exception as err:
        return crashed(err, "retrain", run_id=getattr(err, "run_id", args.run_id), model=args.model)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    leave(main())

"""The model registry: register runs, gate, promote and roll back the `champion` alias, read the audit history.

    python -m core.registry register --run RUN_ID --model NAME
    python -m core.registry compare --model NAME [--challenger V] [--champion V] [--data DATASET --filter 'col op value']
    python -m core.registry gate --model NAME [--version V] [--champion V]
    python -m core.registry promote --model NAME --version V --reason TEXT
    python -m core.registry rollback --model NAME --reason TEXT
    python -m core.registry history --model NAME

Each prints one JSON object as its last stdout line; bad input (unknown model or version, a failed gate, no previous
champion) exits 2 with one `error: ...` line on stderr. Aliases only (stages are deprecated): `champion` names the
version in service, `challenger` the newest version registered for comparison until it is promoted; compare and gate
default to them. Champion moves are audited by core.audit.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import math
import os
import re
import time

import mlflow
import pandas as pd
from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

from core import audit, runs, tracking
from core.cli import crashed, leave
from core.compare import COMPARE_COLUMNS, GATE_COLUMNS, compare, gate, paired_bootstrap, paired_scores, registered_model, version_of
from core.diagnostics.metrics import HEADLINE
from core.errors import GateFailed, RegistryError, WorkbenchError, failed
from core.sql import parse_filter

__all__ = ["COMPARE_COLUMNS", "GATE_COLUMNS", "compare", "gate", "paired_bootstrap", "paired_scores", "registered_model", "version_of"]
__all__ += ["challenger", "champion", "gate_version", "history", "main", "promote"]
__all__ += ["interrupted", "record_gate", "records", "register", "rollback", "versions"]

CHAMPION = "champion"
CHALLENGER = "challenger"  # the newest registered version, until it is promoted (then it is the champion)
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
PAUSE_ENV = "WB_REGISTRY_PAUSE"  # test hook: "intent:SECONDS" or "alias:SECONDS" sleeps after that step of a move


def _fit_tag(text: str, limit: int, note: str) -> str:
    """`text` if it fits in a tag value of `limit` characters, else its whole lines that fit followed by `note`."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(note) - 1]
    return head[: head.rfind("\n") + 1] + note


def _artifact_text(run_id: str, name: str) -> str | None:
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=tracking.client().tracking_uri)
    except (mlflow.exceptions.MlflowException, OSError):
        return None
    with open(path) as handle:
        return handle.read()


@tracking.guarded
def register(run_id: str, model: str) -> int:
    """Registers a finished run's model as a new version of `model` (made if missing), now its `challenger`; returns the number.

    Description: family, dataset, target, test ROC AUC. Tags: wb.spec (spec YAML), wb.fingerprint (file hash, rows,
    time range), wb.family, wb.dataset, wb.target, wb.run_name, wb.test_<metric> for the headline metrics, and the run's
    saved threshold tags (wb.threshold, wb.value_tp, wb.cost_fp, wb.cost_fn, wb.capacity, wb.threshold_policy,
    wb.cost_per_action) when it has them.
    """
    if not MODEL_NAME.match(model or ""):
        raise RegistryError(f"Model name {model!r} must be letters, digits, '.', '_' or '-' (it goes into models:/NAME URIs).")
    if not runs.RUN_ID.match(run_id or ""):
        raise RegistryError(f"{run_id!r} is not a run id (32 hexadecimal characters); copy it from the job list.")
    client = tracking.client()
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise RegistryError(f"No run {run_id} in the tracking store {client.tracking_uri}; check the run id.") from None
    if run.info.status != "FINISHED":
        reason = run.data.tags.get("wb.error") or "it has not finished"
        raise RegistryError(f"Run {run_id} is {run.info.status}, so it cannot be registered: {reason}")
    tags = {
        key: run.data.tags[key]
        for key in (*runs.THRESHOLD_TAGS.values(), runs.POLICY_TAG, runs.COST_PER_ACTION_TAG)
        if key in run.data.tags
    }
    for key in ("wb.family", "wb.dataset", "wb.target"):
        tags[key] = run.data.tags.get(key, "")
    tags["wb.run_name"] = run.data.tags.get("mlflow.runName", run_id)
    for name in HEADLINE:
        if f"test_{name}" in run.data.metrics:
            tags[f"wb.test_{name}"] = repr(run.data.metrics[f"test_{name}"])
    spec = _artifact_text(run_id, "spec.yaml")
    if spec is not None:
        tags["wb.spec"] = _fit_tag(
            spec, MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, f"# … cut to fit a tag: the whole spec is runs:/{run_id}/spec.yaml\n"
        )
    found = _artifact_text(run_id, "fingerprint.json")
    if found is not None:
        keep = ("dataset", "file_hash", "files", "rows", "time_min", "time_max")
        tags["wb.fingerprint"] = json.dumps({k: v for k, v in json.loads(found).items() if k in keep})
    roc = run.data.metrics.get("test_roc_auc", math.nan)
    description = (
        f"{tags['wb.family']} on {tags['wb.dataset']}, target {tags['wb.target']}; test ROC AUC {roc:.4f} "
        f"(run {run.data.tags.get('mlflow.runName', run_id)})"
    )
    try:
        version = mlflow.register_model(f"runs:/{run_id}/model", model, tags=tags)
    except mlflow.exceptions.MlflowException as err:
        raise RegistryError(f"Run {run_id} has no logged model to register: {str(err).splitlines()[0]}") from None
    client.update_model_version(model, version.version, description=description)
    with audit.lock():  # the newest registered version is the one to compare; ordered with champion moves
        client.set_registered_model_alias(model, CHALLENGER, str(version.version))
    return int(version.version)


def champion(model: str) -> int | None:
    """The version the `champion` alias points at, or None."""
    return _champion_of(registered_model(model))


def challenger(model: str) -> int | None:
    """The version the `challenger` alias points at, or None."""
    aliases = registered_model(model).aliases or {}
    return int(aliases[CHALLENGER]) if CHALLENGER in aliases else None


VERSION_COLUMNS = ["version", "aliases", "run_id", "created", "test_roc_auc", "test_ece", "threshold", "gate", "name"]


@tracking.guarded
def versions(model: str) -> pd.DataFrame:
    """The model's versions, newest first. Columns: version, aliases, run_id, created, test_roc_auc, test_ece, threshold, gate, name.

    `name` is the run's name (as Train and Diagnostics show it).
    """
    registered = registered_model(model)
    by_version: dict[str, list[str]] = {}
    for alias, number in (registered.aliases or {}).items():  # search_model_versions leaves aliases empty (MLflow #9783)
        by_version.setdefault(str(number), []).append(alias)
    rows = []
    for found in tracking.client().search_model_versions(f"name = '{registered.name}'"):  # a checked registry name
        tags = found.tags or {}
        rows.append(
            {
                "version": int(found.version),
                "aliases": ", ".join(sorted(by_version.get(str(found.version), []))),
                "run_id": found.run_id,
                "created": pd.to_datetime(found.creation_timestamp, unit="ms", utc=True),
                "test_roc_auc": float(tags.get("wb.test_roc_auc", "nan")),
                "test_ece": float(tags.get("wb.test_ece", "nan")),
                "threshold": float(tags["wb.threshold"]) if tags.get("wb.threshold") else math.nan,
                "gate": tags.get("wb.gate", "not gated"),
                "name": tags.get("wb.run_name") or _run_name(found.run_id),
            }
        )
    return pd.DataFrame(rows, columns=VERSION_COLUMNS).sort_values("version", ascending=False).reset_index(drop=True)


def _run_name(run_id: str) -> str:
    """The run's name, for versions registered before wb.run_name was tagged; the run id when the run is gone."""
    try:
        return tracking.client().get_run(run_id).data.tags.get("mlflow.runName", run_id)
    except mlflow.exceptions.MlflowException:
        return run_id


def _champion_of(registered) -> int | None:
    aliases = registered.aliases or {}
    return int(aliases[CHAMPION]) if CHAMPION in aliases else None


@tracking.guarded
def record_gate(model: str, version, table: pd.DataFrame, champion_version: int | None = None) -> bool:
    """Tags the version with the gate's verdict: wb.gate (passed/failed), wb.gate_detail (the table as JSON), wb.gate_champion."""
    found = version_of(model, version)
    passed = bool(table["passed"].all())
    client = tracking.client()
    client.set_model_version_tag(model, found.version, "wb.gate", "passed" if passed else "failed")
    client.set_model_version_tag(model, found.version, "wb.gate_detail", table.to_json(orient="records"))
    client.set_model_version_tag(model, found.version, "wb.gate_champion", "" if champion_version is None else str(champion_version))
    return passed


def gate_version(model: str, version, champion_version=None, data=None, filters=(), resamples: int = 200, seed: int = 0):
    """Compares the version with the champion (given, else the current one unless it is this version), gates and records.

    Returns (comparison, gate table, champion version compared against or None).
    """
    number = int(version_of(model, version).version)
    against = int(version_of(model, champion_version).version) if champion_version is not None else champion(model)
    if against == number:
        against = None
    comparison = compare(model, number, against, data, filters, resamples, seed)
    table = gate(comparison, has_champion=against is not None)
    record_gate(model, number, table, against)
    return comparison, table, against


def _pause(step: str) -> None:
    wanted, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted == step:
        time.sleep(float(seconds or 0))


def _move(model: str, action: str, reason: str, user: str | None, target=None) -> dict:
    """Moves the champion alias with an audit record, under the store lock; `target` None means the previous champion.

    Steps: intent record → alias → re-read the alias → final record (done, or lost if another move overwrote ours on
    a server) → delete the intent. A process killed between steps leaves records audit.reconcile reads correctly.
    A `challenger` alias on the new champion is removed: a version is never both.
    """
    if not (reason or "").strip():
        raise RegistryError(f"Give a reason for the {action}: it goes into the audit history.")
    user = user or _user()
    client = tracking.client()
    with audit.lock():
        registered = registered_model(model)
        current = _champion_of(registered)
        if target is None:
            target = audit.previous_champion(audit.reconcile(audit.records(registered.tags), current))
            if target is None:
                raise RegistryError(f"Model {model!r} has no previous champion to roll back to; promote a version instead.")
        found = version_of(model, target)
        target = int(found.version)
        if target == current:
            raise RegistryError(f"Version {target} is already the champion of {model!r}.")
        verdict = found.tags.get("wb.gate")
        if action == "promote" and verdict == "failed":
            raise GateFailed(
                f"Version {target} of {model!r} failed the promotion gate: {_failed_rules(found.tags)}; it cannot be promoted."
            )
        gate_passed = {"passed": True, "failed": False}.get(verdict)
        intent = audit.new_key()
        entry = audit.record(action, current, target, reason.strip(), user, gate_passed, "intent")
        client.set_registered_model_tag(model, intent, audit.encode(entry))
        _pause("intent")
        client.set_registered_model_alias(model, CHAMPION, str(target))
        _pause("alias")
        observed = champion(model)
        final = {**entry, "at": audit.now(), "state": "done" if observed == target else "lost"}
        client.set_registered_model_tag(model, audit.new_key(), audit.encode(final))
        client.delete_registered_model_tag(model, intent)
        if final["state"] == "done" and str((registered_model(model).aliases or {}).get(CHALLENGER)) == str(target):
            client.delete_registered_model_alias(model, CHALLENGER)
    if final["state"] == "lost":
        raise RegistryError(f"Another {action} moved the champion of {model!r} to version {observed} at the same moment; read the history.")
    return {k: final[k] for k in audit.HISTORY_COLUMNS}


def _failed_rules(tags: dict) -> str:
    try:
        rows = json.loads(tags.get("wb.gate_detail") or "[]")
    except ValueError:
        rows = []
    failed = [
        f"{r['rule']} ({'undefined' if r.get('value') is None else format(r['value'], '.4g')} against {r['limit']:.4g})"
        for r in rows
        if not r.get("passed")
    ]
    return "; ".join(failed) or "see wb.gate_detail"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


@tracking.guarded
def promote(model: str, version, reason: str, user: str | None = None) -> dict:
    """Makes the version the champion; GateFailed if its recorded gate failed (never gated: allowed, gate_passed None).

    Returns the audit row: at, action, from_version, to_version, reason, user, gate_passed.
    """
    return _move(model, "promote", reason, user, version)


@tracking.guarded
def rollback(model: str, reason: str, user: str | None = None) -> dict:
    """Moves the champion back to the one before it in the history; RegistryError when there is none."""
    return _move(model, "rollback", reason, user)


@tracking.guarded
def history(model: str) -> pd.DataFrame:
    """Promotions and rollbacks, oldest first. Columns: at, action, from_version, to_version, reason, user, gate_passed."""
    registered = registered_model(model)
    return audit.frame(audit.reconcile(audit.records(registered.tags), _champion_of(registered)))


@tracking.guarded
def interrupted(model: str) -> pd.DataFrame:
    """Moves whose process died before the alias moved: intent records that took no effect. Columns as history."""
    registered = registered_model(model)
    entries = audit.records(registered.tags)
    kept = {entry.get("key") for entry in audit.reconcile(entries, _champion_of(registered))}
    return audit.frame([entry for entry in entries if entry.get("state") == "intent" and entry["key"] not in kept])


def _plain(value):
    """JSON-ready: NaN and NA become null, numpy and pandas scalars plain Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def records(table: pd.DataFrame) -> list[dict]:
    """The table as JSON-ready dicts: NaN as None, numpy numbers as Python numbers."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.astype(object).to_dict(orient="records")]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.registry", description="Register, compare, gate, promote and roll back models.")
    commands = parser.add_subparsers(dest="command", required=True)
    register_cmd = commands.add_parser("register", help="register a finished run as a new version")
    register_cmd.add_argument("--run", required=True, metavar="RUN_ID")
    for name, helptext in (("compare", "challenger against champion on the same rows"), ("gate", "compare, gate and record the verdict")):
        cmd = commands.add_parser(name, help=helptext)
        if name == "compare":
            cmd.add_argument("--challenger", metavar="V", help="a version or alias (default: the challenger alias)")
        else:
            cmd.add_argument("--version", metavar="V", help="a version or alias (default: the challenger alias)")
        cmd.add_argument("--champion", metavar="V", help="a version or alias (default: the champion alias)")
        cmd.add_argument("--data", metavar="DATASET", help="score every row of this dataset instead of the challenger's test split")
        cmd.add_argument("--filter", nargs="+", action="append", metavar="'COL OP VALUE'")
        cmd.add_argument("--resamples", type=_positive, default=200)
        cmd.add_argument("--seed", type=int, default=0)
    promote_cmd = commands.add_parser("promote", help="make a version the champion")
    promote_cmd.add_argument("--version", required=True, metavar="V")
    rollback_cmd = commands.add_parser("rollback", help="go back to the previous champion")
    for cmd in (promote_cmd, rollback_cmd):
        cmd.add_argument("--reason", required=True)
        cmd.add_argument("--user")
    commands.add_parser("history", help="promotions and rollbacks, oldest first")
    for cmd in commands.choices.values():
        cmd.add_argument("--model", required=True, metavar="NAME")
    return parser


def _aliased(model: str, given: str | None, alias: str, flag: str) -> int:
    """The version given on the command line, else the one `alias` points at (a RegistryError naming the flag if none)."""
    if given is None and alias not in (registered_model(model).aliases or {}):
        raise RegistryError(f"Registered model {model!r} has no {alias} alias; pass {flag} V (a version number).")
    return int(version_of(model, alias if given is None else given).version)


def _run(args: argparse.Namespace) -> dict:
    filters = [parse_filter(item) for group in getattr(args, "filter", None) or [] for item in group]
    if args.command == "register":
        return {"model": args.model, "version": register(args.run, args.model), "run_id": args.run}
    if args.command == "compare":
        first = _aliased(args.model, args.challenger, CHALLENGER, "--challenger")
        against = _aliased(args.model, args.champion, CHAMPION, "--champion")
        table = compare(args.model, first, against, args.data, filters, args.resamples, args.seed)
        return {"model": args.model, "challenger": first, "champion": against, "rows": table.attrs["rows"], "compare": records(table)}
    if args.command == "gate":
        version = _aliased(args.model, args.version, CHALLENGER, "--version")
        table, verdict, against = gate_version(args.model, version, args.champion, args.data, filters, args.resamples, args.seed)
        passed = bool(verdict["passed"].all())
        return {
            "model": args.model,
            "version": version,
            "champion": against,
            "passed": passed,
            "gate": records(verdict),
            "compare": records(table),
        }
    if args.command in ("promote", "rollback"):
        row = (
            promote(args.model, args.version, args.reason, args.user)
            if args.command == "promote"
            else rollback(args.model, args.reason, args.user)
        )
        return {
            "model": args.model,
            "action": args.command,
            "version": row["to_version"],
            "from_version": row["from_version"],
            "gate_passed": row["gate_passed"],
            "at": row["at"],
        }
    table = history(args.model)  # its last row is the champion, read in the same call as the records
    return {"model": args.model, "champion": _plain(table["to_version"].iloc[-1]) if len(table) else None, "history": records(table)}


def main(argv: list[str] | None = None) -> int:
    """The CLI: one JSON object as the last stdout line; exit 2 with one `error:` line on stderr for bad input."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr to the one error line
    args = _parser().parse_args(argv)
    try:
        result = _run(args)
    except WorkbenchError as err:
        return failed(err, model=args.model)
    except Exception as err:
        return crashed(err, "registry", model=args.model)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    leave(main())

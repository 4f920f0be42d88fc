"""Training jobs as detached subprocesses, each one MLflow run: launch, list, cancel, reap.

Streamlit has no background jobs, so a job is `python -m core.train --run-id ID` in its own
session (process group): a page reload or an app restart does not end it. The run's `wb.pid`
and `wb.host` tags say where it runs; a RUNNING run whose process is gone is marked FAILED.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd

from core import catalog, settings, tracking
from core.errors import DataError, JobError, RegistryError, WorkbenchError
from core.spec import TrainSpec
from core.training.naming import run_name

JOB_COLUMNS = ["run_id", "name", "status", "progress", "started", "duration", "family", "roc_auc"]
ACTIVE = ("RUNNING", "SCHEDULED")
PAUSE_ENV = "WB_TRAIN_PAUSE"  # test hook: "loaded:SECONDS", "fitted:SECONDS" or "logging:SECONDS" sleeps at that step
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def job_dir(run_id: str) -> Path:
    """Where a job's spec and log live while it runs (the log is also logged to the run)."""
    return settings.artifact_root() / "jobs" / run_id


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our own child: collect it if it ended
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _runs() -> pd.DataFrame:
    tracking.client()
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`wb.family` != ''", order_by=["attributes.start_time DESC"])
    return runs if not runs.empty else pd.DataFrame(columns=["run_id", "status", "tags.wb.pid", "tags.wb.host"])


def reap(runs: pd.DataFrame | None = None) -> list[str]:
    """Marks RUNNING runs of this machine whose process is gone as FAILED; returns their ids."""
    runs = _runs() if runs is None else runs
    here = socket.gethostname()
    reaped = []
    for _, run in runs[runs["status"].isin(ACTIVE)].iterrows():
        pid, host = run.get("tags.wb.pid"), run.get("tags.wb.host")
        if host == here and isinstance(pid, str) and pid.isdigit() and not _alive(int(pid)):
            tracking.fail(run["run_id"], "The training process ended without finishing the run; see its log.")
            reaped.append(run["run_id"])
    return reaped


def _reaped_runs() -> pd.DataFrame:
    """The runs, read again only when the reaper changed one."""
    runs = _runs()
    return _runs() if reap(runs) else runs


def running() -> list[str]:
    """Ids of jobs still running after reaping: a leaderboard's family runs train inside its process, so they do not count."""
    runs = _reaped_runs()
    active = runs["status"].isin(ACTIVE)
    if "tags.mlflow.parentRunId" in runs:
        active &= runs["tags.mlflow.parentRunId"].fillna("") == ""
    return runs.loc[active, "run_id"].tolist()


def spec_sha(spec: TrainSpec) -> str:
    """The spec's fingerprint, tagged `wb.spec_sha` on each job: equal specs train the same model."""
    return hashlib.sha1(spec.to_yaml().encode()).hexdigest()


@tracking.guarded
def duplicate_of(spec: TrainSpec) -> str | None:
    """The id of a RUNNING or SCHEDULED job launched with this very spec, else None."""
    runs = _reaped_runs()
    if "tags.wb.spec_sha" not in runs:
        return None
    same = runs[runs["status"].isin(ACTIVE) & (runs["tags.wb.spec_sha"] == spec_sha(spec))]
    return None if same.empty else same["run_id"].iloc[0]


@tracking.guarded
def launch(spec: TrainSpec) -> str:
    """Starts a training job and returns its run id; refuses beyond WB_MAX_JOBS running jobs."""
    return _start(spec, ["core.train", "--spec", "{spec}"])


@tracking.guarded
def launch_retrain(model: str, dataset: str | None = None) -> str:
    """Starts Retrain & promote for a registered model as a job (`core.retrain`); returns its run id."""
    from core.retrain import champion_spec  # imports the training code: only when asked

    spec = champion_spec(model, dataset)
    args = ["core.retrain", "--model", model, *(["--data", dataset] if dataset else [])]
    return _start(spec, args, {"wb.retrain.model": model}, retrain=True)


@tracking.guarded
def launch_leaderboard(spec: TrainSpec, families: list[str], metric: str) -> str:
    """Starts a leaderboard of `families` on `spec` as a job (`core.leaderboard`); returns the parent run's id."""
    from core.selection import leaderboard as board  # the ranking code: only when asked

    board.family_specs(spec, families)  # bad families are refused here, not in the job's log
    args = ["core.leaderboard", "--spec", "{spec}", "--families", *families, "--metric", metric]
    tags = {
        "wb.kind": board.KIND,
        "wb.family": board.KIND,
        "wb.families": ",".join(families),
        "wb.metric": metric,
        "wb.validation": spec.validation.kind,
        "wb.spec_sha": hashlib.sha1(f"{spec_sha(spec)} {' '.join(families)} {metric}".encode()).hexdigest(),
    }
    return _start(spec, args, tags, name=f"leaderboard · {spec.dataset} · {', '.join(families)}")


MONITOR = "monitor"  # wb.kind and wb.family of a monitoring pass: listed on the job board, reaped like any job


@tracking.guarded
def launch_monitor(
    model: str,
    dataset: str,
    time_column: str,
    version: int | None = None,
    alias: str = "champion",
    since: str | None = None,
    window_days: int = 7,
    step_days: int = 1,
    filters: tuple[str, ...] = (),
) -> str:
    """Starts a monitoring pass of a registered model's version (or alias) on a dataset as a job (`core.monitor`) in the
    experiment monitor/<model>; returns its run id. An unknown model, version or dataset is refused here, not in the log."""
    found = _model_version(model, version, alias)
    catalog.resolve(dataset)
    args = [
        "core.monitor", "--model", model, *(["--version", str(version)] if version is not None else ["--alias", alias]),
        "--data", dataset, "--time-column", time_column, "--window-days", str(window_days), "--step-days", str(step_days),
        *(["--since", str(since)] if since else []), *[part for text in filters for part in ("--filter", text)],
    ]  # fmt: skip
    tags = {
        "wb.kind": MONITOR,
        "wb.family": MONITOR,
        "wb.model": model,
        "wb.version": str(found.version),
        "wb.model_run": found.run_id,
        "wb.dataset": dataset,
        "wb.time_column": time_column,
        "wb.since": str(since or ""),
        "wb.spec_sha": hashlib.sha1(" ".join(args).encode()).hexdigest(),
    }
    return _spawn(f"monitor/{model}", f"monitor · {model} v{found.version} · {dataset}", tags, args)


def _model_version(model: str, version: int | None, alias: str):
    """The registered version by number, else by alias; a RegistryError naming what is missing."""
    client = tracking.client()
    try:
        return client.get_model_version(model, str(version)) if version is not None else client.get_model_version_by_alias(model, alias)
    except mlflow.exceptions.MlflowException:
        wanted = f"version {version}" if version is not None else f"alias {alias!r}"
        raise RegistryError(f"Registered model {model!r} has no {wanted}; pick one on the Registry page.") from None


@contextmanager
def _launch_lock():
    """Held by one launcher at a time, in any thread or process on this store (the lock goes with the file)."""
    path = settings.artifact_root() / "jobs" / ".launch.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def _start(spec: TrainSpec, module_args: list[str], tags: dict | None = None, retrain: bool = False, name: str | None = None) -> str:
    tags = {"wb.family": spec.model.family, "wb.dataset": spec.dataset, "wb.spec_sha": spec_sha(spec), **(tags or {})}
    return _spawn(spec.experiment, name or run_name(spec, retrain), tags, module_args, spec.to_yaml())


def _spawn(experiment: str, name: str, tags: dict, module_args: list[str], spec_yaml: str | None = None) -> str:
    """Creates the job's run, then starts `python -m <module_args> --run-id RUN` in its own session; returns the run id."""
    limit = settings.get("max_jobs")
    client = tracking.client()
    with _launch_lock():  # count and create as one step: sessions launching at once must not all see room
        active = running()
        if len(active) >= limit:
            raise JobError(f"{len(active)} jobs are running (WB_MAX_JOBS={limit}); wait for one to finish or cancel one.")
        run = client.create_run(tracking.experiment_id(experiment), run_name=name, tags={**tags, "wb.host": socket.gethostname()})
    run_id = run.info.run_id
    folder = job_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    if spec_yaml is not None:
        (folder / "spec.yaml").write_text(spec_yaml)
    with open(folder / "job.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *[str(folder / "spec.yaml") if a == "{spec}" else a for a in module_args], "--run-id", run_id],
            cwd=settings.PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client.set_tag(run_id, "wb.pid", str(process.pid))
    return run_id


@tracking.guarded
def cancel(run_id: str, grace_s: float = 5.0) -> None:
    """Ends the job's process group (TERM, then KILL after `grace_s`) and marks the run KILLED."""
    client = tracking.client()
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise JobError(f"No run {run_id!r} in the tracking store.") from None
    if run.info.status not in ACTIVE:
        raise JobError(f"Run {run_id} is not running (it is {run.info.status}).")
    pid = run.data.tags.get("wb.pid", "")
    if pid.isdigit() and run.data.tags.get("wb.host") == socket.gethostname():
        _stop_group(int(pid), grace_s)
    client.set_tag(run_id, "wb.error", "Cancelled.")
    client.set_terminated(run_id, "KILLED")


def _stop_group(pid: int, grace_s: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _alive(pid)


@tracking.guarded
def list_jobs() -> pd.DataFrame:
    """Every training run, newest first. Columns: run_id, name, status, progress, started, duration, family, roc_auc."""
    runs = _reaped_runs()
    if runs.empty:
        return pd.DataFrame(columns=JOB_COLUMNS)
    started = pd.to_datetime(runs["start_time"], utc=True)
    ended = pd.to_datetime(runs["end_time"], utc=True).fillna(pd.Timestamp.now(tz="UTC"))
    return pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "name": runs.get("tags.mlflow.runName"),
            "status": runs["status"],
            "progress": runs.get("metrics.progress", pd.Series(0.0, index=runs.index)).fillna(0.0),
            "started": started,
            "duration": (ended - started).dt.total_seconds(),
            "family": runs.get("tags.wb.family"),
            "roc_auc": runs.get("metrics.roc_auc", pd.Series(float("nan"), index=runs.index)),
        }
    ).reset_index(drop=True)


def log_tail(run_id: str, lines: int = 40) -> str:
    """The last lines of a job's log: its live log when launched here, else the run's train.log."""
    path = job_dir(run_id) / "job.log"
    if not path.exists():
        try:
            tracking.client()
            path = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="train.log"))
        except (mlflow.exceptions.MlflowException, OSError):
            return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def pause(step: str) -> None:
    """Sleeps when WB_TRAIN_PAUSE names this step of a job: tests kill it, fill its disk or change its data there."""
    wanted, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted == step:
        time.sleep(float(seconds or 0))


def dataset_files(dataset: str) -> str | None:
    """The dataset's file fingerprint (names, sizes, times) now; None when it does not resolve (reading says why)."""
    try:
        return catalog.resolve(dataset).fingerprint
    except WorkbenchError:
        return None


def same_files(dataset: str, before: str | None) -> None:
    """A DataError when the dataset's files changed since `before`: a model must not learn from two versions."""
    if before is not None and dataset_files(dataset) != before:
        raise DataError(f"The dataset {dataset!r} changed while the job read it; launch again.")


def disk_full(err: BaseException) -> JobError | None:
    """A full disk (or a file-size limit) met writing a run's files, as a JobError saying what to do; else None."""
    if not (isinstance(err, OSError) and err.errno in DISK_FULL):
        return None
    places = f"{settings.artifact_root()} (artifacts) and {tempfile.gettempdir()} (staging)"
    return JobError(f"Writing the run's files failed: {os.strerror(err.errno)}; free space under {places}, then launch again.")

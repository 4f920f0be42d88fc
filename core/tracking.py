"""The MLflow tracking store: where it is, experiments with artifacts beside the store."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import urllib.request
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from core import settings
from core.errors import RegistryError, WorkbenchError

# MLflow draws a progress bar on stderr for every artifact download (it reads this at each download); our CLIs print
# their own progress, and a scheduler's log should not fill with bars. An explicit setting still wins.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# MLflow logs each store error with its traceback before raising it; `guarded` raises it as one line instead.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

LOCK_WAIT_S = 3.0  # how long a page waits for a store another process holds locked before saying so
# What sqlite says when the store cannot be read or written; MLflow passes it on inside an MlflowException.
STORE_TROUBLE = {
    "database is locked": "is locked by another process; wait for it to finish (or stop it: fuser {path}) and try again",
    "readonly database": "is read-only here; make the file and its folder writable, or point MLFLOW_TRACKING_URI at a writable store",
    "unable to open database file": "cannot be opened; make it and its folder readable and writable, or point MLFLOW_TRACKING_URI elsewhere",
    "database or disk is full": "is on a full disk; free space, then try again",
    "disk i/o error": "cannot be read from its disk (I/O error); check the disk, or point MLFLOW_TRACKING_URI elsewhere",
}
TAG = "wb."  # our run tags: wb.pid, wb.family, wb.dataset, wb.error, wb.time_column


def client() -> MlflowClient:
    """The tracking client; a tracking server that does not answer is a RegistryError at once, not minutes of retries."""
    uri = settings.get("tracking_uri")
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    elif uri.startswith("sqlite:///"):
        _check_sqlite(Path(uri.removeprefix("sqlite:///")))
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def _check_server(uri: str) -> None:
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3) as reply:
            if reply.status == 200:
                return
    except OSError:
        pass
    raise RegistryError(f"Cannot reach the MLflow tracking server at {uri}; start it or fix MLFLOW_TRACKING_URI.")


def _check_sqlite(path: Path) -> None:
    """A RegistryError at once when another process holds the store locked (MLflow would wait 20 s, then raise)."""
    if not path.is_file():
        return  # MLflow makes a new store
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT_S)) as con:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as err:
        raise store_problem(err, path) or RegistryError(f"The MLflow store {path} cannot be read: {err}.") from None


def store_problem(err: BaseException, path: Path | str | None = None) -> RegistryError | None:
    """The store's own trouble (locked, read-only, unopenable, full) in `err` as a one-line RegistryError; else None."""
    text = str(err).lower()
    for cause, advice in STORE_TROUBLE.items():
        if cause in text:
            where = path or settings.get("tracking_uri").removeprefix("sqlite:///")
            return RegistryError(f"The MLflow store {where} {advice.format(path=where)}.")
    return None


def guarded(fn):
    """`fn` with the store's own trouble raised as one clear RegistryError, so pages and CLIs say it in one line."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            problem = None if isinstance(err, WorkbenchError) else store_problem(err)
            if problem is None:
                raise
            raise problem from None

    return call


def experiment_id(name: str) -> str:
    """The experiment's id, made on first use with its artifacts under the artifact root."""
    tracking = client()
    found = tracking.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = settings.get("tracking_uri")
    # A local store keeps artifacts beside it; a server keeps its own artifact store, readable by the whole team.
    location = (settings.artifact_root() / name).as_uri() if not uri.startswith(("http://", "https://")) else None
    try:
        return tracking.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException as err:
        found = tracking.get_experiment_by_name(name)  # made meanwhile by another job
        if found is None:
            raise (store_problem(err) or err) from None
        return found.experiment_id


def fail(run_id: str, message: str) -> None:
    """Marks a run FAILED with the reason, unless it already ended."""
    tracking = client()
    if tracking.get_run(run_id).info.status in ("RUNNING", "SCHEDULED"):
        tracking.set_tag(run_id, "wb.error", message)
        tracking.set_terminated(run_id, "FAILED")

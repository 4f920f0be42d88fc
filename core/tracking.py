"""The MLflow tracking store: where it is, experiments with artifacts beside the store."""

from __future__ import annotations

import os
import urllib.request

import mlflow
from mlflow.tracking import MlflowClient

from core import settings
from core.errors import RegistryError

# MLflow draws a progress bar on stderr for every artifact download (it reads this at each download); our CLIs print
# their own progress, and a scheduler's log should not fill with bars. An explicit setting still wins.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

TAG = "wb."  # our run tags: wb.pid, wb.family, wb.dataset, wb.error, wb.time_column


def client() -> MlflowClient:
    """The tracking client; a tracking server that does not answer is a RegistryError at once, not minutes of retries."""
    uri = settings.get("tracking_uri")
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
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
    except mlflow.exceptions.MlflowException:
        return tracking.get_experiment_by_name(name).experiment_id  # made meanwhile by another job


def fail(run_id: str, message: str) -> None:
    """Marks a run FAILED with the reason, unless it already ended."""
    tracking = client()
    if tracking.get_run(run_id).info.status in ("RUNNING", "SCHEDULED"):
        tracking.set_tag(run_id, "wb.error", message)
        tracking.set_terminated(run_id, "FAILED")

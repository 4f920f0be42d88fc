"""Faults injected for real: jobs killed with SIGKILL, a full disk, a dataset replaced mid-job, a locked store."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest

from core import demo, jobs, registry, runs, tracking
from core.errors import RegistryError
from core.settings import PROJECT
from core.spec import TrainSpec

SEED = 11  # the kill delays are seeded: a failure names a point that can be replayed
# Progress each pause step follows (core.train): read → 0.1, calibrated → 0.6, explained → 0.85.
# Root writes read-only files; without CAP_DAC_OVERRIDE it obeys permissions like any user.
AS_PLAIN_USER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-dac_override,-dac_read_search", "--"]
AS_PLAIN_USER = AS_PLAIN_USER if os.geteuid() == 0 else []
REACHED = {"loaded": 0.1, "fitted": 0.6, "logging": 0.85}


@pytest.fixture(scope="module")
def fault_root(tmp_path_factory) -> Path:
    """A data root with one small single-file dataset per test that changes it."""
    root = tmp_path_factory.mktemp("fault_root")
    frame = demo.generate(4_000, 14, seed=5).to_pandas()
    for name in ("events", "changing", "changing_late"):
        frame.to_parquet(root / f"{name}.parquet", index=False)
    return root


@pytest.fixture
def fault_env(fault_root, store, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(fault_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "50")
    monkeypatch.setenv("WB_MAX_JOBS", "8")
    return fault_root


def spec(dataset: str = "events.parquet") -> TrainSpec:
    return TrainSpec.from_dict(
        {
            "dataset": dataset,
            "target": "converted",
            "time_column": "event_time",
            "features": {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]},
            "model": {"family": "gbdt", "params": {"n_estimators": 10, "num_leaves": 7}},
            "calibration": "sigmoid",
            "experiment": "faults",
        }
    )


def launch(monkeypatch, pause: str | None, dataset: str = "events.parquet") -> str:
    if pause:
        monkeypatch.setenv(jobs.PAUSE_ENV, pause)
    else:
        monkeypatch.delenv(jobs.PAUSE_ENV, raising=False)
    return jobs.launch(spec(dataset))


def wait_progress(run_id: str, at_least: float, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while mlflow.get_run(run_id).data.metrics.get("progress", 0.0) < at_least:
        assert mlflow.get_run(run_id).info.status == "RUNNING", jobs.log_tail(run_id)
        assert time.monotonic() < deadline, jobs.log_tail(run_id)
        time.sleep(0.1)


def wait_ended(run_id: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while (run := mlflow.get_run(run_id)).info.status in jobs.ACTIVE:
        jobs.reap()
        assert time.monotonic() < deadline, jobs.log_tail(run_id)
        time.sleep(0.2)
    return run


def kill_group(run_id: str) -> None:
    pid = int(mlflow.get_run(run_id).data.tags["wb.pid"])
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while jobs._alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def assert_never_read_as_complete(run_id: str) -> None:
    """Not listed by Diagnostics or Registry, its predictions refused, nothing registered from it."""
    assert run_id not in runs.finished()["run_id"].tolist()
    with pytest.raises(RegistryError, match=f"Run {run_id} is FAILED"):
        runs.predictions(run_id)
    with pytest.raises(RegistryError, match="cannot be registered"):
        registry.register(run_id, "faults-never")
    assert tracking.client().search_model_versions(f"run_id = '{run_id}'") == []


def artifacts(run_id: str) -> Path:
    return Path(urlparse(mlflow.get_run(run_id).info.artifact_uri).path)


@pytest.mark.slow
def test_jobs_killed_at_random_points_are_failed_by_the_reaper_and_never_read(fault_env, monkeypatch):
    chance = random.Random(SEED)
    # Four jobs at once: one killed at a random moment while it starts and reads, three paused at a step.
    early = launch(monkeypatch, None)
    paused = {step: launch(monkeypatch, f"{step}:60") for step in REACHED}
    time.sleep(chance.uniform(0.5, 2.5))
    kill_group(early)
    for step, run_id in paused.items():
        wait_progress(run_id, REACHED[step])
        time.sleep(chance.uniform(0.0, 0.5))  # somewhere inside the pause
        kill_group(run_id)
    killed = [early, *paused.values()]
    assert set(killed) <= set(jobs.reap())  # list_jobs reaps too; one pass marks them all
    for run_id in killed:
        run = mlflow.get_run(run_id)
        assert run.info.status == "FAILED"
        assert run.data.tags["wb.error"] == "The training process ended without finishing the run; see its log."
        assert_never_read_as_complete(run_id)
    # Killed while logging the model, the run had written its predictions: a partial artifact nobody reads.
    assert (artifacts(paused["logging"]) / "predictions.parquet").exists()
    assert not (artifacts(paused["logging"]) / "model").exists()
    assert jobs.list_jobs().set_index("run_id").loc[killed, "status"].eq("FAILED").all()


@pytest.mark.slow
def test_a_full_disk_fails_the_run_with_the_reason(fault_env, monkeypatch, tmp_path):
    # The kernel's own ENOSPC: in the folder where the job stages its files, predictions.parquet becomes a link to
    # /dev/full, whose every write fails. (MLflow itself refuses links in the artifact folder, and no test mounts disks.)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    run_id = launch(monkeypatch, "fitted:3")
    wait_progress(run_id, REACHED["fitted"])
    (staging,) = {path.parent for path in tmp_path.glob("*/spec.yaml")}
    (staging / "predictions.parquet").symlink_to("/dev/full")
    run = wait_ended(run_id, timeout=60)
    assert run.info.status == "FAILED", jobs.log_tail(run_id)
    error = run.data.tags["wb.error"]
    assert error.startswith("Writing the run's files failed: No space left on device; free space under "), error
    assert error.endswith(f"and {tmp_path} (staging), then launch again."), error
    assert_never_read_as_complete(run_id)
    assert f"error: {error}" in jobs.log_tail(run_id)  # the job's one error line, no traceback
    assert "Traceback" not in jobs.log_tail(run_id, 500)


@pytest.mark.slow
def test_a_dataset_replaced_while_a_job_reads_it_fails_the_run_not_the_model(fault_env, monkeypatch):
    # Replaced right after the read (checked there) and right before the model is logged (checked again).
    runs_by_step = {
        "loaded": launch(monkeypatch, "loaded:3", "changing.parquet"),
        "logging": launch(monkeypatch, "logging:3", "changing_late.parquet"),
    }
    for step, run_id in runs_by_step.items():
        wait_progress(run_id, REACHED[step])
        path = fault_env / f"{mlflow.get_run(run_id).data.tags['wb.dataset']}"
        fresh = path.with_suffix(".new")
        demo.generate(3_000, 14, seed=9).to_pandas().to_parquet(fresh, index=False)
        fresh.replace(path)  # how an export job publishes a new version: an atomic rename over the old file
    for step, run_id in runs_by_step.items():
        run = wait_ended(run_id)
        assert run.info.status == "FAILED", (step, jobs.log_tail(run_id))
        name = run.data.tags["wb.dataset"]
        assert run.data.tags["wb.error"] == f"The dataset {name!r} changed while the job read it; launch again."
        assert_never_read_as_complete(run_id)


@pytest.fixture
def locked_store(tmp_path, monkeypatch):
    """A real store that another process holds in an exclusive transaction (as a stuck writer or a backup would)."""
    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setattr(tracking, "LOCK_WAIT_S", 0.5)
    tracking.experiment_id("workbench")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "con = sqlite3.connect(sys.argv[1], isolation_level=None); con.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(120)",
         str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    yield db
    holder.kill()
    holder.wait()


def test_a_locked_store_is_one_clear_error_at_once_for_every_reader_and_writer(locked_store, demo_root, monkeypatch, capsys):
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    expected = f"The MLflow store {locked_store} is locked by another process; wait for it to finish (or stop it: fuser {locked_store}) and try again."
    began = time.monotonic()
    for call in (jobs.list_jobs, runs.finished, runs.registered_versions, lambda: registry.history("m"), lambda: jobs.launch(spec("demo"))):
        with pytest.raises(RegistryError) as caught:
            call()
        assert str(caught.value) == expected
    assert time.monotonic() - began < 15  # not MLflow's 20 s wait per call
    # The CLIs: exit 2 with that one line.
    assert registry.main(["history", "--model", "m"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {expected}"
    # The store is not needed to explore data.
    from core import data

    assert "converted" in data.columns(data.connect(), "demo")


def test_store_trouble_found_in_an_mlflow_error_is_one_line_saying_what_to_do():
    problem = tracking.store_problem(
        mlflow.exceptions.MlflowException("(sqlite3.OperationalError) attempt to write a readonly database\n[SQL: …]"), "/s/m.db"
    )
    assert str(problem) == (
        "The MLflow store /s/m.db is read-only here; make the file and its folder writable, or point MLFLOW_TRACKING_URI at a writable store."
    )
    assert tracking.store_problem(ValueError("a bug")) is None


@pytest.mark.slow
def test_a_read_only_store_exits_2_with_one_line_when_written():
    """A store this user may read but not write; as root, the job runs without the capability to override permissions."""
    folder = Path(tempfile.mkdtemp(prefix="wb-ro-"))
    db = folder / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}", "WB_DATA_ROOT": str(folder), "HOME": "/tmp"}
    made = subprocess.run([sys.executable, "-c", "from core import tracking; tracking.experiment_id('workbench')"], env=env, cwd=PROJECT)
    assert made.returncode == 0
    os.chmod(db, 0o444)
    os.chmod(folder, 0o555)
    try:
        done = subprocess.run(
            [*AS_PLAIN_USER, sys.executable, "-m", "core.train", "--data", "demo", "--target", "converted"],
            env=env, cwd=PROJECT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: The MLflow store {db} is read-only here; make the file and its folder writable, or point MLFLOW_TRACKING_URI at a writable store."
    ]

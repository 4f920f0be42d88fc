"""How the command-line entry points end: exit handlers, and one line for an error nobody expected."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import jobs
from core.settings import PROJECT
from core.spec import TrainSpec


def test_leave_keeps_the_code_the_output_and_the_exit_handlers(tmp_path):
    marker = tmp_path / "handler-ran"
    script = (
        "import atexit, pathlib, sys\n"
        "from core.cli import leave\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
        "print('{\"status\": \"FINISHED\"}', end='')\n"  # no newline: only a flush writes it
        "print('progress', file=sys.stderr, end='')\n"
        "leave(3)\n"
        "print('never')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == '{"status": "FINISHED"}'
    assert done.stderr == "progress"
    assert marker.read_text() == "yes"


INJECTED = "RuntimeError: injected fault: the fit crashed"
# Every crash a user can cause is a clear error by now, so the fault is injected: a real training subprocess whose
# interpreter start-up (sitecustomize) makes gbdt's fit raise what no code of ours expects.
CRASHING_FIT = """
import models.gbdt


def _crash(self, *args, **kwargs):
    raise RuntimeError("injected fault: the fit crashed")


models.gbdt.GBDTClassifier.fit = _crash
"""


@pytest.fixture
def crashing_fit(tmp_path, monkeypatch):
    """PYTHONPATH for subprocesses whose gbdt fit raises RuntimeError (this process is untouched)."""
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(CRASHING_FIT)
    path = f"{folder}{os.pathsep}{PROJECT}"
    monkeypatch.setenv("PYTHONPATH", path)
    return path


@pytest.fixture
def list_root(tmp_path):
    """A data root holding `lists.parquet` (a number, a LIST column and a 0/1 target)."""
    root = tmp_path / "root"
    root.mkdir()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "tags": [list(rng.choice(["a", "b"], 2)) for _ in range(200)]})
    frame.assign(y=rng.integers(0, 2, 200)).to_parquet(root / "lists.parquet", index=False)
    return root


def test_an_unexpected_error_in_a_training_job_fails_its_run_with_class_and_message(list_root, store, monkeypatch, crashing_fit):
    monkeypatch.setenv("WB_DATA_ROOT", str(list_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run_id = jobs.launch(TrainSpec.from_dict({"dataset": "lists.parquet", "target": "y", "split": {"kind": "random"}}))
    deadline = time.monotonic() + 120
    while mlflow.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    run = mlflow.get_run(run_id)
    assert (run.info.status, run.data.tags["wb.error"]) == ("FAILED", INJECTED)
    log = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="train.log")).read_text()
    assert "Traceback (most recent call last)" in log and log.strip().splitlines()[-1] == INJECTED
    job_log = (jobs.job_dir(run_id) / "job.log").read_text()  # what the process printed, stdout and stderr
    assert "Traceback" not in job_log
    assert f"error: {INJECTED} (unexpected; traceback in run {run_id}'s train.log)" in job_log.splitlines()
    assert json.loads(job_log.strip().splitlines()[-1]) == {"run_id": run_id, "status": "FAILED", "error": INJECTED}

    done = subprocess.run(
        [sys.executable, "-m", "core.train", "--data", "lists.parquet", "--target", "y", "--split", "random"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {INJECTED} (unexpected; traceback in run ")
    assert json.loads(done.stdout.strip().splitlines()[-1])["error"] == INJECTED


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        (
            ["core.score", "--model", "models:/m@champion", "--data", "lists.parquet", "--out", "scores.parquet"],
            {"model": "models:/m@champion"},
        ),
        (["core.report", "--run", "0123456789abcdef0123456789abcdef", "--out", "report"], {"run": "0123456789abcdef0123456789abcdef"}),
        (["core.registry", "history", "--model", "m"], {"model": "m"}),
        (["core.retrain", "--model", "m"], {"model": "m"}),
    ],
)
def test_an_unexpected_error_in_a_cli_is_one_line_exit_1_and_a_traceback_file(list_root, tmp_path, args, fields):
    (tmp_path / "not-a-folder").write_text("")  # a tracking store under a file: opening it fails in MLflow's own code
    env = {
        **os.environ,
        "WB_DATA_ROOT": str(list_root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/not-a-folder/mlflow.db",
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(PROJECT),
    }
    done = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    error = f"FileExistsError: [Errno 17] File exists: '{tmp_path / 'not-a-folder'}'"
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    found = re.fullmatch(r"error: (.*) \(unexpected; traceback in (.*)\)", line)
    assert found[1] == error
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {**fields, "status": "FAILED", "error": error}
    traceback_file = Path(found[2])
    assert traceback_file.parent == tmp_path and traceback_file.name.startswith(f"wb-{args[0].removeprefix('core.')}-")
    assert traceback_file.read_text().startswith("Traceback (most recent call last)")

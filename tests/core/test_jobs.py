"""Jobs are real subprocesses writing to a real MLflow store."""

import json
import os
import signal
import threading
import time

import mlflow
import pytest

from core import jobs, train
from core.errors import JobError
from core.spec import TrainSpec
from tests.conftest import DEMO_ARGS

pytestmark = pytest.mark.slow
EXCLUDE = {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]}


def spec(family="gbdt", filters=(), **params):
    return TrainSpec.from_dict(
        {
            "dataset": "demo",
            "target": "converted",
            "time_column": "event_time",
            "features": EXCLUDE,
            "filter": list(filters),
            "model": {"family": family, "params": params},
        }
    )


def slow_spec(filters=()):
    return spec("forest", filters, n_estimators=2000, max_depth=40, min_samples_leaf=1, max_features=1.0)


def wait_for(run_id, statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = jobs.list_jobs().set_index("run_id")
        if run_id in table.index and table.loc[run_id, "status"] in statuses:
            return table.loc[run_id]
        time.sleep(0.5)
    raise AssertionError(f"{run_id} did not reach {statuses}: {jobs.log_tail(run_id)}")


def wait_started(run_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mlflow.get_run(run_id).data.metrics.get("progress", 0) >= 0.3:
            return
        time.sleep(0.3)
    raise AssertionError(jobs.log_tail(run_id))


def test_a_launched_job_finishes_with_metrics_and_log(train_env):
    run_id = jobs.launch(spec(n_estimators=40))
    row = wait_for(run_id, {"FINISHED", "FAILED"})
    assert row["status"] == "FINISHED", jobs.log_tail(run_id)
    assert row["progress"] == 1.0 and row["roc_auc"] > 0.6 and row["family"] == "gbdt"
    assert list(jobs.list_jobs().columns) == jobs.JOB_COLUMNS
    assert '"status": "FINISHED"' in jobs.log_tail(run_id)


def test_a_job_is_named_by_its_segment_and_an_identical_launch_is_its_duplicate(train_env):
    segment = slow_spec(["country in US, GB"])
    run_id = jobs.launch(segment)
    try:
        assert jobs.duplicate_of(segment) == run_id
        assert jobs.duplicate_of(slow_spec()) is None  # the same model on all rows is another job
        wait_started(run_id)  # the training process keeps the name the job gave its run
        assert jobs.list_jobs().set_index("run_id").loc[run_id, "name"] == "forest · demo · country in (US, GB)"
        assert mlflow.get_run(run_id).info.run_name == "forest · demo · country in (US, GB)"
    finally:
        jobs.cancel(run_id)
    assert jobs.duplicate_of(segment) is None  # a cancelled job duplicates nothing


def test_cancel_ends_the_process_group_and_marks_killed(train_env):
    run_id = jobs.launch(slow_spec())
    wait_started(run_id)
    pid = int(mlflow.get_run(run_id).data.tags["wb.pid"])
    jobs.cancel(run_id)
    assert mlflow.get_run(run_id).info.status == "KILLED"
    assert not jobs._alive(pid)
    with pytest.raises(JobError, match="not running"):
        jobs.cancel(run_id)


def test_the_reaper_fails_runs_whose_process_died(train_env):
    run_id = jobs.launch(slow_spec())
    wait_started(run_id)
    pid = int(mlflow.get_run(run_id).data.tags["wb.pid"])
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while jobs._alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_id in jobs.reap()
    run = mlflow.get_run(run_id)
    assert run.info.status == "FAILED" and "ended without finishing" in run.data.tags["wb.error"]


def test_launches_beyond_the_limit_are_refused(train_env, monkeypatch):
    monkeypatch.setenv("WB_MAX_JOBS", "1")
    run_id = jobs.launch(slow_spec())
    try:
        with pytest.raises(JobError, match="WB_MAX_JOBS=1"):
            jobs.launch(spec())
    finally:
        jobs.cancel(run_id)


def test_launches_at_the_same_moment_keep_the_limit(train_env, monkeypatch, tmp_path):
    # Four sessions clicking Launch at once each counted the running jobs before any created its run: three ran.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("WB_MAX_JOBS", "2")
    assert jobs.running() == []  # the new store exists before the race
    outcomes, barrier = [], threading.Barrier(4)

    def session():
        barrier.wait()
        try:
            outcomes.append(jobs.launch(slow_spec()))
        except JobError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=session) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    launched = [o for o in outcomes if isinstance(o, str)]
    try:
        assert len(launched) == 2 and len(jobs.running()) == 2
        assert [str(o) for o in outcomes if not isinstance(o, str)] == [
            "2 jobs are running (WB_MAX_JOBS=2); wait for one to finish or cancel one."
        ] * 2
    finally:
        for run_id in launched:
            jobs.cancel(run_id)


def test_cancel_of_an_unknown_run(train_env):
    with pytest.raises(JobError, match="No run"):
        jobs.cancel("0" * 32)


def test_log_tail_of_a_run_trained_from_the_command_line(train_env, capsys):
    assert train.main([*DEMO_ARGS, "--param", "n_estimators=20"]) == 0
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    assert "model logged" in jobs.log_tail(run_id)

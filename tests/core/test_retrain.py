"""Retrain & promote on a real store: the champion's spec, register, gate, promote only if it passes."""

import json
import time

import mlflow

from core import jobs, registry, retrain


def test_retrain_promotes_when_the_gate_passes_and_keeps_the_champion_when_it_fails(train_env, demo_run, capsys, monkeypatch):
    first = registry.register(demo_run, "retrain-test")
    registry.promote("retrain-test", first, "first champion")

    assert retrain.main(["--model", "retrain-test"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"] == "retrain-test" and result["version"] == first + 1
    assert result["promoted"] is True and all(rule["passed"] for rule in result["gate"])
    assert result["compare"]["champion"] == first
    assert {m["metric"] for m in result["compare"]["metrics"]} >= {"roc_auc", "pr_auc", "log_loss", "brier", "ece"}
    assert registry.champion("retrain-test") == first + 1
    spec = mlflow.artifacts.load_text(f"runs:/{result['run_id']}/spec.yaml")
    assert spec == mlflow.artifacts.load_text(f"runs:/{demo_run}/spec.yaml")  # the champion's spec, unchanged
    assert mlflow.get_run(result["run_id"]).info.run_name == "retrain · gbdt · demo"

    monkeypatch.setenv("WB_GATE_MIN_ROC_AUC", "0.99")
    assert retrain.main(["--model", "retrain-test"]) == 0  # a failed gate is a verdict, not an error
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["promoted"] is False
    assert [r["rule"] for r in result["gate"] if not r["passed"]] == ["ROC AUC ≥ floor"]
    assert registry.champion("retrain-test") == first + 1
    history = registry.history("retrain-test")
    assert history["action"].tolist() == ["promote", "promote"] and history["to_version"].tolist() == [first, first + 1]
    assert mlflow.get_run(result["run_id"]).data.tags["wb.retrain.promoted"] == "false"


def test_retrain_without_a_champion_exits_2_with_one_line(train_env, demo_run, capsys):
    registry.register(demo_run, "retrain-none")
    capsys.readouterr()  # MLflow's own messages about registering
    assert retrain.main(["--model", "retrain-none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no champion" in err and "\n" not in err


def test_retrain_runs_as_a_background_job(train_env, demo_run):
    version = registry.register(demo_run, "retrain-job")
    registry.promote("retrain-job", version, "first champion")
    run_id = jobs.launch_retrain("retrain-job")
    deadline = time.monotonic() + 180
    # The run finishes with training; registering, gating and promoting follow in the same process.
    while "wb.retrain.promoted" not in mlflow.get_run(run_id).data.tags and time.monotonic() < deadline:
        assert mlflow.get_run(run_id).info.status != "FAILED", jobs.log_tail(run_id)
        time.sleep(1)
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED", jobs.log_tail(run_id)
    assert run.data.tags["wb.retrain.model"] == "retrain-job" and run.data.tags["wb.retrain.promoted"] == "true"
    assert run.info.run_name == "retrain · gbdt · demo"
    assert registry.champion("retrain-job") == version + 1

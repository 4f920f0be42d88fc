"""Retrain & promote on a real store: the champion's spec, register, gate, promote only if it passes."""

import json
import time

import mlflow
import pandas as pd

from core import jobs, registry, retrain, runs, score, tracking
from core.diagnostics import threshold


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


def test_a_retrained_champion_scores_with_a_cut_re_derived_by_the_champions_policy(train_env, demo_run, capsys, tmp_path):
    first = registry.register(demo_run, "retrain-cut")
    chosen = threshold.policy("recall", min_recall=0.5)
    client = tracking.client()
    # On the version only (the session's demo run is shared): a cut that is not the policy's, to see it re-derived.
    for key, value in {"wb.threshold": "0.5", "wb.value_tp": "10.0", "wb.cost_fp": "1.0", "wb.cost_fn": "", "wb.capacity": ""}.items():
        client.set_model_version_tag("retrain-cut", str(first), key, value)
    client.set_model_version_tag("retrain-cut", str(first), runs.POLICY_TAG, json.dumps(chosen))
    registry.promote("retrain-cut", first, "first champion")

    assert retrain.main(["--model", "retrain-cut"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["promoted"] is True and registry.champion("retrain-cut") == first + 1
    expected = threshold.policy_cut(threshold.threshold_frame(runs.predictions(result["run_id"])), chosen)
    assert 0 < expected < 0.5
    assert result["threshold"] == {"cut": expected, "policy": chosen, "policy_text": "recall ≥ 50%", "note": ""}
    version_tags = client.get_model_version("retrain-cut", str(first + 1)).tags
    assert runs.saved_threshold(version_tags)["threshold"] == expected and runs.saved_policy(version_tags) == chosen
    assert runs.saved_threshold(version_tags)["value_tp"] == 10.0  # the champion's value settings travel with the cut

    out = tmp_path / "scores.parquet"
    assert score.main(["--model", "models:/retrain-cut@champion", "--data", "demo", "--out", str(out)]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (scored["version"], scored["threshold"], scored["threshold_from"]) == (first + 1, expected, "version")
    frame = pd.read_parquet(out)
    assert (frame["decision"] == (frame["score"] >= expected)).all()


def test_a_champion_cut_saved_without_a_policy_is_kept_as_a_fixed_cut(train_env, demo_run):
    version = registry.register(demo_run, "retrain-legacy")
    client = tracking.client()
    # A cut as versions had before policies: the shared demo run may carry a policy that register copied, so drop it.
    if runs.POLICY_TAG in client.get_model_version("retrain-legacy", str(version)).tags:
        client.delete_model_version_tag("retrain-legacy", str(version), runs.POLICY_TAG)
    client.set_model_version_tag("retrain-legacy", str(version), "wb.threshold", "0.2")
    registry.promote("retrain-legacy", version, "first champion")
    chosen, saved = retrain.champion_policy("retrain-legacy")
    assert chosen == {"kind": "fixed", "params": {"threshold": 0.2}} and saved["threshold"] == 0.2


def test_a_policy_that_finds_no_cut_on_the_new_split_keeps_the_champions_cut_and_says_so(train_env, demo_run, tmp_path):
    # A finished run of its own holding the demo run's predictions (tags written here touch no other test).
    client = tracking.client()
    made = client.create_run(client.get_run(demo_run).info.experiment_id, tags={"wb.family": "gbdt", "wb.dataset": "demo"})
    runs.predictions(demo_run).to_parquet(tmp_path / "predictions.parquet", index=False)
    client.log_artifact(made.info.run_id, str(tmp_path / "predictions.parquet"))
    client.set_terminated(made.info.run_id, "FINISHED")
    tiny = threshold.policy("top_share", top_share=0.00001)  # less than one row of 3,000: no cut fits
    saved = {"threshold": 0.4, "value_tp": 5.0, "cost_fp": None, "cost_fn": None, "capacity": None}
    result = retrain.rederive_threshold(made.info.run_id, tiny, saved)
    assert result == {
        "cut": 0.4,
        "policy": tiny,
        "policy_text": "top 0.001%",
        "note": "top 0.001% finds no cut on the new test split: the champion's cut 0.4 is kept",
    }
    tags = mlflow.get_run(made.info.run_id).data.tags
    assert runs.saved_threshold(tags) == saved and runs.saved_policy(tags) == tiny


def _run_with(predictions: pd.DataFrame, demo_run: str, tmp_path) -> str:
    """A finished run of its own holding these predictions (tags written on it touch no other test)."""
    client = tracking.client()
    made = client.create_run(client.get_run(demo_run).info.experiment_id, tags={"wb.family": "gbdt", "wb.dataset": "demo"})
    predictions.to_parquet(tmp_path / "predictions.parquet", index=False)
    client.log_artifact(made.info.run_id, str(tmp_path / "predictions.parquet"))
    client.set_terminated(made.info.run_id, "FINISHED")
    return made.info.run_id


def test_a_value_policy_re_derives_its_cut_on_value_predictions_and_keeps_the_champions_cut_without_them(train_env, demo_run, tmp_path):
    chosen = threshold.policy("max_value_profit", cost_per_action=2.0, capacity=0.3)
    saved = {"threshold": 0.4, "value_tp": 5.0, "cost_fp": 1.0, "cost_fn": 0.0, "capacity": 0.3}
    frame = runs.predictions(demo_run)
    valued = frame.assign(value_if_converted=10 + 40 * (frame.index % 7) / 6)  # 10 to 50: some rows are worth flagging at 2
    (tmp_path / "valued").mkdir()
    made = _run_with(valued.assign(expected_value=valued["score"] * valued["value_if_converted"]), demo_run, tmp_path / "valued")
    result = retrain.rederive_threshold(made, chosen, saved)
    expected = threshold.policy_cut(threshold.threshold_frame(valued), chosen)
    assert 0 < expected < 0.4 and result == {"cut": expected, "policy": chosen, "policy_text": threshold.policy_text(chosen), "note": ""}
    tags = mlflow.get_run(made).data.tags
    assert runs.saved_policy(tags) == chosen and runs.saved_cost_per_action(tags) == 2.0 and float(tags["wb.threshold"]) == expected

    plain = _run_with(frame, demo_run, tmp_path)  # trained without a value stage
    result = retrain.rederive_threshold(plain, chosen, saved)
    assert result["cut"] == 0.4 and result["note"] == (
        "max expected profit (each row's value if converted per TP, cost 2 per action, capacity 30%) needs value_if_converted,"
        " which the new run's predictions lack (no value stage): the champion's cut 0.4 is kept"
    )

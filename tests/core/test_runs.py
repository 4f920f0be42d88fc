"""Finished runs as Diagnostics reads them, on a real MLflow store."""

import json

import mlflow
import pandas as pd
import pytest

from core import runs, tracking
from core.diagnostics import threshold
from core.errors import RegistryError


def test_a_finished_run_is_listed_with_its_predictions_and_shap(train_env, demo_run):
    listed = runs.finished()
    assert list(listed.columns) == runs.RUN_COLUMNS
    assert demo_run in listed["run_id"].tolist()
    run = runs.get(demo_run)
    assert (run.family, run.dataset, run.target, run.time_column) == ("gbdt", "demo", "converted", "event_time")
    frame = runs.predictions(demo_run)
    assert {"row", "y", "score", "score_raw", "time", "channel"} <= set(frame.columns)
    assert len(frame) == 3_000  # the last 15% of 20,000 rows in time order
    shap = runs.explanation(demo_run)
    assert len(shap) == 300 and set(shap["row"]) <= set(frame["row"])


def test_unknown_malformed_and_unfinished_runs_say_why(train_env, demo_run):
    with pytest.raises(RegistryError, match="not a run id"):
        runs.get("x'; drop")
    with pytest.raises(RegistryError, match="No run"):
        runs.get("0" * 32)
    client = tracking.client()
    running = client.create_run(tracking.experiment_id("Default"), tags={"wb.family": "gbdt"})
    with pytest.raises(RegistryError, match="RUNNING, so it has no diagnostics"):
        runs.predictions(running.info.run_id)
    client.set_tag(running.info.run_id, "wb.error", "Validation failed: target has one class")
    client.set_terminated(running.info.run_id, "FAILED")
    with pytest.raises(RegistryError, match="FAILED.*one class"):
        runs.get(running.info.run_id)


def test_saving_a_threshold_tags_the_run_and_its_registered_versions(train_env, demo_run):
    client = tracking.client()
    client.create_registered_model("diag-test")
    version = client.create_model_version("diag-test", f"runs:/{demo_run}/model", run_id=demo_run)
    tagged = runs.save_threshold(demo_run, 0.125, 10.0, 1.5, 0.0, None)
    assert f"diag-test/{version.version}" in tagged  # every version of the run: other tests may register it too
    for name, number in (t.split("/") for t in tagged):
        assert client.get_model_version(name, number).tags["wb.threshold"] == "0.125"
    tags = mlflow.get_run(demo_run).data.tags
    assert tags["wb.threshold"] == "0.125" and tags["wb.cost_fp"] == "1.5" and tags["wb.capacity"] == ""
    saved = runs.saved_threshold(client.get_model_version("diag-test", version.version).tags)
    assert saved == {"threshold": 0.125, "value_tp": 10.0, "cost_fp": 1.5, "cost_fn": 0.0, "capacity": None}
    assert runs.saved_threshold({}) is None
    client.set_registered_model_alias("diag-test", "champion", version.version)
    assert runs.version_run("diag-test", "champion") == demo_run
    assert runs.version_run("diag-test", version.version) == demo_run
    listed = runs.registered_versions()
    assert listed.loc[listed["model"] == "diag-test", "aliases"].tolist() == ["champion"]
    with pytest.raises(RegistryError, match="No version '9'"):
        runs.version_run("diag-test", "9")


def test_subset_keeps_rows_passing_every_filter():
    frame = pd.DataFrame({"channel": ["a", "b", None, "a"], "device": ["m", "m", "d", "d"]})
    assert runs.subset(frame, [("channel", "=", "a")]).index.tolist() == [0, 3]
    assert runs.subset(frame, [("channel", "=", "a"), ("device", "=", "d")]).index.tolist() == [3]
    assert runs.subset(frame, [("channel", "!=", "a")]).index.tolist() == [1, 2]
    assert runs.subset(frame, [("channel", "in", ("a", "b"))]).index.tolist() == [0, 1, 3]
    assert runs.subset(frame, [("channel", "not in", ("a",))]).index.tolist() == [1, 2]
    assert runs.subset(frame, [("channel", "is null", None)]).index.tolist() == [2]
    assert runs.subset(frame, []).index.tolist() == [0, 1, 2, 3]
    with pytest.raises(RegistryError, match="not among"):
        runs.subset(frame, [("country", "=", "DE")])


def test_segment_values_are_sorted_text_without_missing_for_text_and_categorical_columns():
    frame = pd.DataFrame({"channel": pd.array(["social", None, "email", "social", "search"], dtype="string"), "hour": [3, 11, 3, None, 2]})
    assert runs.segment_values(frame, "channel") == ["email", "search", "social"]
    assert runs.segment_values(frame.astype({"channel": "category"}), "channel") == ["email", "search", "social"]
    assert runs.segment_values(frame[frame["channel"] != "email"].astype({"channel": "category"}), "channel") == ["search", "social"]
    assert runs.segment_values(frame, "hour") == ["11.0", "2.0", "3.0"]  # as the filter compares: text


def test_a_saved_threshold_keeps_its_policy_and_a_cut_saved_without_one_reads_as_fixed(train_env, demo_run):
    chosen = threshold.policy("precision", min_precision=0.3)
    runs.save_threshold(demo_run, 0.25, 10.0, 1.5, 0.0, 0.2, policy=chosen)
    tags = mlflow.get_run(demo_run).data.tags
    assert json.loads(tags[runs.POLICY_TAG]) == {"kind": "precision", "params": {"min_precision": 0.3}}
    assert runs.saved_policy(tags) == chosen and runs.saved_threshold(tags)["capacity"] == 0.2
    runs.save_threshold(demo_run, 0.125, 10.0, 1.5, 0.0, None)  # moved by hand: fixed at the cut
    assert runs.saved_policy(mlflow.get_run(demo_run).data.tags) == {"kind": "fixed", "params": {"threshold": 0.125}}
    assert runs.saved_policy({"wb.threshold": "0.4"}) == {"kind": "fixed", "params": {"threshold": 0.4}}  # saved before policies
    assert runs.saved_policy({}) is None
    with pytest.raises(RegistryError, match="wb.threshold_policy .* is not a threshold policy"):
        runs.saved_policy({"wb.threshold": "0.4", "wb.threshold_policy": '{"kind": "best"}'})


def test_a_threshold_saved_in_value_mode_records_its_mode_on_the_run_and_registered_versions(train_env, demo_run):
    client = tracking.client()
    made = client.create_run(client.get_run(demo_run).info.experiment_id, tags={"wb.family": "gbdt", "wb.dataset": "demo"})
    client.set_terminated(made.info.run_id, "FINISHED")  # a run of its own: the session's demo run keeps its tags
    client.create_registered_model("value-mode-test")
    version = client.create_model_version("value-mode-test", f"runs:/{made.info.run_id}/model", run_id=made.info.run_id).version
    chosen = threshold.policy("max_value_profit", cost_per_action=2.5, capacity=None)
    runs.save_threshold(made.info.run_id, 0.3, 1.0, 0.1, 0.0, None, policy=chosen, cost_per_action=2.5)
    tags = mlflow.get_run(made.info.run_id).data.tags
    assert tags[runs.COST_PER_ACTION_TAG] == "2.5" and runs.saved_cost_per_action(tags) == 2.5
    assert json.loads(tags[runs.POLICY_TAG]) == {"kind": "max_value_profit", "params": {"cost_per_action": 2.5, "capacity": None}}
    version_tags = client.get_model_version("value-mode-test", version).tags  # the version carries the mode too
    assert runs.saved_cost_per_action(version_tags) == 2.5 and runs.saved_policy(version_tags) == chosen
    runs.save_threshold(made.info.run_id, 0.3, 1.0, 0.1, 0.0, None)  # saved again with one constant value per TP
    assert runs.saved_cost_per_action(mlflow.get_run(made.info.run_id).data.tags) is None
    assert runs.saved_cost_per_action({}) is None

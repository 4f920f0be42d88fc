"""The registry on real MLflow stores: register, compare, gate, promote, roll back, history, CLIs, races, crashes, a server."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from core import audit, compare, registry, runs, tracking, train
from core.diagnostics import metrics
from core.errors import GateFailed, RegistryError
from core.settings import PROJECT
from core.spec import TrainSpec
from tests.conftest import DEMO_ARGS

THRESHOLD = {"threshold": 0.125, "value_tp": 10.0, "cost_fp": 1.5, "cost_fn": 0.0, "capacity": None}


def _train(*flags: str) -> str:
    """A gbdt run on the small demo with core.train's flags (small trees: seconds, not minutes)."""
    return train.train(train.parse_args([*DEMO_ARGS, *flags])[0], log=train.Log(io.StringIO()))["run_id"]


@pytest.fixture(scope="module")
def two_runs(demo_root, store) -> tuple[str, str]:
    """A small gbdt with a saved threshold (the first champion) and a bigger, calibrated one (the challenger).

    Runs of this module's own: other tests count the versions registered from the session's demo run.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(demo_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("WB_SHAP_ROWS", "50")
        weak = _train("--param", "n_estimators=15", "num_leaves=7")
        runs.save_threshold(weak, **THRESHOLD, cost_per_action=3.0)  # saved in value mode
        return weak, _train("--param", "n_estimators=40", "num_leaves=15", "--calibration", "isotonic")


@pytest.fixture
def weak_run(two_runs) -> str:
    return two_runs[0]


@pytest.fixture
def strong_run(two_runs) -> str:
    return two_runs[1]


@pytest.fixture
def model(train_env, weak_run, strong_run) -> str:
    """A fresh registered model: v1 from the weak run, v2 from the strong one."""
    name = f"reg-{uuid.uuid4().hex[:8]}"
    assert registry.register(weak_run, name) == 1
    assert registry.register(strong_run, name) == 2
    return name


def _states(name: str) -> list[str]:
    return [entry["state"] for entry in audit.records(tracking.client().get_registered_model(name).tags)]


def _moves(name: str) -> list[tuple]:
    table = registry.history(name)
    return [
        (a, None if pd.isna(f) else int(f), int(t)) for a, f, t in table[["action", "from_version", "to_version"]].itertuples(index=False)
    ]


def test_register_describes_and_tags_the_version(model, weak_run):
    version = tracking.client().get_model_version(model, "1")
    run = mlflow.get_run(weak_run)
    assert version.run_id == weak_run and version.source.startswith("models:/m-")  # the run's logged model
    assert "gbdt on demo, target converted; test ROC AUC " in version.description
    tags = version.tags
    assert TrainSpec.from_yaml(tags["wb.spec"]).to_dict() == compare.run_spec(weak_run).to_dict()
    fingerprint = json.loads(tags["wb.fingerprint"])
    assert fingerprint["rows"] == 20_000 and fingerprint["file_hash"] and "paths" not in fingerprint
    assert float(tags["wb.test_roc_auc"]) == run.data.metrics["test_roc_auc"]
    assert {f"wb.test_{m}" for m in metrics.HEADLINE} <= set(tags)
    assert runs.saved_threshold(tags) == THRESHOLD and runs.saved_cost_per_action(tags) == 3.0
    assert "wb.threshold" not in tracking.client().get_model_version(model, "2").tags  # the strong run saved none


def test_register_refuses_unfinished_runs_bad_names_and_unknown_runs(train_env):
    client = tracking.client()
    running = client.create_run(tracking.experiment_id("Default"), tags={"wb.family": "gbdt"}).info.run_id
    try:
        with pytest.raises(RegistryError, match="RUNNING, so it cannot be registered"):
            registry.register(running, "reg-unfinished")
        with pytest.raises(RegistryError, match="letters, digits"):
            registry.register(running, "bad/name")
    finally:  # the session's store is shared: a run left RUNNING would count against WB_MAX_JOBS in later tests
        client.set_terminated(running, "KILLED")
    with pytest.raises(RegistryError, match="No run 0000"):
        registry.register("0" * 32, "reg-unknown")


def test_long_specs_are_cut_at_a_line_to_fit_a_tag():
    text = "".join(f"- feature_{i}\n" for i in range(100))
    cut = registry._fit_tag(text, 200, "# cut\n")
    assert len(cut) <= 200 and cut.endswith("- feature_14\n# cut\n")
    assert registry._fit_tag(text, len(text), "# cut\n") == text


def test_lifecycle_promote_gate_promote_rollback_in_history_order(model):
    first = registry.promote(model, 1, "first champion", user="ann")
    assert (first["from_version"], first["to_version"], first["gate_passed"]) == (None, 1, None)  # never gated
    comparison, table, against = registry.gate_version(model, 2)
    assert against == 1 and table["passed"].all(), table
    assert table["rule"].tolist()[-1] == "ROC AUC not worse than the champion by more than delta"
    assert table["value"].iloc[-1] == pytest.approx(comparison.set_index("metric").loc["roc_auc", "diff"])
    tags = tracking.client().get_model_version(model, "2").tags
    assert tags["wb.gate"] == "passed" and tags["wb.gate_champion"] == "1" and len(json.loads(tags["wb.gate_detail"])) == 3
    assert registry.promote(model, "2", "better on the same rows", user="bob")["gate_passed"] is True
    assert registry.rollback(model, "conversions dropped", user="ann")["to_version"] == 1
    assert registry.champion(model) == 1
    table = registry.history(model)
    assert list(table.columns) == audit.HISTORY_COLUMNS
    assert _moves(model) == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]
    assert table["reason"].tolist() == ["first champion", "better on the same rows", "conversions dropped"]
    assert table["user"].tolist() == ["ann", "bob", "ann"] and table["gate_passed"].tolist() == [None, True, None]
    assert table["at"].is_monotonic_increasing
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback(model, "again")
    with pytest.raises(RegistryError, match="already the champion"):
        registry.promote(model, 1, "again")
    with pytest.raises(RegistryError, match="Give a reason"):
        registry.promote(model, 2, " ")
    assert set(_states(model)) == {"done"}  # no intent left behind


def test_the_newest_registered_version_is_the_challenger_until_it_is_promoted(model, strong_run):
    client = tracking.client()

    def aliases():
        return registry.versions(model).set_index("version")["aliases"].to_dict()

    assert registry.challenger(model) == 2 and aliases() == {2: "challenger", 1: ""}
    registry.promote(model, 1, "first")
    assert aliases() == {2: "challenger", 1: "champion"}  # promoting another version leaves the challenger
    registry.promote(model, 2, "the challenger wins")
    assert registry.challenger(model) is None and aliases() == {2: "champion", 1: ""}  # the alias moved to champion
    assert registry.register(strong_run, model) == 3 and registry.challenger(model) == 3  # a newer challenger
    registry.rollback(model, "back")
    assert aliases() == {3: "challenger", 2: "", 1: "champion"}
    registry.promote(model, 3, "third")
    client.set_registered_model_alias(model, "challenger", "1")  # set outside the workbench on the previous champion
    assert registry.rollback(model, "back to 1")["to_version"] == 1
    assert aliases() == {3: "", 2: "", 1: "champion"}  # a rollback never leaves challenger on the champion
    assert _moves(model) == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1), ("promote", 1, 3), ("rollback", 3, 1)]


def test_versions_show_their_runs_names(model, weak_run, strong_run):
    names = registry.versions(model).set_index("version")["name"].to_dict()
    assert names == {v: mlflow.get_run(r).info.run_name for v, r in ((1, weak_run), (2, strong_run))}
    assert list(registry.versions(model).columns) == registry.VERSION_COLUMNS
    client = tracking.client()
    client.delete_model_version_tag(model, "1", "wb.run_name")  # registered before the tag existed: read from the run
    assert registry.versions(model).set_index("version").loc[1, "name"] == mlflow.get_run(weak_run).info.run_name


def test_a_failed_gate_blocks_promotion_and_names_the_rule(model, monkeypatch):
    registry.promote(model, 1, "first")
    monkeypatch.setenv("WB_GATE_MIN_ROC_AUC", "0.99")
    _, table, _ = registry.gate_version(model, 2)
    assert table.set_index("rule")["passed"].to_dict()["ROC AUC ≥ floor"] is False
    with pytest.raises(GateFailed, match=r"failed the promotion gate: ROC AUC ≥ floor \(0\.6\d+ against 0\.99\)"):
        registry.promote(model, 2, "try anyway")
    assert registry.champion(model) == 1 and _moves(model) == [("promote", None, 1)]


def test_unknown_models_and_versions_say_what_to_fix(model):
    with pytest.raises(RegistryError, match="No registered model 'nope'.*register --run RUN_ID --model nope"):
        registry.history("nope")
    with pytest.raises(RegistryError, match="has no version 9; its versions are 1, 2"):
        registry.promote(model, 9, "x")
    with pytest.raises(RegistryError, match="has no alias 'champion'"):
        registry.compare(model, 2, "champion")


def test_compare_scores_both_versions_on_the_challengers_test_rows_and_equals_sklearn(model, strong_run):
    paired = registry.paired_scores(model, 2, 1)
    recorded = runs.predictions(strong_run)
    assert list(paired.columns) == ["y", "challenger", "champion"] and len(paired) == len(recorded) == 3_000
    np.testing.assert_allclose(paired["challenger"], recorded["score"], rtol=0, atol=1e-9)  # the run's own test scores
    table = compare.paired_bootstrap(paired["y"], paired["challenger"], paired["champion"]).set_index("metric")
    assert table.equals(registry.compare(model, 2, 1).set_index("metric"))
    y = paired["y"].to_numpy()
    for role in ("challenger", "champion"):
        score = np.clip(paired[role].to_numpy(), metrics.EPS, 1 - metrics.EPS)
        expected = {
            "roc_auc": roc_auc_score(y, score),
            "pr_auc": average_precision_score(y, score),
            "log_loss": log_loss(y, score),
            "brier": brier_score_loss(y, score),
            "ece": metrics.ece(y, score),
        }
        for name, value in expected.items():
            assert table.loc[name, role] == pytest.approx(value, abs=1e-9), (role, name)
    assert (table["diff_lo"] <= table["diff"]).all() and (table["diff"] <= table["diff_hi"]).all()


def test_compare_on_a_chosen_dataset_and_filter_uses_every_row_with_a_target(model, demo_root):
    paired = registry.paired_scores(model, 1, 2, data="demo", filters=[("device", "=", "mobile")])
    events = pd.read_parquet(demo_root / "demo")
    mobile = events[(events["device"] == "mobile") & events["converted"].notna()]
    assert len(paired) == len(mobile) and paired["y"].sum() == mobile["converted"].sum()


def _cli(capsys, *argv) -> tuple[int, dict, str]:
    code = registry.main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def test_cli_prints_one_json_object_and_exits_2_with_one_line_for_bad_input(train_env, weak_run, strong_run, capsys):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert _cli(capsys, "register", "--run", weak_run, "--model", name)[:2] == (0, {"model": name, "version": 1, "run_id": weak_run})
    assert _cli(capsys, "register", "--run", strong_run, "--model", name)[1]["version"] == 2
    code, result, err = _cli(capsys, "rollback", "--model", name, "--reason", "nothing yet")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "no previous champion" in result["error"]
    code, result, err = _cli(capsys, "compare", "--model", name)  # the challenger (2) against no champion yet
    assert code == 2 and "has no champion alias; pass --champion V" in result["error"] and err.count("\n") == 1
    code, result, _ = _cli(capsys, "promote", "--model", name, "--version", "1", "--reason", "first", "--user", "ann")
    assert code == 0 and {k: result[k] for k in ("model", "action", "version", "from_version", "gate_passed")} == {
        "model": name,
        "action": "promote",
        "version": 1,
        "from_version": None,
        "gate_passed": None,
    }
    code, result, _ = _cli(capsys, "gate", "--model", name, "--version", "2", "--resamples", "50")
    assert code == 0 and result["champion"] == 1 and result["passed"] is True and len(result["gate"]) == 3
    assert {row["metric"] for row in result["compare"]} == set(metrics.HEADLINE)
    code, result, _ = _cli(capsys, "compare", "--model", name, "--challenger", "2", "--champion", "champion", "--resamples", "50")
    assert code == 0 and (result["challenger"], result["champion"], result["rows"]) == (2, 1, 3_000)
    assert set(result["compare"][0]) == set(compare.COMPARE_COLUMNS)
    code, defaulted, _ = _cli(capsys, "compare", "--model", name, "--resamples", "50")  # champion against challenger
    assert code == 0 and defaulted == result
    code, result, _ = _cli(capsys, "gate", "--model", name, "--resamples", "50")
    assert code == 0 and (result["version"], result["champion"]) == (2, 1)
    code, result, _ = _cli(capsys, "history", "--model", name)
    assert code == 0 and result["champion"] == 1 and [r["to_version"] for r in result["history"]] == [1]
    assert set(result["history"][0]) == set(audit.HISTORY_COLUMNS) and result["history"][0]["user"] == "ann"
    for argv, message in [
        (("promote", "--model", name, "--version", "7", "--reason", "x"), "has no version 7"),
        (("history", "--model", "no-such-model"), "No registered model 'no-such-model'"),
        (("register", "--run", "abc", "--model", name), "is not a run id"),
    ]:
        code, result, err = _cli(capsys, *argv)
        assert code == 2 and message in result["error"] and err.count("\n") == 1 and "Traceback" not in err


def _child(*argv: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.registry", *argv],
        cwd=PROJECT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_racing_to_promote_leave_one_champion_and_a_history_that_agrees(model, strong_run):
    assert registry.register(strong_run, model) == 3
    # Each child pauses inside its move, so without the lock their steps would interleave.
    children = [
        _child("promote", "--model", model, "--version", v, "--reason", f"race {v}", **{registry.PAUSE_ENV: "intent:1"}) for v in ("2", "3")
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    moves = _moves(model)
    assert len(moves) == 2 and moves[-1][2] == registry.champion(model)
    assert moves[0][1] is None and moves[1][1] == moves[0][2]  # the second move saw the first: they were serialised
    assert sorted(m[2] for m in moves) == [2, 3]
    assert _states(model) == ["done", "done"]


@pytest.mark.slow
def test_a_promotion_killed_midway_leaves_alias_and_history_consistent(model):
    registry.promote(model, 1, "first")
    child = _child("promote", "--model", model, "--version", "2", "--reason", "killed", **{registry.PAUSE_ENV: "alias:120"})
    deadline = time.monotonic() + 90
    while registry.champion(model) != 2:  # killed after the alias moved, before the final record
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert _moves(model) == [("promote", None, 1), ("promote", 1, 2)]
    # A process killed before the alias moved (simulated: the intent record it leaves) changes nothing.
    client = tracking.client()
    leftover = audit.record("promote", 2, 1, "killed early", "ann", None, "intent")
    client.set_registered_model_tag(model, audit.new_key(), audit.encode(leftover))
    assert registry.champion(model) == 2 and _moves(model) == [("promote", None, 1), ("promote", 1, 2)]
    # The lock died with the process, and the interrupted promotion stays in the chain after later moves.
    assert registry.rollback(model, "after the crash")["to_version"] == 1
    assert _moves(model) == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]


@pytest.mark.slow
def test_a_promotion_killed_after_its_intent_record_changes_nothing_and_shows_as_interrupted(model):
    registry.promote(model, 1, "first")
    child = _child("promote", "--model", model, "--version", "2", "--reason", "killed early", **{registry.PAUSE_ENV: "intent:120"})
    deadline = time.monotonic() + 90
    while "intent" not in _states(model):  # killed after the intent record, before the alias moved
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert registry.champion(model) == 1 and _moves(model) == [("promote", None, 1)]
    dangling = registry.interrupted(model)
    assert dangling[["action", "from_version", "to_version", "reason"]].values.tolist() == [["promote", 1, 2, "killed early"]]
    # The lock died with the process; a later promotion of the same version is its own, the interrupted one stays shown.
    registry.promote(model, 2, "again")
    assert _moves(model) == [("promote", None, 1), ("promote", 1, 2)] and len(registry.interrupted(model)) == 1
    assert registry.history(model)["reason"].tolist() == ["first", "again"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SERVER_TEST = "test_the_lifecycle_against_a_team_mlflow_server"


@pytest.fixture(scope="module", autouse=True)
def _server_boot(request, tmp_path_factory):
    """Starts the team server at the module's first test when its test is selected: it boots (~30 s) while the others run."""
    if not any(item.name == SERVER_TEST for item in request.session.items):
        yield None
        return
    folder, port = tmp_path_factory.mktemp("server"), _free_port()
    argv = [str(PROJECT / ".venv/bin/mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder}/s.db", "--artifacts-destination"]
    argv += [str(folder / "art"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield server, f"http://127.0.0.1:{port}", folder / "server.log"
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(3)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # a throwaway store: no need to wait for a graceful stop
        server.wait()


@pytest.fixture
def mlflow_server(_server_boot) -> str:
    """The team server's URI once /health answers."""
    server, uri, log = _server_boot
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    return uri
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)


@pytest.mark.slow
def test_the_lifecycle_against_a_team_mlflow_server(mlflow_server, demo_root, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("WB_SHAP_ROWS", "50")
    client = tracking.client()
    # An experiment with the server's own artifact store, so runs and models travel through the server.
    client.create_experiment("team")
    assert client.get_experiment_by_name("team").artifact_location.startswith("mlflow-artifacts:")
    run_id = _train(
        "--param", "n_estimators=10", "num_leaves=7", "--experiment", "team"
    )  # one run, registered twice: two versions to move between
    assert (registry.register(run_id, "team-model"), registry.register(run_id, "team-model")) == (1, 2)
    registry.promote("team-model", 1, "first")
    _, table, against = registry.gate_version("team-model", 2, resamples=50)
    assert against == 1 and table["passed"].all() and table["value"].iloc[-1] == 0, table  # the same model on the same rows
    registry.promote("team-model", 2, "gated")
    registry.rollback("team-model", "back")
    assert registry.champion("team-model") == 1
    assert _moves("team-model") == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]
    assert registry.history("team-model")["gate_passed"].tolist() == [None, True, None]


def test_an_unreachable_tracking_server_exits_2_with_one_line(monkeypatch, capsys):
    from core import registry as cli

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert cli.main(["history", "--model", "anything"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: Cannot reach the MLflow tracking server at http://127.0.0.1:9; start it or fix MLFLOW_TRACKING_URI."

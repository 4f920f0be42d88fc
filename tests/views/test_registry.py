"""Registry renders, compares and gates two versions, promotes, rolls back and shows the history."""

import io

import mlflow
from streamlit.testing.v1 import AppTest

from core import compare, registry, retrain, train
from core.settings import PROJECT


def run(path="views/registry.py", **state):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_empty_registry_says_where_to_start(train_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    at = run()
    assert any("No registered model yet" in i.value for i in at.info)


def test_compare_gate_promote_and_roll_back_from_the_page(train_env, demo_run):
    first = registry.register(demo_run, "page-test")
    second = registry.register(demo_run, "page-test")
    at = run(**{"registry.model": "page-test"})
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe[0].value["version"].tolist() == [second, first]
    assert at.dataframe[0].value["name"].tolist() == [mlflow.get_run(demo_run).info.run_name] * 2  # the run each came from
    assert any("No champion yet" in c.value and "challenger: **version 2**" in c.value for c in at.caption)
    assert at.selectbox(key="registry.challenger").value == second and at.selectbox(key="registry.against").value == first

    at.selectbox(key="registry.challenger").set_value(second).run()
    at.button(key="registry.compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("passes the gate" in s.value for s in at.success), [e.value for e in at.error]
    assert registry.versions("page-test").set_index("version").loc[second, "gate"] == "passed"
    tables = [d.value for d in at.dataframe]
    assert any(list(t.columns) == ["rule", "value", "limit", "passed"] for t in tables)

    def promote(version, reason):
        at.selectbox(key="registry.promote_version").set_value(version)
        at.text_input(key="registry.promote_reason").input(reason)
        at.checkbox(key="registry.promote_sure").check().run()
        at.button(key="registry.promote").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        # One click, one move: the confirmation and the reason are cleared, so the button waits for new ones.
        assert at.checkbox(key="registry.promote_sure").value is False and at.text_input(key="registry.promote_reason").value == ""
        assert at.button(key="registry.promote").disabled and any(f"Version {version} is the champion" in s.value for s in at.success)

    promote(first, "first champion")
    assert registry.champion("page-test") == first
    at.text_input(key="registry.rollback_reason").input("nothing to go back to")
    at.checkbox(key="registry.rollback_sure").check().run()
    at.button(key="registry.rollback").click().run()
    assert any("no previous champion" in e.value for e in at.error)  # shown, not a crash

    promote(second, "better on the same rows")
    assert registry.champion("page-test") == second
    at.text_input(key="registry.rollback_reason").input("alert fired")
    at.checkbox(key="registry.rollback_sure").check().run()
    at.button(key="registry.rollback").click().run()
    assert registry.champion("page-test") == first
    assert at.checkbox(key="registry.rollback_sure").value is False and at.text_input(key="registry.rollback_reason").value == ""
    assert at.button(key="registry.rollback").disabled
    history = registry.history("page-test")
    assert history["action"].tolist() == ["promote", "promote", "rollback"]
    assert history["reason"].tolist() == ["first champion", "better on the same rows", "alert fired"]
    assert any("Champion: **version" in c.value for c in at.caption)


def test_a_finished_retrain_redraws_the_page_with_the_new_champion(train_env, demo_run):
    first = registry.register(demo_run, "page-retrain")
    registry.promote("page-retrain", first, "first champion")
    at = run(**{"registry.model": "page-retrain"})
    assert at.selectbox(key="registry.promote_version").value == first
    result = retrain.retrain("page-retrain", log=train.Log(io.StringIO()))  # what the job runs, here in-process
    assert result["promoted"]
    at.session_state["registry.retrain_run"] = result["run_id"]  # as the button leaves it
    at.run()  # the status fragment sees the job end: it drops choices naming old versions and redraws the page
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["registry.retrain_seen"] == result["run_id"]
    assert at.selectbox(key="registry.promote_version").value == first + 1
    assert any(f"Champion: **version {first + 1}**" in c.value for c in at.caption)
    assert any(f"Version {first + 1} passed the gate and is the champion" in s.value for s in at.success)
    assert registry.history("page-retrain")["to_version"].tolist() == [first, first + 1]


def test_the_page_opens_through_the_app(train_env, demo_run):
    registry.register(demo_run, "page-app")
    at = run("app.py")
    at.switch_page("views/registry.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Registry"


def test_an_unreachable_tracking_server_is_one_clear_error_and_explore_still_works(train_env, monkeypatch):
    import time

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on the discard port
    began = time.monotonic()
    for page in ("views/registry.py", "views/diagnostics.py", "views/train.py"):
        at = run(page)
        assert any("Cannot reach the MLflow tracking server at http://127.0.0.1:9" in e.value for e in at.error), page
    assert time.monotonic() - began < 60  # no minutes of HTTP retries
    at = run("views/explore.py")
    assert not at.error and at.dataframe, [e.value for e in at.error]


def table(at, first: str):
    """The page's table whose first cell is `first` (compare: a metric name; gate: a rule)."""
    return next(d.value for d in at.dataframe if len(d.value) and d.value.iloc[0, 0] == first)


def test_compare_shows_value_metrics_side_by_side_and_the_value_rule(train_env, demo_run, value_run):
    plain = registry.register(demo_run, "page-value")
    first = registry.register(value_run, "page-value")
    second = registry.register(value_run, "page-value")
    at = run(**{"registry.model": "page-value"})
    at.selectbox(key="registry.challenger").set_value(first).run()
    at.selectbox(key="registry.against").set_value(plain).run()
    at.button(key="registry.compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    values = table(at, "value_rmse")
    assert values["metric"].tolist() == ["value_rmse", "value_mae", "value_r2", "value_rmsle"]
    assert values["challenger"].notna().all() and values["champion"].isna().all()
    assert table(at, "roc_auc")["metric"].tolist() == ["roc_auc", "pr_auc", "log_loss", "brier", "ece"]
    assert any("Not compared: the champion has no value stage" in c.value for c in at.caption)
    gate = table(at, "ROC AUC ≥ floor")
    assert gate["rule"].iloc[-1] == "Value RMSLE not worse than the champion's by more than delta: skipped, the champion has no value stage"

    at.selectbox(key="registry.challenger").set_value(second).run()
    at.selectbox(key="registry.against").set_value(first).run()
    at.button(key="registry.compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    values = table(at, "value_rmse").set_index("metric")
    expected = compare.compare("page-value", second, first).set_index("metric")
    assert values["challenger"].to_dict() == expected.loc[values.index, "challenger"].to_dict()
    assert (values["challenger"] == values["champion"]).all() and (values["diff"] == 0).all()  # the same run twice
    assert any("Value if converted: revenue" in h.value for h in at.subheader)
    rows = expected.attrs["value_rows"]
    assert any(f"on the {rows:,} holdout converters with a known value" in c.value for c in at.caption)
    gate = table(at, "ROC AUC ≥ floor")
    assert gate["rule"].iloc[-1] == "Value RMSLE not worse than the champion's by more than delta" and gate["passed"].all()
    assert any("passes the gate" in s.value for s in at.success)

"""Registry renders, compares and gates two versions, promotes, rolls back and shows the history."""

from streamlit.testing.v1 import AppTest

from core import registry
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
    assert any("No champion yet" in c.value for c in at.caption)

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
    history = registry.history("page-test")
    assert history["action"].tolist() == ["promote", "promote", "rollback"]
    assert history["reason"].tolist() == ["first champion", "better on the same rows", "alert fired"]
    assert any("Champion: **version" in c.value for c in at.caption)


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

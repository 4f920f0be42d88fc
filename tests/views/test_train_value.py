"""Train's value stage: the chosen value columns reach the spec and leave the features; a refusal is one line."""

import yaml
from streamlit.testing.v1 import AppTest

from core import data, demo
from core.settings import PROJECT
from core.spec import TrainSpec
from core.training import prepare

EXCLUDE = "train.exclude.demo.converted"


def run():
    at = AppTest.from_file(str(PROJECT / "views/train.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_spec(at) -> dict:
    """The spec the page would launch, as its YAML block shows it."""
    return yaml.safe_load(at.code[0].value)


def features_of(spec: dict, root) -> list[str]:
    return prepare.plan_columns(data.columns(data.connect(root), "demo"), TrainSpec.from_dict(spec))


def test_no_value_stage_by_default_and_revenue_offered_first(train_env):
    at = run()
    assert at.selectbox(key="train.value_column").value == "(none)"
    assert at.selectbox(key="train.value_column").options[:5] == ["(none)", "revenue", "revenue_d1", "revenue_d7", "revenue_d30"]
    assert "converted" not in at.selectbox(key="train.value_column").options  # the target is never its own value
    assert page_spec(at)["value"] == {"column": None, "horizons": [], "family": "gbdt"}
    assert at.multiselect(key=EXCLUDE).value == ["user_id", "site_id", *demo.NOT_FEATURES]


def test_a_value_column_reaches_the_spec_and_leaves_the_features(train_env):
    at = run()
    at.selectbox(key="train.value_column").set_value("revenue").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = page_spec(at)
    assert spec["value"] == {"column": "revenue", "horizons": [], "family": "gbdt"}
    assert "revenue" not in at.multiselect(key=EXCLUDE).options and "revenue" not in spec["features"]["exclude"]
    assert "revenue" not in features_of(spec, train_env)
    assert spec["features"]["exclude"] == ["user_id", "site_id", *[c for c in demo.NOT_FEATURES if c != "revenue"]]
    assert not at.button(key="train.launch").disabled


def test_horizons_keep_the_order_picked_and_the_value_family_is_sent(train_env):
    at = run()
    at.multiselect(key="train.value_horizons").select("revenue_d1").select("revenue_d7").run()
    at.selectbox(key="train.value_family").set_value("linear").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = page_spec(at)
    assert spec["value"] == {"column": "revenue_d7", "horizons": ["revenue_d1", "revenue_d7"], "family": "linear"}  # the last
    options = at.multiselect(key=EXCLUDE).options
    assert "revenue_d1" not in options and "revenue_d7" not in options and "revenue_d30" in options
    assert not {"revenue_d1", "revenue_d7"} & set(features_of(spec, train_env))


def test_a_value_column_outside_the_horizons_is_refused_in_one_line(train_env):
    at = run()
    at.multiselect(key="train.value_horizons").select("revenue_d1").select("revenue_d7").run()
    at.selectbox(key="train.value_column").set_value("revenue").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == ["`value.column` 'revenue' must be one of value.horizons (revenue_d1, revenue_d7), or left out."]
    assert at.button(key="train.launch").disabled


def test_a_streamed_family_with_a_value_stage_keeps_launch_off_with_the_reason(train_env):
    at = run()
    at.selectbox(key="train.value_column").set_value("revenue").run()
    at.selectbox(key="train.family").set_value("hashed_sgd").run()
    assert not at.exception
    reason = "The value stage needs the training rows in memory; hashed_sgd streams them. Use another family."
    assert [e.value for e in at.error] == [reason]  # shown once, not by the first look as well
    assert at.button(key="train.launch").disabled and reason in at.button(key="train.launch").help
    at.selectbox(key="train.value_column").set_value("(none)").run()
    assert not at.error and not at.button(key="train.launch").disabled, [e.value for e in at.error]
    assert "revenue" in at.multiselect(key=EXCLUDE).value and not at.warning  # back from the value stage: excluded again

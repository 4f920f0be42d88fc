"""The Train page offers the ensemble family from its parameter table and refuses, before launch, what a job would refuse."""

from streamlit.testing.v1 import AppTest

from core.settings import PROJECT


def test_ensemble_widgets_and_bad_members_stop_launch(train_env):
    at = AppTest.from_file(str(PROJECT / "views/train.py"), default_timeout=120).run()
    at.selectbox(key="train.family").set_value("ensemble").run()
    assert not at.exception and not at.error
    assert at.text_input(key="train.param.ensemble.members").value == "gbdt,linear"
    assert at.selectbox(key="train.param.ensemble.method").options == ["average", "stacking", "bagged_sgd"]
    assert at.number_input(key="train.param.ensemble.bags").value == 4
    assert not at.button(key="train.launch").disabled
    at.text_input(key="train.param.ensemble.members").set_value("gbdt").run()
    assert [e.value for e in at.error] == ["An ensemble needs two or more members, e.g. members=gbdt,linear; got 'gbdt'."]
    assert at.button(key="train.launch").disabled


def test_a_streamed_family_with_oversampling_stops_launch_with_the_jobs_reason(train_env):
    at = AppTest.from_file(str(PROJECT / "views/train.py"), default_timeout=120).run()
    at.selectbox(key="train.family").set_value("hashed_sgd").run()
    assert not at.error and not at.button(key="train.launch").disabled
    at.selectbox(key="train.imbalance").set_value("smote").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["hashed_sgd streams its data, so it cannot oversample (smote); use undersample."]
    assert at.button(key="train.launch").disabled
    at.selectbox(key="train.imbalance").set_value("undersample").run()
    assert not at.error and not at.button(key="train.launch").disabled

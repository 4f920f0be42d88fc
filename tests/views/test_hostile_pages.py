"""Explore and Train render every hostile input (tests/hostile.py) with it chosen: the answer, or st.error lines
saying what to fix; never an exception box. A file that cannot be read is named in a warning and not offered.
Diagnostics and the Registry render a run of every input that trains."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core import registry
from core.settings import PROJECT
from tests.core.test_hostile import TRAINED, finished_run
from tests.hostile import CASES, WORKS, Case

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("hostile_env")]


def render(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(PROJECT / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def refusals(case: Case, stages: tuple[str, ...]) -> list[str]:
    return [case.expect(stage) for stage in stages if case.expect(stage) != WORKS]


def assert_only_expected(found: list[str], allowed: list[str], case: Case) -> None:
    """Every error shown is one line and one of the case's expected refusals."""
    for message in found:
        assert len(message.strip().splitlines()) == 1, message
        assert any(re.search(pattern, message) for pattern in allowed), f"{case.name}: unexpected error {message!r}"


def assert_unreadable_is_named(at: AppTest, case: Case, key: str) -> None:
    assert any(re.search(case.read, w.value) for w in at.warning) or any(re.search(case.read, e) for e in errors(at)), case.name
    box = at.selectbox(key=key) if any(s.key == key for s in at.selectbox) else None
    assert box is None or case.name not in box.options


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_explore_with_the_case_chosen(case, hostile_root):
    at = render("views/explore.py", **{"explore.dataset": case.name, "explore.target": case.target})
    if case.read != WORKS and not any(s.key == "explore.dataset" and case.name in s.options for s in at.selectbox):
        assert_unreadable_is_named(at, case, "explore.dataset")
        return
    assert at.selectbox(key="explore.dataset").value == case.name
    assert_only_expected(errors(at), refusals(case, ("read", "rates", "over_time")), case)
    if case.read == case.rates == WORKS and at.metric:
        assert at.metric[0].value == f"{hostile_root[1][case.name].labelled:,}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_train_with_the_case_chosen(case):
    state = {"train.dataset": case.name, "train.target": case.target, "train.time_column": case.time_column or "(none)"}
    at = render("views/train.py", **state)
    if case.read != WORKS and not any(s.key == "train.dataset" and case.name in s.options for s in at.selectbox):
        assert_unreadable_is_named(at, case, "train.dataset")
        return
    assert at.selectbox(key="train.dataset").value == case.name
    expected = refusals(case, ("read", "rates", "train_page"))
    assert_only_expected([e.removeprefix("Fix before launching: ") for e in errors(at)], expected, case)
    launch = at.button(key="train.launch")
    if case.expect("train_page") == WORKS:
        assert not errors(at) and not launch.disabled, errors(at)
    else:
        assert launch.disabled and errors(at), case.name


CORPUS_MODEL = "hostile-corpus"


@pytest.mark.parametrize("case", TRAINED, ids=lambda c: c.name)
def test_diagnostics_and_registry_on_a_run_of_the_case(case, hostile_runs, capsys, tmp_path):
    run_id = finished_run(case, hostile_runs, capsys, tmp_path)
    at = render("views/diagnostics.py", **{"diag.run": run_id})
    assert at.selectbox(key="diag.run").value == run_id
    assert not errors(at), errors(at)  # a finished run reads, whatever its input held
    assert at.metric, case.name  # the headline numbers are there
    version = registry.register(run_id, CORPUS_MODEL)
    at = render("views/registry.py", **{"registry.model": CORPUS_MODEL})
    shown = at.dataframe[0].value  # the versions table
    row = shown.loc[shown["version"] == version].iloc[0]
    assert row["run_id"] == run_id and row["name"] and 0.0 <= row["test_roc_auc"] <= 1.0  # a whole version, not half
    assert not errors(at), errors(at)

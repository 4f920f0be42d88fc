"""Explore renders on the demo data, on its own and through app.py, and its widgets work."""

import shutil

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.settings import PROJECT

TIMEOUT = 60


def run(path="views/explore.py"):
    at = AppTest.from_file(str(PROJECT / path), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at):
    return [e.value for e in at.error]


@pytest.mark.parametrize("path", ["views/explore.py", "app.py"])
def test_renders_on_the_demo(demo_env, path):
    at = run(path)
    assert not errors(at)
    assert at.selectbox(key="explore.dataset").value == "demo"
    assert at.selectbox(key="explore.target").value == "converted"
    assert at.multiselect(key="explore.by").value == ["channel"]
    assert [m.label for m in at.metric] == ["Rows", "Positives", "Rate"]
    assert at.metric[0].value == "20,000"
    assert [h.value for h in at.header] == ["Conversion by segment", "Rate over time", "SQL"]


def test_two_columns_filter_and_grain(demo_env):
    at = run()
    at.multiselect(key="explore.by").set_value(["device", "channel"]).run()
    at.selectbox(key="explore.filter_column").set_value("country").run()
    at.selectbox(key="explore.filter_op").set_value("in").run()
    at.text_input(key="explore.filter_value").set_value("US, GB")
    at.button(key="explore.filter_add").click().run()
    at.radio(key="explore.grain").set_value("week").run()
    assert not at.exception and not errors(at)
    assert at.session_state["explore.filters"] == [("country", "in", ("US", "GB"))]
    assert int(at.metric[0].value.replace(",", "")) < 20_000
    at.button(key="explore.filter_remove.0").click().run()
    assert at.metric[0].value == "20,000"


def test_bad_input_shows_one_line_errors(demo_env):
    at = run()
    at.selectbox(key="explore.target").set_value("channel").run()
    assert any("not binary" in e for e in errors(at))
    at.selectbox(key="explore.target").set_value("converted").run()
    at.selectbox(key="explore.filter_column").set_value("hour").run()
    at.selectbox(key="explore.filter_op").set_value("between").run()
    at.text_input(key="explore.filter_value").set_value("9")
    at.button(key="explore.filter_add").click().run()
    assert any("needs two values" in e for e in errors(at))
    assert not at.exception


def test_sql_box_runs_and_refuses(demo_env):
    at = run()
    at.text_area(key="explore.sql").set_value('SELECT channel, count(*) AS n FROM "demo" GROUP BY ALL')
    at.button(key="explore.run_sql").click().run()
    assert not errors(at)
    result = at.dataframe[-1].value
    assert result["n"].sum() == 20_000
    at.text_area(key="explore.sql").set_value("COPY (SELECT 1) TO 'x.csv'")
    at.button(key="explore.run_sql").click().run()
    assert errors(at) == [
        'This is a COPY statement; only read-only SELECT queries run here (write one SELECT … FROM "dataset", or WITH … SELECT).'
    ]


def test_empty_root_offers_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("WB_DEMO_DAYS", "3")
    at = run()
    assert "No datasets" in at.info[0].value
    at.number_input(key="explore.demo_rows").set_value(10_000)
    at.button(key="explore.generate").click().run()
    assert not at.exception
    assert (tmp_path / "demo" / "event_date=2026-09-03").is_dir()
    at.run()
    assert at.selectbox(key="explore.dataset").value == "demo"
    assert at.metric[0].value == "10,000"


def test_switching_datasets_keeps_working(tiny_root, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tiny_root))
    at = run()
    assert at.selectbox(key="explore.dataset").options == ["events", "raw/2026.parquet", "tiny.csv", "tiny.parquet"]
    for name in ["raw/2026.parquet", "tiny.csv", "tiny.parquet"]:
        at.selectbox(key="explore.dataset").set_value(name).run()
        assert not at.exception and not errors(at), name
        assert at.metric[0].value == ("3" if name.startswith("raw") else "10")


def test_a_new_partition_shows_up_without_a_restart(demo_root, tmp_path, monkeypatch):
    shutil.copytree(demo_root / "demo", tmp_path / "demo")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    at = run()
    assert at.metric[0].value == "20,000"
    first = sorted((tmp_path / "demo").iterdir())[0]
    shutil.copytree(first, tmp_path / "demo" / "event_date=2030-01-01")
    added = len(pd.read_parquet(first))
    at.run()
    assert at.metric[0].value == f"{20_000 + added:,}"


def test_an_unreadable_file_is_named_and_the_rest_still_works(demo_root, tmp_path, monkeypatch):
    shutil.copytree(demo_root / "demo", tmp_path / "demo")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    at = run()
    assert any("broken.parquet" in w.value for w in at.warning)
    assert at.selectbox(key="explore.dataset").options == ["demo"]
    assert at.metric[0].value == "20,000"

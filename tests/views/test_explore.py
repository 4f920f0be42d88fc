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


def test_uploading_a_latin1_csv_opens_it_with_its_outcome_as_target(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    shutil.copy(tiny_root / "tiny.parquet", tmp_path / "tiny.parquet")
    at = run()
    assert at.selectbox(key="explore.dataset").value == "tiny.parquet"
    rows = "jour,ville,catégorie,acheté\n" + "".join(
        f"2026-01-0{1 + i % 3},{v},é,{i % 2}\n" for i, v in enumerate(["Genève", "Zürich"] * 3)
    )
    at.file_uploader(key="explore.upload.0").upload("Ventes été.csv", rows.encode("latin-1"), "text/csv").run()
    at.checkbox(key="explore.upload_parquet").check().run()
    at.button(key="explore.upload_save").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert at.selectbox(key="explore.dataset").value == "Ventes_été.parquet"
    assert at.selectbox(key="explore.target").value == "acheté"  # two-valued and after a date column
    assert at.metric[0].value == "6" and at.metric[1].value == "3"
    assert any("Added **Ventes_été.parquet** (6 rows, as parquet)" in s.value for s in at.success)
    assert not at.warning
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Ventes_été.parquet", "tiny.parquet"]
    # The same name again is refused until "Overwrite existing" is ticked.
    at.file_uploader(key="explore.upload.1").upload("Ventes été.csv", rows.encode("latin-1"), "text/csv").run()
    at.button(key="explore.upload_save").click().run()
    assert errors(at) == ["A dataset named Ventes_été.parquet already exists: tick “Overwrite existing” or rename the file."]
    at.checkbox(key="explore.upload_overwrite").check().run()
    at.button(key="explore.upload_save").click().run()
    assert not errors(at) and at.metric[0].value == "6"


def test_a_corrupt_upload_says_why_and_adds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    at = run()
    assert "No datasets" in at.info[0].value  # uploading works on an empty root too
    at.file_uploader(key="explore.upload.0").upload("cut.parquet", b"PAR1 truncated", "application/octet-stream").run()
    at.button(key="explore.upload_save").click().run()
    assert not at.exception
    assert errors(at)[0].startswith("cut.parquet cannot be read as parquet:")
    assert list(tmp_path.iterdir()) == []


def test_a_refused_query_clears_the_last_result(demo_env):
    at = run()
    at.text_area(key="explore.sql").set_value('SELECT count(*) AS n FROM "demo"')
    at.button(key="explore.run_sql").click().run()
    assert at.dataframe[-1].value["n"].tolist() == [20_000]
    tables = len(at.dataframe)
    at.text_area(key="explore.sql").set_value("ATTACH 'x.db' AS x")
    at.button(key="explore.run_sql").click().run()
    assert errors(at) == [
        'This is an ATTACH statement; only read-only SELECT queries run here (write one SELECT … FROM "dataset", or WITH … SELECT).'
    ]
    assert len(at.dataframe) == tables - 1
    assert "explore.sql_result" not in at.session_state


def test_the_query_follows_the_chosen_dataset(tiny_root, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tiny_root))
    at = run()
    assert at.text_area(key="explore.sql").value.splitlines()[1] == 'FROM "events"'
    at.selectbox(key="explore.dataset").set_value("tiny.csv").run()
    assert (
        at.text_area(key="explore.sql").value == 'SELECT "converted", count(*) AS rows\nFROM "tiny.csv"\nGROUP BY ALL\nORDER BY rows DESC'
    )
    at.button(key="explore.run_sql").click().run()
    assert at.dataframe[-1].value.set_index("converted")["rows"].to_dict() == {0: 5, 1: 5}
    # An edited query keeps the analyst's text with the new dataset's name, and the old table goes.
    at.text_area(key="explore.sql").set_value('SELECT device, count(*) AS n FROM "tiny.csv" GROUP BY ALL').run()
    at.selectbox(key="explore.dataset").set_value("tiny.parquet").run()
    assert at.text_area(key="explore.sql").value == 'SELECT device, count(*) AS n FROM "tiny.parquet" GROUP BY ALL'
    assert "explore.sql_result" not in at.session_state


def test_sql_can_apply_the_sidebar_filters_and_shows_how(tiny_root, monkeypatch):
    monkeypatch.setenv("WB_DATA_ROOT", str(tiny_root))
    at = run()
    at.selectbox(key="explore.dataset").set_value("tiny.parquet").run()
    assert any("the sidebar filters do not apply" in c.value for c in at.caption)
    at.selectbox(key="explore.filter_column").set_value("device").run()
    at.text_input(key="explore.filter_value").set_value("desktop")
    at.button(key="explore.filter_add").click().run()
    at.text_area(key="explore.sql").set_value('SELECT count(*) AS n FROM "tiny.parquet"')
    at.button(key="explore.run_sql").click().run()
    assert at.dataframe[-1].value["n"].tolist() == [10]
    at.checkbox(key="explore.sql_filters").check().run()
    assert at.code[0].value == """WITH "tiny.parquet" AS (SELECT * FROM "tiny.parquet" WHERE "device" = 'desktop')"""
    at.button(key="explore.run_sql").click().run()
    assert at.dataframe[-1].value["n"].tolist() == [3]

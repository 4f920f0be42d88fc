import re

import pytest

from core import settings
from core.errors import WorkbenchError
from core.settings import PROJECT


def test_readme_holds_the_settings_table():
    readme = (PROJECT / "README.md").read_text()
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert block, "README lacks the settings block"
    assert block.group(1) == settings.markdown_table()


def test_required_environment_variables_are_in_the_table():
    envs = {s.env for s in settings.SETTINGS}
    assert {"WB_DATA_ROOT", "WB_DEMO_ROWS", "MLFLOW_TRACKING_URI", "WB_SQL_ROW_LIMIT", "WB_SQL_TIMEOUT_S"} <= envs


def test_defaults_need_no_environment(monkeypatch):
    for s in settings.SETTINGS:
        monkeypatch.delenv(s.env, raising=False)
    assert settings.get("data_root") == PROJECT / "data"
    assert settings.get("demo_rows") == 1_000_000
    assert settings.get("sql_row_limit") == 10_000
    assert settings.get("sql_timeout_s") == 30.0
    assert settings.get("tracking_uri") == f"sqlite:///{PROJECT}/mlruns/mlflow.db"
    assert settings.artifact_root() == PROJECT / "mlruns"


def test_environment_overrides_and_artifacts_follow_the_sqlite_file(monkeypatch, tmp_path):
    monkeypatch.setenv("WB_SQL_ROW_LIMIT", "25")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/store/mlflow.db")
    assert settings.get("sql_row_limit") == 25
    assert settings.get("data_root") == tmp_path.resolve()
    assert settings.artifact_root() == (tmp_path / "store").resolve()


@pytest.mark.parametrize("value", ["ten", "0", "-3"])
def test_a_bad_value_names_its_variable(monkeypatch, value):
    monkeypatch.setenv("WB_SQL_ROW_LIMIT", value)
    with pytest.raises(WorkbenchError, match="WB_SQL_ROW_LIMIT"):
        settings.get("sql_row_limit")


def test_streamlit_accepts_uploads_as_large_as_our_cap(monkeypatch):
    import tomllib

    monkeypatch.delenv("WB_UPLOAD_MAX_MB", raising=False)
    assert settings.get("upload_max_mb") == 500
    config = tomllib.loads((PROJECT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= settings.get("upload_max_mb")

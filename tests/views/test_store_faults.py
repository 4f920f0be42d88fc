"""Pages on a tracking store another process holds locked: one clear error where the store is needed, Explore unharmed."""

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from core import tracking
from core.settings import PROJECT

HOLD = "import sqlite3, sys, time\ncon = sqlite3.connect(sys.argv[1], isolation_level=None)\ncon.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(300)"


@pytest.fixture
def locked_store(demo_root, tmp_path, monkeypatch):
    """A real store held in an exclusive transaction by another process, as a stuck writer or a backup would hold it."""
    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setattr(tracking, "LOCK_WAIT_S", 0.5)
    tracking.experiment_id("workbench")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield db
    holder.kill()
    holder.wait()


def test_a_locked_store_is_one_clear_error_on_the_pages_that_need_it_and_explore_still_works(locked_store):
    message = f"The MLflow store {locked_store} is locked by another process"
    for page in ("views/train.py", "views/diagnostics.py", "views/registry.py"):
        at = AppTest.from_file(str(PROJECT / page), default_timeout=120).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert [e.value for e in at.error if message in e.value], (page, [e.value for e in at.error])
    at = AppTest.from_file(str(PROJECT / "views/explore.py"), default_timeout=120).run()
    assert not at.exception and not at.error and at.dataframe, [e.value for e in at.error]

"""Page caches follow the data: a new partition changes Explore's numbers and a new run shows its own diagnostics,
in the same server process (AppTest keeps Streamlit's caches between runs), without a restart."""

import io
import shutil

from sklearn.metrics import roc_auc_score
from streamlit.testing.v1 import AppTest

from core import runs, train
from core.settings import PROJECT
from tests.conftest import DEMO_ARGS, TINY


def render(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(PROJECT / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return rerun(at)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_a_new_partition_changes_explores_numbers_without_a_restart(tiny_root, tmp_path, monkeypatch):
    shutil.copytree(tiny_root / "events", tmp_path / "events")
    monkeypatch.setenv("WB_DATA_ROOT", str(tmp_path))
    at = render("views/explore.py", **{"explore.dataset": "events", "explore.target": "converted"})
    assert [m.value for m in at.metric] == ["10", "5", "50.00%"]
    # A new day lands as a partition while the app runs: three rows, all converted.
    folder = tmp_path / "events" / "month=2026-03"
    folder.mkdir()
    TINY.head(3).assign(converted=1).to_parquet(folder / "part-0.parquet", index=False)
    rerun(at)
    assert [m.value for m in at.metric] == ["13", "8", "61.54%"]  # 8 / 13


def test_a_new_run_shows_its_own_diagnostics_not_a_cached_one(train_env, demo_run):
    at = render("views/diagnostics.py", **{"diag.run": demo_run})
    before = next(m.value for m in at.metric if m.label == "ROC AUC")
    spec, _ = train.parse_args([*DEMO_ARGS, "--param", "n_estimators=10", "num_leaves=4", "--calibration", "none"])
    fresh = train.train(spec, log=train.Log(io.StringIO()))["run_id"]
    at.session_state["diag.open"] = fresh  # what the Train page's "Open diagnostics" does
    rerun(at)
    assert at.selectbox(key="diag.run").value == fresh
    frame = runs.predictions(fresh)
    shown = next(m.value for m in at.metric if m.label == "ROC AUC")
    assert shown == f"{roc_auc_score(frame['y'], frame['score']):.4f}" != before
    assert any(fresh in c.value for c in at.caption)

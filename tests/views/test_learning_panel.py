"""Diagnostics' learning-curve panel: drawn with its verdict for a run that logged a curve, a caption for one that did not."""

import pytest
from streamlit.testing.v1 import AppTest

from core import runs, train
from core.selection import learning
from core.settings import PROJECT
from tests.conftest import train_on_demo
from views.learning_panel import HOW_TO_GET


@pytest.fixture(scope="module")
def curve_run(demo_root, store) -> str:
    """A finished linear run on the small demo that logged a learning curve."""
    raw = {"dataset": "demo", "target": "converted", "time_column": "event_time", "sample_rows": 4000, "learning_curve": True,
           "features": {"exclude": ["revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30", "user_id"]}, "model": {"family": "linear", "params": {"C": 0.5}}}  # fmt: skip
    return train_on_demo(demo_root, store, train.TrainSpec.from_dict(raw), 100)


def opened(run_id: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT / "views/diagnostics.py"), default_timeout=120)
    at.session_state["diag.run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_panel_draws_the_curve_and_says_whether_it_still_rises(train_env, curve_run):
    at = opened(curve_run)
    assert "Learning curve" in [s.value for s in at.subheader]
    frame = runs.learning_curve(curve_run)
    shown = [m.value for m in at.markdown]
    assert f"**{learning.learning_verdict(frame, 'roc_auc')}**" in shown
    assert len(at.get("plotly_chart")) == 5  # ROC, PR, gain, lift and the learning curve
    at.selectbox(key="diag.learning_metric").set_value("log_loss").run()
    assert not at.exception
    assert f"**{learning.learning_verdict(frame, 'log_loss')}**" in [m.value for m in at.markdown]
    assert HOW_TO_GET not in [c.value for c in at.caption]


def test_a_run_without_a_curve_says_how_to_get_one(train_env, demo_run):
    at = opened(demo_run)
    assert HOW_TO_GET in [c.value for c in at.caption]
    assert len(at.get("plotly_chart")) == 4

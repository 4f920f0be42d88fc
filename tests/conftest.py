"""Shared fixtures: a tiny hand-made dataset root, a small demo root, sandboxed connections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import data, demo

# Ten events small enough to check every number by hand.
TINY = pd.DataFrame(
    {
        "event_time": pd.to_datetime(
            [
                "2026-01-01 08:00",
                "2026-01-01 09:30",
                "2026-01-02 10:00",
                "2026-01-02 11:00",
                "2026-01-05 12:00",
                "2026-01-06 13:00",
                "2026-01-12 14:00",
                "2026-02-01 15:00",
                "2026-02-02 16:00",
                "2026-02-03 17:00",
            ]
        ),
        "channel": ["search", "search", "social", "social", "social", None, "search", "email", "email", "social"],
        "device": ["mobile", "desktop", "mobile", "mobile", "desktop", "mobile", "mobile", "desktop", "mobile", "mobile"],
        "hour": np.array([8, 9, 10, 11, 12, 13, 14, 15, 16, 17], dtype="int32"),
        "spend": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        "converted": np.array([1, 0, 1, 0, 0, 1, 1, 0, 0, 1], dtype="int8"),
        "flag": [True, False, True, False, False, True, True, False, False, True],
        "answer": ["Yes", "no", "YES", "No", "no", "yes", "Yes", "NO", "no", "yes"],
        "plan": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a"],
    }
)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root with the tiny table as parquet, as CSV, and as a two-partition folder."""
    root = tmp_path_factory.mktemp("tiny_root")
    TINY.to_parquet(root / "tiny.parquet", index=False)
    TINY.to_csv(root / "tiny.csv", index=False)
    (root / "raw").mkdir()
    TINY.head(3).to_parquet(root / "raw" / "2026.parquet", index=False)
    for month, part in TINY.groupby(TINY["event_time"].dt.strftime("%Y-%m")):
        folder = root / "events" / f"month={month}"
        folder.mkdir(parents=True)
        part.drop(columns=[]).to_parquet(folder / "part-0.parquet", index=False)
    (root / "events" / "_SUCCESS").write_text("")
    (root / "notes.txt").write_text("not data")
    return root


@pytest.fixture(scope="session")
def tiny_con(tiny_root):
    return data.connect(tiny_root)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A data root holding a small demo dataset named `demo` (20k rows over 21 days)."""
    root = tmp_path_factory.mktemp("demo_root")
    demo.write(demo.generate(20_000, 21, seed=3), root / "demo")
    return root


@pytest.fixture
def demo_env(demo_root, monkeypatch, tmp_path):
    """Settings pointing at the small demo root and a temporary MLflow store."""
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return demo_root


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> str:
    """One temporary sqlite MLflow store for the session (a new store costs about a second)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlruns')}/mlflow.db"


@pytest.fixture
def train_env(demo_root, store, monkeypatch):
    """Settings for training on the small demo into the session's store, explaining few rows."""
    monkeypatch.setenv("WB_DATA_ROOT", str(demo_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "200")
    return demo_root


DEMO_ARGS = ["--data", "demo", "--target", "converted", "--time-column", "event_time", "--exclude", *demo.NOT_FEATURES, "user_id"]


def train_on_demo(demo_root, store, spec, shap_rows: int) -> str:
    """Trains `spec` on the small demo into `store`, explaining `shap_rows` rows; the finished run's id."""
    import io

    from core import train

    with pytest.MonkeyPatch.context() as env:
        env.setenv("WB_DATA_ROOT", str(demo_root))
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("WB_SHAP_ROWS", str(shap_rows))
        return train.train(spec, log=train.Log(io.StringIO()))["run_id"]


@pytest.fixture(scope="session")
def demo_run(demo_root, store) -> str:
    """One finished gbdt run (isotonic) on the small demo, in the session's store: Diagnostics' input."""
    from core import train

    spec, _ = train.parse_args([*DEMO_ARGS, "--param", "n_estimators=60", "num_leaves=15", "--calibration", "isotonic"])
    return train_on_demo(demo_root, store, spec, 300)


SMOTE_ARGS = [*DEMO_ARGS, "--family", "linear", "--imbalance", "smote", "--validation", "kfold", "--folds", "2"]


@pytest.fixture(scope="session")
def smote_run(demo_root, store) -> str:
    """One finished linear run with SMOTE (calibration left to its isotonic default) and 2-fold CV on the small demo."""
    from core import train

    return train_on_demo(demo_root, store, train.parse_args(SMOTE_ARGS)[0], 100)


VALUE_ARGS = [*DEMO_ARGS, "--param", "n_estimators=60", "num_leaves=15", "--calibration", "isotonic"]


@pytest.fixture(scope="session")
def value_run(demo_root, store) -> str:
    """One finished gbdt run with a value stage on `revenue` (isotonic) on the small demo, in the session's store."""
    from core import train

    return train_on_demo(demo_root, store, train.parse_args([*VALUE_ARGS, "--value-column", "revenue"])[0], 300)


@pytest.fixture(scope="session")
def horizon_run(demo_root, store) -> str:
    """A value run over the horizons revenue_d1 and revenue_d7 (the 21-day demo matures no 30-day horizon)."""
    from core import train

    spec = train.parse_args([*VALUE_ARGS, "--value-horizons", "revenue_d1", "revenue_d7"])[0]
    return train_on_demo(demo_root, store, spec, 100)


def messy_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """An exported-CSV look: names with JSON characters, quotes, spaces, unicode and a SQL keyword; int, float,
    nullable int, bool, text and timestamp columns; `converted` follows the float and the text column."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    logit = 2 * signal - 1 + np.where(colour == "red", 1.0, 0.0)
    return pd.DataFrame(
        {
            "price[usd]": rng.integers(1, 100, rows),
            "a,b": rng.normal(size=rows).round(3),
            'col "q"': colour,
            "{x}: y": rng.integers(0, 5, rows),
            "select": rng.choice(["u", "v"], rows),
            "größe m²": signal.round(3),
            "it's": pd.array(np.where(rng.random(rows) < 0.2, None, rng.integers(0, 9, rows)), dtype="Int64"),
            "flag on": rng.random(rows) < 0.5,
            "seen at": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 30 * 24, rows), unit="h"),
            "converted": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


@pytest.fixture(scope="session")
def messy_root(tmp_path_factory) -> Path:
    """A data root holding the messy table as `messy.csv` and `messy.parquet`."""
    root = tmp_path_factory.mktemp("messy_root")
    frame = messy_frame()
    frame.to_csv(root / "messy.csv", index=False)
    frame.to_parquet(root / "messy.parquet", index=False)
    return root


@pytest.fixture(scope="session")
def hostile_root(tmp_path_factory):
    """The hostile-input corpus (tests/hostile.py) written once: (its folder, case name -> what the file holds)."""
    from tests.hostile import write_corpus

    root = tmp_path_factory.mktemp("hostile")
    return root, write_corpus(root)


@pytest.fixture
def hostile_env(hostile_root, store, monkeypatch):
    """Settings for the corpus tests: its folder, the session's store, small SHAP and bootstrap work."""
    monkeypatch.setenv("WB_DATA_ROOT", str(hostile_root[0]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("WB_SHAP_ROWS", "50")
    monkeypatch.setenv("WB_BOOTSTRAP_RESAMPLES", "50")


@pytest.fixture(scope="session")
def hostile_runs() -> dict[str, str]:
    """Case name -> a finished gbdt run on it, filled by whichever corpus test trains one first."""
    return {}


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of one 2-worker LocalCluster (one thread each, loopback, no dashboard) for the whole session."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1") as cluster:
        yield cluster.scheduler_address

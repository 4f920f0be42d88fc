"""core.ui under several sessions at once: Streamlit runs each in its own thread over one shared database."""

import threading

import duckdb
import pandas as pd
import pytest

from core import data, ui

FILTERS = [("device", "=", "mobile")]


def test_four_sessions_call_the_cached_views_and_the_sql_box_at_once(demo_env):
    # Before each call took its own cursor, two of four threads got ResourceInUseException ("connection is busy").
    wanted = data.segment_rates(data.connect(demo_env), "demo", "converted", ["channel"], FILTERS)
    failures, barrier = [], threading.Barrier(4)

    def session(n: int):
        barrier.wait()
        try:
            for k in range(6):
                ui.cached(data.columns, "demo")
                rates = ui.cached(data.segment_rates, "demo", "converted", ["channel"], FILTERS)
                pd.testing.assert_frame_equal(rates, wanted)
                ui.cached(data.profile, "demo")
                # Each session's own query (never cached): its answer is its own.
                own = ui.run_sql(f'SELECT {n * 100 + k} AS session, count(*) AS n FROM "demo"', "demo")
                assert own.to_dict("records") == [{"session": n * 100 + k, "n": 20_000}]
        except Exception as err:  # noqa: BLE001 (collected and shown by the assert below)
            failures.append(f"session {n}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=session, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_ui_cursor_keeps_the_sandbox(demo_env):
    with ui.cursor() as own:
        assert data.root_of(own) == demo_env
        assert own.execute("SELECT count(*) FROM read_parquet(?)", [f"{demo_env}/demo/**/*.parquet"]).fetchone() == (20_000,)
        with pytest.raises(duckdb.PermissionException):
            own.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error, match="lock"):
            own.execute("SET enable_external_access = true")

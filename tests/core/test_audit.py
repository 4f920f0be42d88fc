"""The audit trail's rules on hand-made records: which moves took effect, the previous champion, the lock."""

import threading
import time

import pandas as pd

from core import audit


def _entry(action, from_version, to_version, state="done", reason="r"):
    return {**audit.record(action, from_version, to_version, reason, "ann", None, state), "key": f"k{to_version}"}


def _moves(entries):
    return [(e["action"], e["from_version"], e["to_version"]) for e in entries]


def test_done_records_are_history_and_lost_ones_are_not():
    entries = [_entry("promote", None, 1), _entry("promote", 1, 2), _entry("promote", 1, 3, state="lost")]
    assert _moves(audit.reconcile(entries, 2)) == [("promote", None, 1), ("promote", 1, 2)]


def test_an_intent_counts_only_when_the_alias_or_the_next_move_shows_it_happened():
    # Killed after the alias moved: the alias is its to_version.
    killed_after = [_entry("promote", None, 1), _entry("promote", 1, 2, state="intent")]
    assert _moves(audit.reconcile(killed_after, 2))[-1] == ("promote", 1, 2)
    # Killed before the alias moved: the alias is still 1.
    assert _moves(audit.reconcile(killed_after, 1)) == [("promote", None, 1)]
    # Later moves keep an interrupted move that happened (the next one starts from it) ...
    later = [*killed_after, _entry("rollback", 2, 1)]
    assert _moves(audit.reconcile(later, 1)) == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]
    # ... and drop one that did not (the next one starts where the alias stayed).
    retried = [_entry("promote", None, 1), _entry("promote", 1, 2, state="intent"), _entry("promote", 1, 2)]
    assert _moves(audit.reconcile(retried, 2)) == [("promote", None, 1), ("promote", 1, 2)]


def test_history_always_ends_at_the_alias():
    misordered = [_entry("promote", None, 1), _entry("promote", 1, 3), _entry("promote", 1, 2)]  # a server race
    assert _moves(audit.reconcile(misordered, 3))[-1] == ("promote", 1, 3)
    outside = audit.reconcile([_entry("promote", None, 1)], 4)  # alias moved in the MLflow UI
    assert _moves(outside)[-1] == ("external", 1, 4) and outside[-1]["at"] is None
    assert _moves(audit.reconcile([], None)) == []


def test_previous_champion_walks_back_through_promotions():
    assert audit.previous_champion([]) is None
    chain = [_entry("promote", None, 1), _entry("promote", 1, 2), _entry("promote", 2, 3)]
    assert audit.previous_champion(chain) == 2
    chain.append(_entry("rollback", 3, 2))
    assert audit.previous_champion(chain) == 1  # a second rollback goes further back, not back to 3
    chain.append(_entry("rollback", 2, 1))
    assert audit.previous_champion(chain) is None


def test_records_come_back_in_key_order_and_as_a_typed_frame():
    first, second = audit.new_key(), audit.new_key()
    assert first < second and len(first) < 250
    tags = {
        second: audit.encode(_entry("promote", 1, 2)),
        first: audit.encode(_entry("promote", None, 1)),
        "wb.other": "x",
        f"{audit.PREFIX}bad": "{",
    }
    entries = audit.records(tags)
    assert [e["key"] for e in entries] == [first, second]
    table = audit.frame(entries)
    assert list(table.columns) == audit.HISTORY_COLUMNS
    assert table["from_version"].tolist()[0] is pd.NA and table["to_version"].tolist() == [1, 2]
    assert isinstance(table["at"].dtype, pd.DatetimeTZDtype) and str(table["at"].dt.tz) == "UTC"
    assert table["gate_passed"].tolist() == [None, None]
    assert len(audit.record("promote", 1, 2, "x" * 10_000, "u", True, "done")["reason"]) == audit.REASON_CHARS


def test_the_lock_is_exclusive_on_a_local_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    assert audit.is_local("sqlite:///x/mlflow.db") and not audit.is_local("http://127.0.0.1:5000")
    order = []

    def second():
        with audit.lock():
            order.append("second")

    with audit.lock() as locked:
        assert locked and (tmp_path / "registry.lock").exists()
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with audit.lock() as locked:
        assert locked is False

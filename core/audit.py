"""The registry's audit trail: promotions and rollbacks kept as tags on the registered model, read back as history.

Each record is one registered-model tag `wb.audit.<sortable id>` holding JSON (at, action, from_version, to_version,
reason, user, gate_passed, state), so it lives in the tracking store beside the alias it explains, on sqlite and on a
server alike, and survives restarts. The id starts with the time in nanoseconds: tag order is time order.

A move is written in three steps (core.registry): an `intent` record, the alias, then a final record under a new id
(`done`, or `lost` when re-reading the alias shows another move overwrote it) and the intent is deleted. A process
killed in between leaves an intent behind; `reconcile` decides from the alias whether it took effect (see there).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd

from core import settings

PREFIX = "wb.audit."
HISTORY_COLUMNS = ["at", "action", "from_version", "to_version", "reason", "user", "gate_passed"]
REASON_CHARS = 2_000  # registered-model tags are VARCHAR(5000) on MySQL and PostgreSQL stores


def is_local(uri: str) -> bool:
    """A store only this machine writes (sqlite or a folder), where a file lock orders every writer."""
    return uri.startswith(("sqlite:", "file:", "/", "./", "../"))


@contextlib.contextmanager
def lock() -> Iterator[bool]:
    """An exclusive lock around a registry read-modify-write; yields False (no lock) for a tracking server.

    On a local store every writer is on this machine, so `fcntl.flock` on `<artifact root>/registry.lock` serialises
    them; the kernel drops the lock when its process dies, so a killed promotion never leaves it held.
    """
    if not is_local(settings.get("tracking_uri")):
        yield False
        return
    path = settings.artifact_root() / "registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_key() -> str:
    """A tag key that sorts after every key made before it (nanosecond clock, then pid and a random suffix)."""
    return f"{PREFIX}{time.time_ns():020d}.{os.getpid()}.{secrets.token_hex(3)}"


def now() -> str:
    return datetime.now(UTC).isoformat()


def record(action: str, from_version: int | None, to_version: int | None, reason: str, user: str, gate_passed, state: str) -> dict:
    return {
        "at": now(),
        "action": action,
        "from_version": from_version,
        "to_version": to_version,
        "reason": reason[:REASON_CHARS],
        "user": user[:200],
        "gate_passed": gate_passed,
        "state": state,
    }


def encode(entry: dict) -> str:
    return json.dumps(entry, ensure_ascii=False)


def records(tags: dict) -> list[dict]:
    """The audit records among a registered model's tags, oldest first (unreadable ones skipped)."""
    out = []
    for key in sorted(k for k in tags if k.startswith(PREFIX)):
        try:
            entry = json.loads(tags[key])
        except (TypeError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("action"):
            out.append({**entry, "key": key})
    return out


def reconcile(entries: list[dict], champion: int | None) -> list[dict]:
    """The moves that took effect, oldest first, ending at the current champion.

    Walking back from the alias: a `done` record is kept; a `lost` one (overwritten before it could be observed) is
    not; an `intent` (its process died between the steps) is kept only if its to_version is what the next kept record
    started from — the alias, for the newest — because then the alias did move there. An intent whose move never
    happened fails that test and is dropped, and a later move never loses an earlier interrupted one that did happen.
    If the newest kept record still disagrees with the alias (a server race whose clocks misordered two records, or
    an alias moved outside the workbench), the newest record that agrees is moved last, else an `external` row says so.
    """
    kept, expected = [], champion
    for entry in reversed(entries):
        state = entry.get("state", "done")
        if state == "lost" or (state == "intent" and entry.get("to_version") != expected):
            continue
        kept.append(entry)
        expected = entry.get("from_version")
    kept.reverse()
    if (kept[-1]["to_version"] if kept else None) != champion:
        agreeing = [i for i, e in enumerate(kept) if e["to_version"] == champion]
        if agreeing:
            kept.append(kept.pop(agreeing[-1]))
        else:
            kept.append(
                {"at": None, "action": "external", "from_version": kept[-1]["to_version"] if kept else None, "to_version": champion,
                 "reason": "the champion alias was moved outside the workbench", "user": None, "gate_passed": None}
            )  # fmt: skip
    return kept


def previous_champion(entries: list[dict]) -> int | None:
    """The champion before the current one: promotions push, rollbacks pop, so rolling back twice goes back twice."""
    stack: list = []
    for entry in entries:
        if entry["action"] == "rollback" and len(stack) >= 2 and stack[-2] == entry["to_version"]:
            stack.pop()
        else:
            stack.append(entry["to_version"])
    return stack[-2] if len(stack) >= 2 else None


def frame(entries: list[dict]) -> pd.DataFrame:
    """History rows. Columns: at (UTC), action, from_version, to_version, reason, user, gate_passed."""
    table = pd.DataFrame([{c: e.get(c) for c in HISTORY_COLUMNS} for e in entries], columns=HISTORY_COLUMNS)
    table["at"] = pd.to_datetime(table["at"], utc=True, format="ISO8601")
    for column in ("from_version", "to_version"):
        table[column] = table[column].astype("Int64")
    table["gate_passed"] = table["gate_passed"].astype(object).where(table["gate_passed"].notna(), None)
    return table

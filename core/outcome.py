"""Which column is the outcome: the default target of a dataset, chosen from its names and its values."""

from __future__ import annotations

import re

import pandas as pd

from core import data
from core.catalog import Dataset
from core.sql import TRUTHY, ident, is_numeric, is_temporal

OUTCOME_NAMES = (
    "converted", "conversion", "target", "label", "y", "outcome", "bought", "purchased", "purchase", "clicked", "click",
    "subscribed", "installed", "churned", "churn", "responded", "response", "success", "is_converted", "revenue_flag",
)  # fmt: skip
OUTCOME_PREFIXES = ("is_", "has_", "did_", "was_")
TARGET_SAMPLE_ROWS = 200_000


def _outcome_rank(name: str) -> int | None:
    """0: an outcome name; 1: holds one as a word (`converted_7d`); 2: a flag name (`is_member`); None: neither."""
    key = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    if key in OUTCOME_NAMES:
        return 0
    if any(len(word) > 1 and word in OUTCOME_NAMES for word in key.split("_")):
        return 1
    if key.startswith(OUTCOME_PREFIXES) or key.endswith("_flag"):
        return 2
    return None


def _value_counts(con, ds: Dataset, names: list[str], cols: dict[str, str]) -> pd.DataFrame:
    """Per column (first rows of the data): distinct non-null values, and whether one reads as positive (1/true/yes)."""
    src, params = data.source(ds)
    parts = []  # (column, SELECT items, their parameters) per column
    for i, name in enumerate(names):
        col, kind = ident(name), cols[name].upper()
        if kind == "VARCHAR":  # text targets match without case or spaces (see data._target)
            text = f"lower(trim({col}))"
            parts.append(
                (col, f"count(DISTINCT {text}) AS d{i}, bool_or({text} IN ({', '.join('?' * len(TRUTHY))})) AS t{i}", list(TRUTHY))
            )
        else:
            positive = f"bool_or({col})" if kind == "BOOLEAN" else f"bool_or({col} = 1)"
            parts.append((col, f"count(DISTINCT {col}) AS d{i}, {positive} AS t{i}", []))
    row = {}
    for chunk in data.column_chunks(parts):
        sample = f"(SELECT {', '.join(col for col, _, _ in chunk)} FROM {src} LIMIT {TARGET_SAMPLE_ROWS})"
        sql = f"SELECT {', '.join(items for _, items, _ in chunk)} FROM {sample}"
        row |= data.query(con, ds, sql, [*(v for _, _, values in chunk for v in values), *params]).iloc[0].to_dict()
    # No rows (a header-only file, a target never filled): aggregates are NULL, i.e. no values and none positive.
    return pd.DataFrame({"column": names, "distinct": [int(row[f"d{i}"]) if pd.notna(row[f"d{i}"]) else 0 for i in range(len(names))],
                         "positive": [bool(row[f"t{i}"]) if pd.notna(row[f"t{i}"]) else False for i in range(len(names))]})  # fmt: skip


def likely_target(con, dataset) -> str:
    """The likeliest outcome column, never a date: two-valued and named like one, else the first two-valued column."""
    # Named ones rank `converted` > `converted_7d` > `is_member`; among equals, values that read as 1/true/yes win (the
    # default positive value finds them). One scan of the first TARGET_SAMPLE_ROWS rows, cached by fingerprint.
    ds = data.resolve(con, dataset)
    cols = data.columns(con, ds)

    def pick() -> str:
        usable = [n for n, kind in cols.items() if kind.upper() in ("BOOLEAN", "VARCHAR") or is_numeric(kind)]
        if not usable:
            return next((n for n, kind in cols.items() if not is_temporal(kind)), next(iter(cols)))
        named = sorted((rank, i, n) for i, n in enumerate(usable) if (rank := _outcome_rank(n)) is not None)
        counts = _value_counts(con, ds, usable, cols).set_index("column")
        binary = [n for n in usable if counts.loc[n, "distinct"] == 2]
        for choice in (
            [n for _, _, n in named if n in binary and counts.loc[n, "positive"]],
            [n for _, _, n in named if n in binary],
            [n for n in binary if counts.loc[n, "positive"]],
            binary,
            [n for _, _, n in named],  # not two-valued here: the target check will say so
            usable,
        ):
            if choice:
                return choice[0]

    return data.remember(("likely_target", ds.glob, ds.fingerprint), pick)

"""What a run is called wherever it is listed: family, dataset and the segment it trains on; a retrain says so."""

from __future__ import annotations

from collections.abc import Sequence

from core.spec import TrainSpec
from core.sql import LIST_OPS, Filter, describe_filter

SEGMENT_CHARS = 60  # the filter part of a name stops here with "…"
LISTED_VALUES = 3  # an `in` list shows this many values, then "…"


def run_name(spec: TrainSpec, retrain: bool = False) -> str:
    """`[retrain · ]family · dataset[ · filters]`, e.g. `gbdt · demo · country in (US, GB)`."""
    parts = [*(["retrain"] if retrain else []), spec.model.family, spec.dataset]
    if spec.filter:
        parts.append(segment_text(spec.filter))
    return " · ".join(parts)


def segment_text(filters: Sequence[Filter], limit: int = SEGMENT_CHARS) -> str:
    """Filters as one short line joined by `&`: long value lists and long lines end in `…`."""
    text = " & ".join(describe_filter(_shortened(item)) for item in filters)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _shortened(item: Filter) -> Filter:
    column, op, value = item
    if op in LIST_OPS and len(value) > LISTED_VALUES:
        return (column, op, (*value[:LISTED_VALUES], "…"))
    return item

"""Threshold explorer: counts and metrics at every cut from one sorted pass, profit, and suggested cuts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError

SUGGESTION_COLUMNS = ["suggestion", "threshold", "precision", "recall", "f1", "flagged_share", "profit", "note"]
VALUE_COLUMN = "value_if_converted"  # in a run's predictions when it has a value stage: E[value | converted, row]
NO_VALUE = "these predictions have no value_if_converted (the run was trained without a value stage, --value-column)"


def threshold_table(y, score, value=None) -> pd.DataFrame:
    """Counts and metrics when flagging score >= threshold, one row per distinct score plus a first row threshold=+inf (flag nothing).

    Columns: threshold, tp, fp, fn, tn, precision, recall, f1, flagged_share; sorted by threshold descending.
    Precision is NaN where nothing is flagged, recall NaN when there are no positives, f1 NaN where tp is 0
    (precision and recall both 0 or undefined). A NaN score is never flagged, as `score >= threshold` says.
    With `value` (each row's value if it converts) also, summed over the flagged rows in the same pass:
    converted_value = sum of y * value and expected_value = sum of score * value (see with_value_profit).
    """
    y = np.asarray(y)
    score = np.asarray(score, dtype=np.float64)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"y and score must be 1-d and of equal length, not {y.shape} and {score.shape}")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("y must hold only 0 and 1")
    rows, positives = len(y), int(y.sum())
    order = np.argsort(-score, kind="stable")  # descending; NaN sorts last and is dropped below (stable: ~6x faster on sorted scores)
    scored = rows - int(np.isnan(score).sum())
    ranked = score[order[:scored]]
    ranked_y = y.astype(np.int8, copy=False)[order[:scored]]
    # A cut at a score flags every tied row, so counts are read at the last row of each run of equal scores.
    last = np.flatnonzero(ranked[1:] != ranked[:-1])
    cuts = len(last) + 1 if scored else 0
    threshold = np.empty(cuts + 1)
    threshold[0] = np.inf
    if scored:
        threshold[1:-1], threshold[-1] = ranked[last], ranked[-1]
    tp = _at_cuts(np.cumsum(ranked_y, dtype=np.int64), last, cuts)
    flagged = np.zeros(cuts + 1, dtype=np.int64)
    if scored:
        flagged[1:-1], flagged[-1] = last + 1, scored
    fp = flagged - tp
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is NaN: nothing flagged, no positives, no rows
        precision = tp / flagged
        recall = tp / positives
        f1 = 2 * tp / (flagged + positives)
        flagged_share = flagged / rows
    f1[tp == 0] = np.nan
    columns = {
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": positives - tp,
        "tn": (rows - positives) - fp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "flagged_share": flagged_share,
    }
    if value is not None:
        value = np.asarray(value, dtype=np.float64)
        if value.shape != score.shape:
            raise ValueError(f"value must be as long as score, not {value.shape} and {score.shape}")
        ranked_value = value[order[:scored]]
        if not np.isfinite(ranked_value).all():
            raise ValueError(f"value is missing or infinite on {int((~np.isfinite(ranked_value)).sum()):,} scored rows")
        columns["converted_value"] = _at_cuts(np.cumsum(ranked_y * ranked_value), last, cuts)
        columns["expected_value"] = _at_cuts(np.cumsum(ranked * ranked_value), last, cuts)
    return pd.DataFrame(columns, copy=False)  # copy=False also skips stacking columns into blocks: tens of ms at 1M rows


def _at_cuts(running: np.ndarray, last: np.ndarray, cuts: int) -> np.ndarray:
    """A running sum over the ranked rows read at each cut (the last row of each run of tied scores), 0 first (flag nothing)."""
    out = np.zeros(cuts + 1, dtype=running.dtype)
    if cuts:
        out[1:-1], out[-1] = running[last], running[-1]
    return out


def threshold_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    """threshold_table of a run's predictions frame (columns y and score, and value_if_converted when the run has a value stage)."""
    value = predictions["value_if_converted"].to_numpy() if VALUE_COLUMN in predictions else None
    return threshold_table(predictions["y"].to_numpy(), predictions["score"].to_numpy(), value)


def valued_frame(predictions: pd.DataFrame, value_tp: float, cost_fp: float, cost_fn: float) -> pd.DataFrame:
    """threshold_frame plus profit at these values and costs (see with_profit)."""
    return with_profit(threshold_frame(predictions), value_tp, cost_fp, cost_fn)


def at(table: pd.DataFrame, threshold: float) -> pd.Series:
    """The table row that applies to an arbitrary cut: the smallest table threshold >= the cut (a binary search, not a recount)."""
    if np.isnan(threshold):
        raise ValueError("threshold is NaN: pick a number")
    ascending = table["threshold"].to_numpy()[::-1]
    position = int(np.searchsorted(ascending, threshold, side="left"))  # always found: the last value is +inf
    row = len(table) - 1 - position
    # Built column by column so counts stay integers (iloc would turn the whole row into floats).
    values = [table.iat[row, column] for column in range(table.shape[1])]
    return pd.Series(values, index=table.columns, name=table.index[row], dtype=object)


def confusion(row: pd.Series) -> pd.DataFrame:
    """2x2 counts of one table row: index actual 1 / actual 0, columns flagged / not flagged."""
    counts = np.array([[row["tp"], row["fn"]], [row["fp"], row["tn"]]], dtype=np.int64)
    return pd.DataFrame(counts, index=["actual 1", "actual 0"], columns=["flagged", "not flagged"])


def with_profit(table: pd.DataFrame, value_tp: float, cost_fp: float, cost_fn: float) -> pd.DataFrame:
    """The table plus profit = value_tp*tp - cost_fp*fp - cost_fn*fn; costs are non-negative amounts.

    The first row (threshold=+inf) is the "flag nothing" baseline: profit = -cost_fn * positives. A cut only pays
    when its profit is above that baseline, which can still be a negative number when missed converters cost money.
    """
    for name, amount in (("value_tp", value_tp), ("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if not amount >= 0:
            raise ValueError(f"{name}={amount!r}: give values and costs as non-negative amounts")
    return table.assign(profit=value_tp * table["tp"] - cost_fp * table["fp"] - cost_fn * table["fn"])


def with_value_profit(table: pd.DataFrame, cost_per_action: float) -> pd.DataFrame:
    """A table made with values plus realised_profit and expected_profit; profit is expected_profit (what suggestions maximise).

    Each flagged row costs cost_per_action. realised_profit = converted_value - cost * flagged: a flagged row that
    converted (y=1) earns its value_if_converted. expected_profit = expected_value - cost * flagged = sum over flagged
    rows of (score * value_if_converted - cost), the run's expected_value column. A true positive is valued at
    value_if_converted, not expected_value: expected_value already multiplies by p, and a true positive has converted.
    Flagging nothing (the first row) makes 0 either way.
    """
    if "expected_value" not in table:
        raise DataError(f"{NO_VALUE}: use one constant value per true positive.")
    if not cost_per_action >= 0:
        raise ValueError(f"cost_per_action={cost_per_action!r}: give the cost as a non-negative amount")
    cost = cost_per_action * (table["tp"] + table["fp"])
    expected = table["expected_value"] - cost
    return table.assign(realised_profit=table["converted_value"] - cost, expected_profit=expected, profit=expected)


def every_cut_loses(table: pd.DataFrame, capacity: float | None = None) -> bool:
    """True when no cut (within `capacity`, a largest flagged share, if given) has a profit above flagging nothing.

    `table` must hold profit (see with_profit). True as well when there is no cut at all (no scored rows).
    """
    profit = table["profit"].to_numpy()
    allowed = _within(table, capacity)[1:]
    return not bool((profit[1:][allowed] > profit[0]).any())


def suggestions(
    table: pd.DataFrame,
    value_tp: float,
    cost_fp: float,
    cost_fn: float,
    min_precision: float = 0.5,
    min_recall: float = 0.8,
    top_share: float = 0.1,
    capacity: float | None = None,
    cost_per_action: float | None = None,
) -> pd.DataFrame:
    """Suggested cuts, one row each: max F1, max profit, precision >= p, recall >= r, top k%.

    Columns: suggestion, threshold, precision, recall, f1, flagged_share, profit, note.
    - max F1: the highest F1; ties go to the highest threshold (fewest rows flagged).
    - max profit: the highest profit among cuts flagging at most `capacity` of rows (when given); ties go to the
      highest threshold. It exists only when that profit is above flagging nothing (-cost_fn * positives).
    - precision >= p: the lowest threshold whose precision >= p (the most rows flagged while keeping precision).
    - recall >= r: the highest threshold whose recall >= r (the fewest rows flagged while keeping recall).
    - top k%: the lowest threshold that flags at most k% of rows (the largest such set).
    Suggestions are real cuts: the +inf "flag nothing" row is never suggested. When a suggestion does not exist,
    threshold and the numbers are NaN and `note` says why in words. A suggestion that flags more rows than
    `capacity` says so in its note.
    With `cost_per_action` (value mode; the table made with values) profit is with_value_profit's expected profit,
    value_tp and the costs are unused, the second row is "max expected profit" (above 0, flagging nothing) and a
    realised_profit column comes before note.
    """
    for name, share in (("min_precision", min_precision), ("min_recall", min_recall), ("top_share", top_share)):
        _check_share(name, share)
    if capacity is not None:
        _check_share("capacity", capacity)
    valued = cost_per_action is not None
    table = with_value_profit(table, cost_per_action) if valued else with_profit(table, value_tp, cost_fp, cost_fn)
    columns = [*SUGGESTION_COLUMNS[:-1], "realised_profit", "note"] if valued else SUGGESTION_COLUMNS
    cuts = table.iloc[1:]  # the +inf row flags nothing and is never a suggestion
    labels = [
        "max F1",
        "max expected profit" if valued else "max profit",
        f"precision ≥ {_percent(min_precision)}",
        f"recall ≥ {_percent(min_recall)}",
        f"top {_percent(top_share)}",
    ]
    if cuts.empty:
        return _suggestion_frame([{"suggestion": label, "note": "no scored predictions: nothing to cut"} for label in labels], columns)

    no_positives = table["tp"].iat[0] + table["fn"].iat[0] == 0
    profit = cuts["profit"].to_numpy()
    best_profit = _first_max(profit, _within(table, capacity)[1:])
    if best_profit is not None and not profit[best_profit] > table["profit"].iat[0]:
        best_profit = None
    if capacity is not None and not every_cut_loses(table):
        unprofitable = f"no cut flagging at most {_percent(capacity)} of rows beats flagging nothing at these costs: flag nothing"
    else:
        unprofitable = "every cut loses money at these costs: flag nothing"
    precise = np.flatnonzero(cuts["precision"].to_numpy() >= min_precision)
    recalled = np.flatnonzero(cuts["recall"].to_numpy() >= min_recall)
    small = np.flatnonzero(cuts["flagged_share"].to_numpy() <= top_share)
    if no_positives:
        no_f1 = no_recall = "no positives in these predictions: {} is undefined"
    else:
        no_f1, no_recall = "no cut flags a positive: {} is undefined", f"no cut reaches recall ≥ {_percent(min_recall)}"
    picks = [  # (position in cuts or None, why there is none)
        (_first_max(cuts["f1"].to_numpy(), np.ones(len(cuts), dtype=bool)), no_f1.format("F1")),
        (best_profit, unprofitable),
        (precise[-1] if len(precise) else None, f"no cut reaches precision ≥ {_percent(min_precision)}"),
        (recalled[0] if len(recalled) else None, no_recall.format("recall")),
        (small[-1] if len(small) else None, f"even the highest score alone flags more than {_percent(top_share)} of rows: no cut fits"),
    ]
    rows = []
    for label, (position, missing) in zip(labels, picks, strict=True):
        if position is None:
            rows.append({"suggestion": label, "note": missing})
            continue
        row = cuts.iloc[position]
        over = capacity is not None and row["flagged_share"] > capacity
        note = f"flags {row['flagged_share']:.1%} of rows, more than the {_percent(capacity)} capacity" if over else ""
        rows.append({"suggestion": label, **row.drop(["tp", "fp", "fn", "tn"]).to_dict(), "note": note})
    return _suggestion_frame(rows, columns)


def _suggestion_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows).reindex(columns=columns).astype({name: float for name in columns[1:-1]})


def _first_max(values: np.ndarray, allowed: np.ndarray) -> int | None:
    """Position of the largest non-NaN allowed value, the first one on ties (the table is sorted by threshold descending)."""
    usable = allowed & ~np.isnan(values)
    if not usable.any():
        return None
    return int(np.argmax(np.where(usable, values, -np.inf)))


def _within(table: pd.DataFrame, capacity: float | None) -> np.ndarray:
    """Rows flagging at most `capacity` of all rows; every row when capacity is None."""
    share = table["flagged_share"].to_numpy()
    return np.ones(len(share), dtype=bool) if capacity is None else share <= capacity


def _check_share(name: str, share: float) -> None:
    if not 0 <= share <= 1:
        raise ValueError(f"{name}={share!r}: give a share between 0 and 1")


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


# --- Threshold policies: how a cut was chosen, so a retrained model gets its own cut by the same rule -----------------

SUGGESTION_KINDS = ("max_f1", "max_profit", "precision", "recall", "top_share")  # the policy of each suggestions() row, in order
POLICY_PARAMS = {
    "max_f1": (),
    "max_profit": ("value_tp", "cost_fp", "cost_fn", "capacity"),
    "max_value_profit": ("cost_per_action", "capacity"),  # value mode: each row's value_if_converted per TP
    "precision": ("min_precision",),
    "recall": ("min_recall",),
    "top_share": ("top_share",),
    "fixed": ("threshold",),
}


def policy(kind: str, **params) -> dict:
    """A threshold policy {"kind", "params"}, checked: max_f1, max_profit, max_value_profit, precision, recall, top_share or fixed."""
    if kind not in POLICY_PARAMS:
        raise ValueError(f"threshold policy {kind!r} is not one of {', '.join(POLICY_PARAMS)}")
    wanted = POLICY_PARAMS[kind]
    if set(params) != set(wanted):
        raise ValueError(
            f"threshold policy {kind!r} takes {', '.join(wanted) or 'no parameters'}, not {', '.join(sorted(params)) or 'none'}"
        )
    checked = {}
    for name in wanted:
        value = params[name]
        if value is None and name == "capacity":
            checked[name] = None
            continue
        try:
            checked[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"threshold policy {kind!r}: {name}={value!r} is not a number") from None
        if np.isnan(checked[name]):
            raise ValueError(f"threshold policy {kind!r}: {name} is NaN")
        if name in ("min_precision", "min_recall", "top_share", "capacity"):
            _check_share(name, checked[name])
        if name == "cost_per_action" and checked[name] < 0:
            raise ValueError(f"threshold policy {kind!r}: cost_per_action={value!r}: give the cost as a non-negative amount")
    if kind == "max_profit":
        with_profit(pd.DataFrame({"tp": [], "fp": [], "fn": []}), checked["value_tp"], checked["cost_fp"], checked["cost_fn"])
    return {"kind": kind, "params": checked}


def suggestion_policy(
    position: int,
    value_tp: float,
    cost_fp: float,
    cost_fn: float,
    min_precision: float,
    min_recall: float,
    top_share: float,
    capacity,
    cost_per_action: float | None = None,
) -> dict:
    """The policy behind row `position` of suggestions() called with these arguments."""
    kind = SUGGESTION_KINDS[position]
    if kind == "max_profit" and cost_per_action is not None:
        kind = "max_value_profit"
    given = {"value_tp": value_tp, "cost_fp": cost_fp, "cost_fn": cost_fn, "capacity": capacity, "cost_per_action": cost_per_action}
    given |= {"min_precision": min_precision, "min_recall": min_recall, "top_share": top_share}
    return policy(kind, **{name: given[name] for name in POLICY_PARAMS[kind]})


def policy_cut(table: pd.DataFrame, chosen: dict) -> float:
    """The cut a policy gives on a threshold_table (its suggestion's threshold); NaN when the policy finds no cut there.

    max_value_profit needs a table made with values (threshold_frame of predictions with value_if_converted): DataError without.
    """
    chosen = policy(chosen["kind"], **chosen.get("params", {}))
    kind, params = chosen["kind"], chosen["params"]
    if kind == "fixed":
        return params["threshold"]
    costs = (params.get("value_tp", 1.0), params.get("cost_fp", 0.0), params.get("cost_fn", 0.0))
    limits = {k: params[k] for k in ("min_precision", "min_recall", "top_share", "capacity") if k in params}
    suggested = suggestions(table, *costs, **limits, cost_per_action=params.get("cost_per_action"))
    return float(suggested["threshold"].iat[SUGGESTION_KINDS.index("max_profit" if kind == "max_value_profit" else kind)])


def policy_text(chosen: dict) -> str:
    """The policy in words, e.g. "precision ≥ 70%" or "max profit (value 10 per TP, cost 1.5 per FP, 0 per FN)"."""
    kind, params = chosen["kind"], chosen.get("params", {})
    if kind == "max_profit":
        text = f"max profit (value {params['value_tp']:g} per TP, cost {params['cost_fp']:g} per FP, {params['cost_fn']:g} per FN"
        return text + (f", capacity {_percent(params['capacity'])})" if params.get("capacity") is not None else ")")
    if kind == "max_value_profit":
        text = f"max expected profit (each row's value if converted per TP, cost {params['cost_per_action']:g} per action"
        return text + (f", capacity {_percent(params['capacity'])})" if params.get("capacity") is not None else ")")
    return {
        "max_f1": lambda: "max F1",
        "precision": lambda: f"precision ≥ {_percent(params['min_precision'])}",
        "recall": lambda: f"recall ≥ {_percent(params['min_recall'])}",
        "top_share": lambda: f"top {_percent(params['top_share'])}",
        "fixed": lambda: f"fixed cut {params['threshold']:g}",
    }[kind]()


def slider_span(score, step: float) -> tuple[float, float]:
    """(low, high): the lowest and highest finite score rounded outward to `step`, at least one step apart; (0, 1) without scores."""
    score = np.asarray(score, dtype=np.float64)
    finite = score[np.isfinite(score)]
    if not len(finite):
        return 0.0, 1.0
    digits = max(0, -int(np.floor(np.log10(step))))
    low = round(float(np.floor(finite.min() / step + 1e-9)) * step, digits)  # the nudge keeps 0.53 from rounding to 0.5301
    high = round(float(np.ceil(finite.max() / step - 1e-9)) * step, digits)
    return low, max(high, round(low + step, digits))

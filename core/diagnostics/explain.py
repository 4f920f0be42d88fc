"""SHAP diagnostics from a run's `shap.parquet`: importance, beeswarm, dependence, waterfall, by group.

The frame holds one row per explained test row: `row` (the key predictions.parquet shares), each
feature's raw value under its own name, `shap.<feature>` per feature and `shap._base`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError

ROW_KEY = "row"  # the key predictions.parquet and shap.parquet share
PREFIX = "shap."
BASE = "shap._base"
MISSING = "(missing)"

NOTES = {
    "gbdt": "SHAP values are in log-odds (LightGBM pred_contrib): they add up to the model's raw score before calibration.",
    "linear": "SHAP values are exact for the logistic regression, in log-odds: each is the coefficient times the value's distance "
    "from the training mean, and they add up to the model's raw score before calibration.",
    "forest": "SHAP values are in probability (shap TreeExplainer on the random forest): they add up to the forest's "
    "predicted probability before calibration.",
    "ensemble": "SHAP values are in log-odds (stacking of gbdt and linear members): the meta-model's weights times its members' "
    "log-odds SHAP values, adding up to the ensemble's raw log-odds before calibration.",
    "hashed_sgd": "No SHAP values for hashed SGD: hashed tokens of different columns share weights (collisions), "
    "so a contribution per column is not defined.",
}


def explanation(estimator, X: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A sample of test rows with `row` (their key), their feature values and `shap.<feature>` contributions."""
    sample = X.sample(min(rows, len(X)), random_state=seed) if len(X) else X
    contributions = estimator.contributions(sample)
    return pd.concat([sample.reset_index(names=ROW_KEY), contributions.add_prefix(PREFIX).reset_index(drop=True)], axis=1)


def features(shap: pd.DataFrame) -> list[str]:
    """The explained features, in the frame's order (from the `shap.` columns, without `_base`)."""
    return [c.removeprefix(PREFIX) for c in shap.columns if c.startswith(PREFIX) and c != BASE]


def mean_abs(shap: pd.DataFrame) -> pd.DataFrame:
    """Global importance. Columns: feature, mean_abs_shap (largest first)."""
    names = features(shap)
    values = shap[[PREFIX + f for f in names]].abs().mean().to_numpy() if names else np.array([], dtype=float)
    frame = pd.DataFrame({"feature": names, "mean_abs_shap": values})
    return frame.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def is_number(column: pd.Series) -> bool:
    """Numbers get a colour scale; text, categories and booleans (categories to every family) do not."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def as_text(column: pd.Series) -> pd.Series:
    """Values as hover text: numbers with 6 significant digits, missing as "(missing)"."""
    missing = column.isna().to_numpy()
    if is_number(column):
        text = np.char.mod("%.6g", column.to_numpy(dtype=float, na_value=np.nan))
    else:
        text = column.astype("string").fillna(MISSING).to_numpy(dtype=object)
    return pd.Series(np.where(missing, MISSING, text).astype(object), index=column.index)


def value_rank(column: pd.Series) -> pd.Series:
    """Rank of each number within the column scaled to [0, 1] (ties share their mean rank); NaN for text and missing."""
    if not is_number(column):
        return pd.Series(np.nan, index=column.index)
    present = int(column.count())
    if present <= 1:
        return pd.Series(np.where(column.notna(), 0.5, np.nan), index=column.index)
    return (column.rank(method="average") - 1) / (present - 1)


def _top(shap: pd.DataFrame, top: int | None) -> list[str]:
    order = mean_abs(shap)["feature"].tolist()
    return order if top is None else order[:top]


def _check_feature(shap: pd.DataFrame, feature: str) -> None:
    if feature not in features(shap) or feature not in shap.columns:
        raise DataError(f"No SHAP values for feature {feature!r}; explained features are: {', '.join(features(shap))}.")


def beeswarm(shap: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """Long form for the `top` features, most important first. Columns: row, feature, shap, value (text), colour.

    `colour` is the value's rank within its feature scaled to [0, 1] for numbers; NaN for text and missing values.
    """
    names = _top(shap, top)
    parts = [
        pd.DataFrame(
            {
                "row": shap["row"].to_numpy(),
                "feature": f,
                "shap": shap[PREFIX + f].to_numpy(dtype=float),
                "value": as_text(shap[f]).to_numpy(),
                "colour": value_rank(shap[f]).to_numpy(dtype=float),
            }
        )
        for f in names
    ]
    if not parts:
        return pd.DataFrame({"row": [], "feature": [], "shap": [], "value": [], "colour": []})
    return pd.concat(parts, ignore_index=True)


def _raw_or_category(column: pd.Series) -> pd.Series:
    """Numbers as floats (NaN kept); anything else as a category of its text, missing as "(missing)" listed last."""
    if is_number(column):
        return column.astype(float)
    text = as_text(column)
    levels = sorted(set(text.unique()) - {MISSING})
    if (text == MISSING).any():
        levels.append(MISSING)
    return pd.Series(pd.Categorical(text, categories=levels), index=column.index)


def dependence(shap: pd.DataFrame, feature: str, colour_by: str | None = None) -> pd.DataFrame:
    """One feature's SHAP value against its raw value. Columns: row, value, shap, colour.

    `value` is float for numbers (NaN kept) or a category of text; `colour` is `colour_by`'s raw value the same way,
    or NaN when no feature colours the points.
    """
    _check_feature(shap, feature)
    if colour_by is not None:
        _check_feature(shap, colour_by)
    colour = _raw_or_category(shap[colour_by]) if colour_by is not None else pd.Series(np.nan, index=shap.index)
    frame = pd.DataFrame({"row": shap["row"], "value": _raw_or_category(shap[feature]), "shap": shap[PREFIX + feature].astype(float)})
    frame["colour"] = colour
    return frame.reset_index(drop=True)


def waterfall(shap: pd.DataFrame, row, top: int = 12) -> pd.DataFrame:
    """The path from the base value to one row's total. Columns: feature, value (text), shap, start, end.

    Features by |SHAP| largest first; those beyond the `top` are folded into one "(N other features)" bar (when
    N ≥ 2). The first `start` is the base value and the last `end` is base + sum of SHAP: the model's raw output.
    """
    hits = np.flatnonzero((shap["row"] == row).to_numpy())
    if not len(hits):
        raise DataError(f"Row {row!r} is not among the {len(shap):,} explained rows; pick a row key from the SHAP sample.")
    one = shap.iloc[hits[0]]
    names = features(shap)
    contribution = one[[PREFIX + f for f in names]].to_numpy(dtype=float)
    order = np.argsort(-np.abs(contribution), kind="stable")
    kept, folded = order[:top], order[top:]
    if len(folded) == 1:
        kept, folded = order, order[:0]
    frame = pd.DataFrame(
        {
            "feature": [names[i] for i in kept],
            "value": [as_text(shap[names[i]].iloc[hits[:1]]).iloc[0] for i in kept],
            "shap": contribution[kept],
        }
    )
    if len(folded):
        other = pd.DataFrame({"feature": [f"({len(folded)} other features)"], "value": [None], "shap": [contribution[folded].sum()]})
        frame = pd.concat([frame, other], ignore_index=True)
    base = float(one[BASE])
    frame["end"] = base + frame["shap"].cumsum()
    frame["start"] = frame["end"] - frame["shap"]
    frame.loc[0:0, "start"] = base  # exact, not end - shap
    return frame[["feature", "value", "shap", "start", "end"]]


PICKS = ("highest score", "just above the cut", "just below the cut", "lowest score")


def waterfall_rows(shap: pd.DataFrame, predictions: pd.DataFrame, cut: float) -> pd.DataFrame:
    """Explained rows worth a waterfall, picked by score. Columns: pick, row, score, y.

    In PICKS order: the highest score, the lowest score at or above `cut`, the highest below it, the lowest score
    (equal scores: the smaller row key); a row picked twice keeps its first pick, and a pick with no row is left out.
    """
    if "row" not in predictions:  # runs logged before predictions carried the row key: no score to pick by
        return pd.DataFrame({"pick": pd.Series(dtype=object), "row": [], "score": [], "y": []})
    scored = predictions[["row", "score", "y"]].drop_duplicates("row").merge(shap[["row"]].drop_duplicates(), on="row")
    up = scored.sort_values(["score", "row"], kind="stable")
    down = scored.sort_values(["score", "row"], ascending=[False, True], kind="stable")
    firsts = (down, up[up["score"] >= cut], down[down["score"] < cut], up)
    picked = [part.head(1).assign(pick=pick) for pick, part in zip(PICKS, firsts, strict=True) if len(part)]
    out = pd.concat(picked, ignore_index=True) if picked else scored.assign(pick="")
    return out.drop_duplicates("row")[["pick", "row", "score", "y"]].reset_index(drop=True)


def by_group(shap: pd.DataFrame, groups: pd.Series, top: int = 10) -> pd.DataFrame:
    """Mean |SHAP| of the `top` features per group. Columns: group, feature, mean_abs_shap, rows.

    `groups` holds one label per shap row, by position (a segment's values or window labels); missing is "(missing)".
    Groups in text order ("(missing)" last), features most important first.
    """
    if len(groups) != len(shap):
        raise ValueError(f"groups has {len(groups)} labels for {len(shap)} SHAP rows")
    names = _top(shap, top)
    labels = pd.Series(groups).astype("string").fillna(MISSING).to_numpy(dtype=object)
    absolute = shap[[PREFIX + f for f in names]].abs().set_axis(names, axis=1).set_axis(labels, axis=0)
    means = absolute.groupby(level=0, sort=False).mean()
    counts = pd.Series(labels).value_counts()
    order = sorted(set(means.index) - {MISSING}) + ([MISSING] if MISSING in means.index else [])
    means = means.reindex(order)
    out = means.rename_axis(index="group", columns="feature").stack(future_stack=True).rename("mean_abs_shap").reset_index()
    out["rows"] = counts.reindex(out["group"]).to_numpy(dtype=int)
    return out


def joined(shap: pd.DataFrame, predictions: pd.DataFrame, columns) -> pd.DataFrame:
    """The shap rows, in order, with prediction `columns` (time, segments) joined on `row`; unmatched rows get missing.

    Columns already in the shap frame (a segment that is also a feature) are kept from it, not added twice.
    """
    if "row" not in predictions:  # runs logged before predictions carried the row key: nothing to join on
        return shap.copy()
    wanted = [c for c in dict.fromkeys(columns) if c not in shap.columns]
    unknown = [c for c in wanted if c not in predictions.columns]
    if unknown:
        raise DataError(f"The predictions have no column {unknown[0]!r}; columns are: {', '.join(map(str, predictions.columns))}.")
    right = predictions[["row", *wanted]].drop_duplicates("row")
    return shap.merge(right, on="row", how="left", validate="many_to_one")


def window_labels(times, length_days: int = 7) -> pd.Series:
    """Calendar window of each time, windows of `length_days` from the first day: "2026-03-02 → 03-09" (end excluded).

    The end shows its year when it differs from the start's; missing times get a missing label.
    """
    times = pd.Series(pd.to_datetime(times))
    if times.notna().sum() == 0:
        return pd.Series(pd.NA, index=times.index, dtype="string")
    first = times.min().normalize()
    length = pd.Timedelta(days=length_days)
    number = (times - first) // length
    present = number.dropna().astype(int).unique()
    starts = first + pd.to_timedelta(present * length_days, unit="D")
    ends = starts + length
    text = [f"{s:%Y-%m-%d} → {e:%m-%d}" if s.year == e.year else f"{s:%Y-%m-%d} → {e:%Y-%m-%d}" for s, e in zip(starts, ends, strict=True)]
    return number.map(dict(zip(present, text, strict=True))).astype("string")


def log_odds_note(family: str) -> str:
    """One sentence saying what the SHAP values of a model family are, for the page."""
    return NOTES.get(family, f"SHAP values of {family} models: their scale depends on the model family.")

"""Feature drift against the training reference: quantile bins and top levels from DuckDB, per-day bucket counts of new
rows, PSI, unseen and missing shares per window, and reference-vs-current histograms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core import data
from core.diagnostics.rolling import _bin_shares, _psi_from_shares, _quantile_cuts
from core.errors import DataError
from core.sql import compile_filters, ident, is_numeric
from models.base import as_float, as_text

if TYPE_CHECKING:
    from core.spec import TrainSpec

BINS = 10  # numeric references are cut at their deciles, as core.diagnostics.rolling.psi cuts scores
MAX_LEVELS = 50  # a categorical keeps its most frequent levels; the rest pool into OTHER
OTHER, UNSEEN, MISSING = "(other)", "(unseen)", "(missing)"
NAT = np.iinfo(np.int64).min
DRIFT_COLUMNS = [
    "start", "end", "feature", "kind", "psi", "unseen_share", "missing_reference", "missing_current", "missing_change", "rows",
    "psi_noise",
]  # fmt: skip
HISTOGRAM_COLUMNS = ["feature", "bin", "order", "reference_share", "current_share"]
REFERENCE_COLUMNS = ["feature", "kind", "order", "bin", "upper", "share", "rows"]


@dataclass
class FeatureReference:
    """One feature at training: numeric bins (inner cuts `edges`) or text `levels`; `shares` per bin or level, missing last."""

    name: str
    kind: str  # "numeric" | "categorical"
    edges: np.ndarray
    levels: list[str]
    shares: np.ndarray
    missing_share: float
    rows: int = 0

    @property
    def pooled(self) -> bool:
        """True when levels past the top MAX_LEVELS were pooled into OTHER (its last level): then no level counts as unseen."""
        return self.kind == "categorical" and len(self.levels) > MAX_LEVELS

    def labels(self) -> list[str]:
        """Every bucket's label in count order: bins or levels, then UNSEEN, then MISSING."""
        if self.kind == "categorical":
            return [*self.levels, UNSEEN, MISSING]
        bounds = ["-inf", *(f"{edge:.6g}" for edge in self.edges), "inf"]
        bins = [f"({lo}, {hi}]" for lo, hi in zip(bounds[:-2], bounds[1:-1], strict=True)] + [f"({bounds[-2]}, inf)"]
        return [*bins, UNSEEN, MISSING]

    def bucket_shares(self) -> np.ndarray:
        """The reference shares laid out as DriftCounts counts them: bins or levels, UNSEEN (always 0), MISSING."""
        return np.concatenate([self.shares[:-1], [0.0], self.shares[-1:]])


def reference_profile(con, spec: TrainSpec, features: dict[str, str], before=None) -> dict[str, FeatureReference]:
    """Each feature's reference over the run's training rows (spec.dataset, spec.filter, a target, and time < `before` when
    given), computed in DuckDB: quantile_cont deciles and bin counts for numerics, the top levels for the rest.

    `features` maps input column -> DuckDB type at training: numeric per core.sql.is_numeric, anything else (booleans too)
    categorical. Non-finite numbers count as missing, as every model family reads them.
    """
    ds = data.resolve(con, spec.dataset)
    cols = data.columns(con, ds)
    unknown = [name for name in features if name not in cols]
    if unknown:
        raise DataError(
            f"Feature column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} not in {ds.name}; the reference needs them."
        )
    where, where_params = compile_filters(spec.filter, cols)
    where += f" AND {ident(spec.target)} IS NOT NULL"  # the rows training read
    if before is not None:
        if not spec.time_column:
            raise DataError("A reference cut at a time needs the run's time column; this run has none.")
        where += f" AND {ident(spec.time_column)} < ?"
        where_params.append(pd.Timestamp(before).to_pydatetime())
    src, src_params = data.source(ds, con)
    params = [*src_params, *where_params]
    rows = int(data.query(con, ds, f"SELECT count(*) FROM {src} WHERE {where}", params).iloc[0, 0])
    if not rows:
        at = f" before {pd.Timestamp(before)}" if before is not None else ""
        which = " match the run's filter" if spec.filter else " have a target"
        raise DataError(f"No rows of {ds.name}{at}{which}, so there is no training reference to measure drift against.")
    refs = {}
    for names in data.column_chunks([name for name, kind in features.items() if is_numeric(kind or "")]):
        refs.update(_numeric_references(con, ds, names, f"{src} WHERE {where}", params, rows))
    for name in features:
        if name not in refs:
            refs[name] = _level_reference(con, ds, name, src, where, params)
    return {name: refs[name] for name in features}


def _numeric_references(con, ds, names: list[str], rows_from: str, params: list, rows: int) -> dict[str, FeatureReference]:
    """Numeric references in two scans: deciles, maximum and count of each column, then the count at or below each cut."""
    finite = ", ".join(
        f"CASE WHEN isfinite(CAST({ident(name)} AS DOUBLE)) THEN CAST({ident(name)} AS DOUBLE) END AS v{i}" for i, name in enumerate(names)
    )
    rows_sql = f"(SELECT {finite} FROM {rows_from})"
    fractions = list(np.linspace(0, 1, BINS + 1)[1:-1])
    stats = ", ".join(f"quantile_cont(v{i}, ?::DOUBLE[]), max(v{i}), count(v{i})" for i in range(len(names)))
    found = data.query(con, ds, f"SELECT {stats} FROM {rows_sql}", [*[fractions] * len(names), *params]).iloc[0].tolist()
    edges, present = [], []
    for i in range(len(names)):
        cuts, top, count = found[3 * i : 3 * i + 3]
        cuts = np.unique(np.asarray(cuts if count else [], dtype=float))  # no values: NULL quantiles, one bin
        edges.append(cuts[cuts < top] if len(cuts) else cuts)  # a cut at the maximum would leave the last bin empty
        present.append(int(count))
    counts = [f"count(*) FILTER (WHERE v{i} <= ?)" for i, cuts in enumerate(edges) for _ in cuts]
    below = np.array([], dtype=np.int64)
    if counts:
        cut_values = [float(cut) for cuts in edges for cut in cuts]
        below = data.query(con, ds, f"SELECT {', '.join(counts)} FROM {rows_sql}", [*cut_values, *params]).iloc[0].to_numpy(np.int64)
    refs, at = {}, 0
    for name, cuts, count in zip(names, edges, present, strict=True):
        bins = np.diff(np.concatenate([[0], below[at : at + len(cuts)], [count]]))
        at += len(cuts)
        missing = (rows - count) / rows
        refs[name] = FeatureReference(name, "numeric", cuts, [], np.append(bins / rows, missing), missing, rows)
    return refs


def _level_reference(con, ds, name: str, src: str, where: str, params: list) -> FeatureReference:
    """A categorical's reference: the missing count, the top MAX_LEVELS levels as text and OTHER for the rest, via GROUP BY."""
    sql = f"""
        WITH g AS (SELECT {ident(name)} AS level, count(*) AS n FROM {src} WHERE {where} GROUP BY ALL)
        SELECT level, n, sum(n) OVER () AS total FROM g
        QUALIFY row_number() OVER (ORDER BY level IS NULL DESC, n DESC, level) <= ?"""
    found = data.query(con, ds, sql, [*params, MAX_LEVELS + 1], arrow=True)  # values as training and scoring read them
    rows = int(found["total"].iloc[0])
    text = as_text(found["level"].astype(object))
    missing = int(found.loc[text.isna(), "n"].sum())
    top = found.loc[text.notna(), "n"].groupby(text[text.notna()].to_numpy(), sort=False).sum().head(MAX_LEVELS)
    return _categorical(name, list(top.index), top.to_numpy(dtype=float), rows, missing)


def _categorical(name: str, levels: list[str], counts: np.ndarray, rows: int, missing: int) -> FeatureReference:
    """A categorical reference from its top levels' counts; the rest of the present rows pool into OTHER."""
    other = rows - missing - counts.sum()
    if other > 0:
        levels, counts = [*levels, OTHER], np.append(counts, other)
    return FeatureReference(name, "categorical", np.array([]), levels, np.append(counts, missing) / rows, missing / rows, rows)


def reference_from_values(name: str, values, kind: str = "numeric") -> FeatureReference:
    """A reference from values in memory, binned as core.diagnostics.rolling.psi bins them (tests, benchmarks, small data)."""
    column = pd.Series(values)
    rows = len(column)
    if kind == "numeric":
        numbers = as_float(column).to_numpy()
        present = np.sort(numbers[np.isfinite(numbers)])
        cuts = _quantile_cuts(present, BINS)
        shares = _bin_shares(present, cuts) * len(present) / rows if len(present) else np.zeros(1)
        missing = (rows - len(present)) / rows
        return FeatureReference(name, "numeric", cuts, [], np.append(shares, missing), missing, rows)
    text = as_text(column)
    counts = text.dropna().value_counts()
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))].head(MAX_LEVELS)
    return _categorical(name, list(counts.index), counts.to_numpy(dtype=float), rows, int(text.isna().sum()))


def reference_frame(refs: Mapping[str, FeatureReference]) -> pd.DataFrame:
    """The references as one tidy table (logged as reference.parquet). Columns: feature, kind, order, bin, upper, share, rows;
    `upper` is a numeric bin's right edge (inf for the last), NaN for levels and the missing bucket, which comes last."""
    parts = []
    for ref in refs.values():
        labels = ref.labels()
        bins = [*labels[:-2], MISSING]
        upper = [*ref.edges, np.inf] if ref.kind == "numeric" else [np.nan] * (len(bins) - 1)
        parts.append(
            pd.DataFrame(
                {"feature": ref.name, "kind": ref.kind, "order": np.arange(len(bins)), "bin": bins,
                 "upper": np.append(np.asarray(upper, dtype=float), np.nan), "share": ref.shares, "rows": ref.rows}
            )
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REFERENCE_COLUMNS)


def references_from_frame(frame: pd.DataFrame) -> dict[str, FeatureReference]:
    """The references back from `reference_frame`'s table."""
    refs = {}
    for name, part in frame.sort_values("order", kind="stable").groupby("feature", sort=False):
        kind, values = part["kind"].iloc[0], part.iloc[:-1]  # the missing bucket is the last row
        edges = values["upper"].to_numpy(dtype=float)[:-1] if kind == "numeric" else np.array([])
        levels = [] if kind == "numeric" else [str(level) for level in values["bin"]]
        shares = part["share"].to_numpy(dtype=float)
        refs[name] = FeatureReference(str(name), kind, edges, levels, shares, float(shares[-1]), int(part["rows"].iloc[0]))
    order = pd.unique(frame["feature"])
    return {name: refs[name] for name in order}


class DriftCounts:
    """Per day since `origin_ns` and per feature, how many new rows fell in each reference bucket (bins or levels, UNSEEN,
    MISSING). Memory grows with days and buckets, not rows; `add` chunk by chunk, then read windows."""

    def __init__(self, refs: Mapping[str, FeatureReference], origin_ns: int, day_ns: float = 86_400e9):
        self.refs = dict(refs)
        self.origin_ns = int(origin_ns)
        self.day_ns = int(round(day_ns))
        self.first_day = 0
        self.counts = {name: np.zeros((0, len(ref.shares) + 1), dtype=np.int64) for name, ref in self.refs.items()}

    @property
    def days(self) -> int:
        return len(next(iter(self.counts.values()))) if self.counts else 0

    def add(self, features: pd.DataFrame, times_ns: np.ndarray) -> None:
        """Counts a chunk: `features` holds every reference column, `times_ns` the rows' times (int64 ns; NaT rows are skipped)."""
        absent = [name for name in self.refs if name not in features]
        if absent:
            raise DataError(f"The rows to monitor have no column {', '.join(map(repr, absent))}; the model was trained with it.")
        times = _as_ns(times_ns)
        known = times != NAT
        if not known.any():
            return
        day = np.floor_divide(np.where(known, times, self.origin_ns) - self.origin_ns, self.day_ns)
        self._cover(int(day[known].min()), int(day[known].max()))
        offset = day - self.first_day
        if not known.all():
            offset = offset[known]
        for name, ref in self.refs.items():
            width = len(ref.shares) + 1
            buckets = _buckets(ref, features[name])
            flat = offset * width + (buckets if known.all() else buckets[known])
            self.counts[name] += np.bincount(flat, minlength=self.days * width).reshape(self.days, width)

    def _cover(self, low: int, high: int) -> None:
        """Widens the day arrays to hold days `low`..`high`."""
        if not self.days:
            self.first_day = low
        before = max(0, self.first_day - low)
        after = max(0, high - (self.first_day + self.days - 1))
        if before or after:
            self.counts = {name: np.pad(counts, ((before, after), (0, 0))) for name, counts in self.counts.items()}
            self.first_day -= before

    def _window_counts(self, starts: np.ndarray, ends: np.ndarray) -> dict[str, np.ndarray]:
        """Per feature, bucket counts summed over the days whose start lies in each window [start, end)."""

        def day_index(ns):
            first = -((self.origin_ns - ns) // self.day_ns)  # ceil: the first day starting at or after ns
            return np.clip(first - self.first_day, 0, self.days)

        lo, hi = day_index(starts), day_index(ends)
        hi = np.maximum(hi, lo)
        out = {}
        for name, counts in self.counts.items():
            running = np.vstack([np.zeros((1, counts.shape[1]), np.int64), np.cumsum(counts, axis=0)])
            out[name] = running[hi] - running[lo]
        return out

    def window_drift(self, starts_ns, ends_ns) -> pd.DataFrame:
        """Drift per window [start, end) and feature. Columns: DRIFT_COLUMNS, sorted by start, then psi descending.

        psi is core.diagnostics.rolling's sum of (c - r) * ln(c / r) over the reference's bins or levels, UNSEEN (reference share 0) and
        MISSING, shares over all rows, an empty share counting as PSI_EMPTY_SHARE; NaN for a window without rows.
        unseen_share is NaN for numerics and for categoricals whose rare levels were pooled (unseen cannot be told from rare).
        psi_noise = (buckets with a reference share - 1) × (1/rows + 1/reference rows): PSI's expected value without drift.
        Windows sum whole days: a day counts when its start lies in [start, end), exact for the midnight-aligned, whole-day
        windows core.diagnostics.rolling.windows makes when `origin_ns` is the first day's midnight.
        """
        starts, start_values = _as_ns(starts_ns), _stamps(starts_ns)
        ends, end_values = _as_ns(ends_ns), _stamps(ends_ns)
        parts = []
        for name, window in self._window_counts(starts, ends).items():
            ref = self.refs[name]
            rows = window.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                current = window / rows[:, None]
            reference = ref.bucket_shares()
            psi = np.array([_psi_from_shares(reference, shares) if n else np.nan for shares, n in zip(current, rows, strict=True)])
            unseen = current[:, -2] if ref.kind == "categorical" and not ref.pooled else np.full(len(rows), np.nan)
            # PSI's mean with no drift at all is about (buckets - 1)(1/n + 1/m) (a chi-square over n): a small window's PSI
            # is mostly this noise, which the feature_psi rule allows for.
            spread = max(int((reference > 0).sum()) - 1, 1) * (1.0 / np.maximum(rows, 1) + (1.0 / ref.rows if ref.rows else 0.0))
            parts.append(
                pd.DataFrame(
                    {"start": start_values, "end": end_values, "feature": name, "kind": ref.kind, "psi": psi, "unseen_share": unseen,
                     "missing_reference": ref.missing_share, "missing_current": current[:, -1],
                     "missing_change": current[:, -1] - ref.missing_share, "rows": rows, "psi_noise": np.where(rows > 0, spread, np.nan),
                     "_start": starts}
                )
            )  # fmt: skip
        if not parts:
            return pd.DataFrame(columns=DRIFT_COLUMNS)
        table = pd.concat(parts, ignore_index=True)
        order = np.lexsort((-table["psi"].fillna(-np.inf).to_numpy(), table["_start"].to_numpy()))
        return table.iloc[order].drop(columns="_start").reset_index(drop=True)

    def histogram(self, start_ns=None, end_ns=None) -> pd.DataFrame:
        """Reference vs current share per bucket for one window [start, end) or, by default, every counted day.
        Columns: HISTOGRAM_COLUMNS; UNSEEN only for categoricals that can have it; current_share NaN without rows."""
        first = self.origin_ns + self.first_day * self.day_ns
        low = np.array([first if start_ns is None else _as_ns([start_ns])[0]], dtype=np.int64)
        high = np.array([first + self.days * self.day_ns if end_ns is None else _as_ns([end_ns])[0]], dtype=np.int64)
        parts = []
        for name, window in self._window_counts(low, high).items():
            ref, counts = self.refs[name], window[0]
            keep = np.ones(len(counts), bool)
            keep[-2] = ref.kind == "categorical" and not ref.pooled
            current = counts / counts.sum() if counts.sum() else np.full(len(counts), np.nan)
            parts.append(
                pd.DataFrame(
                    {"feature": name, "bin": np.array(ref.labels(), dtype=object)[keep], "order": np.arange(keep.sum()),
                     "reference_share": ref.bucket_shares()[keep], "current_share": current[keep]}
                )
            )  # fmt: skip
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=HISTOGRAM_COLUMNS)


def _buckets(ref: FeatureReference, column: pd.Series) -> np.ndarray:
    """Each row's bucket index: its right-closed bin or its level, UNSEEN (len(shares) - 1), MISSING (len(shares))."""
    unseen, missing = len(ref.shares) - 1, len(ref.shares)
    if ref.kind == "numeric":
        values = as_float(column).to_numpy()
        # v in (c[i-1], c[i]] -> i, the number of cuts below v: a few comparisons beat np.searchsorted's per-value search ~15x.
        buckets = np.zeros(len(values), np.uint8 if missing < 255 else np.int64)
        above = np.empty(len(values), bool)
        for edge in ref.edges:
            buckets += np.greater(values, edge, out=above)
        buckets[~np.isfinite(values)] = missing
        return buckets
    codes, uniques = pd.factorize(column)  # text conversion on the distinct values only
    mapped = pd.Index(ref.levels, dtype=object).get_indexer(as_text(pd.Series(uniques, dtype=object)))
    mapped[mapped < 0] = unseen - 1 if ref.pooled else unseen  # pooled: a level outside the top ones is OTHER
    return np.append(mapped, missing)[codes]


def _as_ns(values) -> np.ndarray:
    """Times as int64 ns (wall clock for zoned times); ints pass through."""
    if isinstance(values, pd.Series | pd.DatetimeIndex) and pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.DatetimeIndex(values)
        stamps = stamps.tz_localize(None) if stamps.tz is not None else stamps
        return stamps.as_unit("ns").asi8
    array = np.asarray(values)
    if array.dtype.kind == "M" or array.dtype == object:
        return _as_ns(pd.DatetimeIndex(pd.to_datetime(array)))
    if array.dtype.kind == "f":  # int64 ns read from arrow with nulls arrive as float64 with NaN
        return np.where(np.isnan(array), NAT, np.nan_to_num(array)).astype(np.int64)
    return array.astype(np.int64)


def _stamps(values) -> pd.Series:
    """Window bounds to show: datetimes as given (zone kept), int64 ns as naive datetimes."""
    if isinstance(values, pd.Series | pd.DatetimeIndex) and pd.api.types.is_datetime64_any_dtype(values):
        return pd.Series(values).reset_index(drop=True)
    return pd.Series(pd.to_datetime(_as_ns(values)))

"""Feature drift: PSI by hand, the DuckDB reference against numpy and pandas, chunked counting, histograms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core import data
from core.diagnostics.rolling import PSI_EMPTY_SHARE, psi
from core.errors import DataError
from core.monitoring.drift import (
    DRIFT_COLUMNS,
    HISTOGRAM_COLUMNS,
    MISSING,
    OTHER,
    UNSEEN,
    DriftCounts,
    FeatureReference,
    reference_frame,
    reference_from_values,
    reference_profile,
    references_from_frame,
)
from core.spec import TrainSpec

DAY = 86_400 * 10**9
E = PSI_EMPTY_SHARE


def term(current: float, reference: float) -> float:
    """One bucket's PSI term, an empty share counting as 1e-4."""
    current, reference = current or E, reference or E
    return (current - reference) * np.log(current / reference)


def one_window(refs: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """window_drift of `frame` counted on day 0, as one window [0, 1 day), indexed by feature."""
    counts = DriftCounts(refs, origin_ns=0)
    counts.add(frame, np.zeros(len(frame), np.int64))
    return counts.window_drift(np.array([0]), np.array([DAY])).set_index("feature")


def test_numeric_psi_by_hand_with_empty_bins_and_equal_to_rolling_psi():
    reference = np.arange(1, 11, dtype=float)  # deciles 1.9, 2.8, ..., 9.1: ten bins of share 0.1
    ref = reference_from_values("x", reference)
    assert ref.edges == pytest.approx([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1])
    assert ref.shares == pytest.approx([0.1] * 10 + [0.0])
    current = [1.0, 1.0, 2.0, 10.0, 10.0]  # bins (-inf, 1.9]: 2/5, (1.9, 2.8]: 1/5, (9.1, inf): 2/5, seven bins empty
    expected = term(0.4, 0.1) + term(0.2, 0.1) + term(0.4, 0.1) + 7 * term(0, 0.1)
    row = one_window({"x": ref}, pd.DataFrame({"x": current})).loc["x"]
    assert row.psi == pytest.approx(expected, rel=1e-12)
    assert row.psi == pytest.approx(psi(reference, current), rel=1e-12)
    assert (row.kind, row.rows, row.missing_current, row.missing_change) == ("numeric", 5, 0.0, 0.0)
    assert np.isnan(row.unseen_share)


def test_values_on_a_cut_fall_in_the_bin_it_closes():
    ref = reference_from_values("x", [1.0, 2.0, 3.0, 4.0])  # deciles dedupe to cuts below the maximum 4
    current = np.concatenate([ref.edges, [0.0, 4.0, 99.0]])
    row = one_window({"x": ref}, pd.DataFrame({"x": current})).loc["x"]
    assert row.psi == pytest.approx(psi([1.0, 2.0, 3.0, 4.0], current), rel=1e-12)


def test_missing_values_are_their_own_bucket():
    reference = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan, np.inf]  # inf reads as missing, as models read it
    ref = reference_from_values("x", reference)
    assert ref.missing_share == 0.2
    assert ref.shares.sum() == pytest.approx(1.0)
    assert ref.shares[-1] == 0.2
    # Current: half missing, the rest all at 1 (the first bin, reference share 0.1 of all rows).
    row = one_window({"x": ref}, pd.DataFrame({"x": [np.nan, None, 1.0, 1.0]})).loc["x"]
    bins = ref.shares[:-1]
    expected = term(0.5, bins[0]) + sum(term(0, share) for share in bins[1:]) + term(0.5, 0.2)
    assert row.psi == pytest.approx(expected, rel=1e-12)
    assert (row.missing_reference, row.missing_current) == (0.2, 0.5)
    assert row.missing_change == pytest.approx(0.3)


def test_categorical_psi_with_an_unseen_level_and_a_level_gone():
    ref = reference_from_values("c", ["a", "a", "b", "b"], "categorical")
    assert ref.levels == ["a", "b"] and list(ref.shares) == [0.5, 0.5, 0.0]
    # Current: a 1/4, b gone, "z" unseen 1/2, missing 1/4.
    row = one_window({"c": ref}, pd.DataFrame({"c": ["a", "z", "z", None]})).loc["c"]
    expected = term(0.25, 0.5) + term(0, 0.5) + term(0.5, 0) + term(0.25, 0)
    assert row.psi == pytest.approx(expected, rel=1e-12)
    assert (row.kind, row.unseen_share, row.missing_current, row.missing_change) == ("categorical", 0.5, 0.25, 0.25)
    # Two reference buckets hold rows (a, b): noise (2 - 1) x (1/4 current rows + 1/4 reference rows).
    assert row.psi_noise == pytest.approx(0.5)


def test_categories_compare_as_text():
    ref = reference_from_values("c", [True, False, True, True], "categorical")
    assert ref.levels == ["True", "False"]
    same = one_window({"c": ref}, pd.DataFrame({"c": ["True", "False", "True", "True"]})).loc["c"]
    assert (same.psi, same.unseen_share) == (0.0, 0.0)
    numbers = reference_from_values("n", [1, 1, 2], "categorical")
    assert one_window({"n": numbers}, pd.DataFrame({"n": ["1", "2", "1"]})).loc["n"].psi == 0.0


def test_rare_levels_pool_into_other_and_are_not_unseen():
    values = [f"l{i:02d}" for i in range(60) for _ in range(60 - i)]  # 60 levels, l00 most frequent
    ref = reference_from_values("c", values, "categorical")
    assert len(ref.levels) == 51 and ref.levels[-1] == OTHER and ref.pooled
    assert ref.shares[-2] == pytest.approx(sum(60 - i for i in range(50, 60)) / len(values))
    row = one_window({"c": ref}, pd.DataFrame({"c": ["l55", "never seen"]})).loc["c"]  # both count as OTHER
    assert np.isnan(row.unseen_share)
    assert row.psi == pytest.approx(term(1.0, ref.shares[-2]) + sum(term(0, s) for s in ref.shares[:-2]), rel=1e-12)


def spec_on(dataset: str, **kw) -> TrainSpec:
    return TrainSpec(dataset=dataset, target="converted", **kw)


def test_reference_profile_matches_numpy_and_pandas(tiny_con):
    from tests.conftest import TINY

    features = {"spend": "DOUBLE", "hour": "INTEGER", "channel": "VARCHAR", "flag": "BOOLEAN"}
    refs = reference_profile(tiny_con, spec_on("tiny.parquet", time_column="event_time"), features)
    assert list(refs) == list(features)
    spend = refs["spend"]
    present = TINY["spend"].dropna().to_numpy()
    assert spend.kind == "numeric" and spend.rows == 10
    assert spend.edges == pytest.approx(np.quantile(present, np.linspace(0, 1, 11)[1:-1]), rel=1e-12)
    assert spend.missing_share == 0.1 and spend.shares.sum() == pytest.approx(1.0)
    memory = reference_from_values("spend", TINY["spend"])
    assert spend.shares == pytest.approx(memory.shares, rel=1e-12)
    assert refs["hour"].edges == pytest.approx(np.quantile(TINY["hour"], np.linspace(0, 1, 11)[1:-1]), rel=1e-12)
    channel = refs["channel"]
    counts = TINY["channel"].value_counts() / 10
    assert channel.kind == "categorical" and channel.levels == ["social", "search", "email"]
    assert channel.shares == pytest.approx([*counts[channel.levels], 0.1])
    assert refs["flag"].levels == ["False", "True"]  # booleans are categorical, as text; a 5/5 tie breaks by value
    assert refs["flag"].shares == pytest.approx([0.5, 0.5, 0.0])


def test_reference_profile_before_and_filters_restrict_rows(tiny_con):
    from tests.conftest import TINY

    spec = spec_on("tiny.parquet", time_column="event_time", filter=[("device", "=", "mobile")])
    refs = reference_profile(tiny_con, spec, {"spend": "DOUBLE", "channel": "VARCHAR"}, before=pd.Timestamp("2026-01-12"))
    rows = TINY[(TINY["device"] == "mobile") & (TINY["event_time"] < "2026-01-12")]
    assert refs["spend"].rows == len(rows) == 4
    assert refs["spend"].edges == pytest.approx(np.quantile(rows["spend"].dropna(), np.linspace(0, 1, 11)[1:-1]), rel=1e-12)
    assert refs["spend"].missing_share == 0.25
    shares = rows["channel"].value_counts() / len(rows)
    assert dict(zip(refs["channel"].levels, refs["channel"].shares, strict=False)) == pytest.approx(shares.to_dict())
    assert refs["channel"].missing_share == 0.25
    with pytest.raises(DataError, match="No rows of tiny.parquet before 2025-01-01 00:00:00 match the run.s filter"):
        reference_profile(tiny_con, spec, {"spend": "DOUBLE"}, before=pd.Timestamp("2025-01-01"))
    with pytest.raises(DataError, match="nope"):
        reference_profile(tiny_con, spec, {"nope": "DOUBLE"})


def test_reference_profile_on_messy_names_and_types(messy_root):
    from tests.conftest import messy_frame

    con = data.connect(messy_root)
    cols = data.columns(con, "messy.parquet")
    features = {name: cols[name] for name in ["price[usd]", "a,b", 'col "q"', "{x}: y", "größe m²", "it's", "flag on", "select"]}
    refs = reference_profile(con, spec_on("messy.parquet", filter=[("{x}: y", ">=", 1)]), features)
    frame = messy_frame()
    rows = frame[frame["{x}: y"] >= 1]
    for name in ["price[usd]", "a,b", "{x}: y", "größe m²"]:
        deciles = np.unique(np.quantile(rows[name], np.linspace(0, 1, 11)[1:-1]))
        assert refs[name].edges == pytest.approx(deciles[deciles < rows[name].max()], rel=1e-9)  # a cut at the max is dropped
        assert refs[name].shares == pytest.approx(reference_from_values(name, rows[name]).shares, rel=1e-12)
    assert refs["it's"].missing_share == pytest.approx(rows["it's"].isna().mean())
    for name in ['col "q"', "flag on", "select"]:
        assert refs[name].kind == "categorical"
        counts = rows[name].astype(str).value_counts(normalize=True)
        assert dict(zip(refs[name].levels, refs[name].shares, strict=False)) == pytest.approx(counts.to_dict())


def test_reference_frame_round_trip():
    refs = {
        "x": reference_from_values("x", [1.0, 2.0, 3.0, np.nan]),
        "c": reference_from_values("c", ["a", "b", None], "categorical"),
        "empty": reference_from_values("empty", [None, None], "categorical"),
    }
    frame = reference_frame(refs)
    assert list(frame.columns) == ["feature", "kind", "order", "bin", "upper", "share", "rows"]
    back = references_from_frame(frame)
    assert list(back) == list(refs)
    for name, ref in refs.items():
        got = back[name]
        assert (got.name, got.kind, got.levels, got.missing_share, got.rows) == (
            ref.name,
            ref.kind,
            ref.levels,
            ref.missing_share,
            ref.rows,
        )
        assert np.array_equal(got.edges, ref.edges) and np.array_equal(got.shares, ref.shares)


def drifting_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(rng.random(), 1, rows)),
            "c": rng.choice(np.array(["a", "b", "c", "new", None], dtype=object), rows, p=[0.4, 0.3, 0.2, 0.05, 0.05]),
        }
    )
    return frame, rng.integers(0, 6 * DAY, rows)


@pytest.fixture(scope="module")
def refs() -> dict[str, FeatureReference]:
    rng = np.random.default_rng(1)
    return {
        "x": reference_from_values("x", rng.normal(0, 1, 500)),
        "c": reference_from_values("c", rng.choice(["a", "b", "c"], 500), "categorical"),
    }


def test_chunks_give_the_same_windows_as_one_add(refs):
    frame, times = drifting_frame(3_000, 2)
    starts = np.arange(0, 6) * DAY
    whole = DriftCounts(refs, 0)
    whole.add(frame, times)
    chunked = DriftCounts(refs, 0)
    for part in np.array_split(np.arange(len(frame)), 3):
        chunked.add(frame.iloc[part], times[part])
    one, three = whole.window_drift(starts, starts + 2 * DAY), chunked.window_drift(starts, starts + 2 * DAY)
    assert list(one.columns) == DRIFT_COLUMNS
    pd.testing.assert_frame_equal(one, three)
    assert (one.groupby("start")["psi"].apply(lambda p: p.is_monotonic_decreasing)).all()
    assert one["start"].is_monotonic_increasing


def test_a_window_sums_its_days(refs):
    frame, times = drifting_frame(3_000, 3)
    counts = DriftCounts(refs, 0)
    counts.add(frame, times)
    inside = (times >= DAY) & (times < 4 * DAY)
    expected = one_window(refs, frame[inside])
    got = counts.window_drift(np.array([DAY]), np.array([4 * DAY])).set_index("feature")
    pd.testing.assert_frame_equal(got.drop(columns=["start", "end"]), expected.drop(columns=["start", "end"]))
    assert got.loc["x", "rows"] == inside.sum()
    empty = counts.window_drift(np.array([10 * DAY]), np.array([17 * DAY]))
    assert (empty["rows"] == 0).all() and empty["psi"].isna().all()


def test_times_before_the_origin_missing_times_and_datetime_bounds(refs):
    frame, _ = drifting_frame(4, 4)
    times = np.array([-DAY, 0, np.iinfo(np.int64).min, 2 * DAY])
    counts = DriftCounts(refs, DAY)  # the origin is day 1: one row before it, one with no time
    counts.add(frame, times)
    starts = pd.Series(pd.to_datetime([-DAY, 0]))
    table = counts.window_drift(starts, starts + pd.Timedelta(days=1))
    assert table.groupby("start")["rows"].first().tolist() == [1, 1]
    assert counts.histogram().groupby("feature")["current_share"].sum().tolist() == [1.0, 1.0]
    again = DriftCounts(refs, DAY)  # epoch ns read from arrow with a null arrive as floats with NaN
    again.add(frame, pa.array([-DAY, 0, None, 2 * DAY], pa.int64()).to_numpy(zero_copy_only=False))
    pd.testing.assert_frame_equal(again.window_drift(starts, starts + pd.Timedelta(days=1)), table)
    with pytest.raises(DataError, match="'c'"):
        counts.add(frame.drop(columns="c"), times)


def test_histogram_shares_sum_to_one_and_label_buckets(refs):
    frame, times = drifting_frame(2_000, 5)
    counts = DriftCounts(refs, 0)
    counts.add(frame, times)
    for hist in (counts.histogram(), counts.histogram(2 * DAY, 3 * DAY)):
        assert list(hist.columns) == HISTOGRAM_COLUMNS
        sums = hist.groupby("feature")[["reference_share", "current_share"]].sum()
        assert np.allclose(sums.to_numpy(), 1.0)
    hist = counts.histogram()
    cat = hist[hist.feature == "c"]
    assert cat["bin"].tolist() == [*refs["c"].levels, UNSEEN, MISSING]
    assert cat.set_index("bin").loc[UNSEEN, "current_share"] == pytest.approx((frame["c"] == "new").mean())
    numeric = hist[hist.feature == "x"]["bin"].tolist()
    assert numeric[0].startswith("(-inf, ") and numeric[-2].endswith(", inf)") and numeric[-1] == MISSING
    assert UNSEEN not in numeric
    day = counts.histogram(2 * DAY, 3 * DAY)
    stamps = counts.histogram(pd.Timestamp(2 * DAY), pd.Timestamp(3 * DAY, tz="UTC"))  # wall clock of a zoned bound
    pd.testing.assert_frame_equal(stamps, day)
    in_day = frame[(times >= 2 * DAY) & (times < 3 * DAY)]
    assert day.set_index(["feature", "bin"]).loc[("x", MISSING), "current_share"] == pytest.approx(in_day["x"].isna().mean())


def test_the_training_rows_read_as_scoring_reads_them_show_no_drift(messy_root):
    from core.score import scoring_batches

    con = data.connect(messy_root)
    cols = data.columns(con, "messy.parquet")
    features = {name: kind for name, kind in cols.items() if name != "converted"}  # the timestamp too, as a categorical
    spec = spec_on("messy.parquet", time_column="seen at")
    refs = reference_profile(con, spec, features)
    counts = DriftCounts(refs, origin_ns=pd.Timestamp("2026-01-01").value)
    for keys, frame in scoring_batches(con, "messy.parquet", list(features), batch_rows=250, keys=["seen at"]):
        counts.add(frame, keys.column(0).to_numpy())
    table = counts.window_drift(np.array([pd.Timestamp("2026-01-01").value]), np.array([pd.Timestamp("2026-02-01").value]))
    assert (table["rows"] == 600).all()
    assert table["psi"].max() < 1e-12
    assert (table.loc[table.kind == "categorical", "unseen_share"].fillna(0) == 0).all()
    assert refs["seen at"].pooled  # 500-odd distinct times: the top 50 and (other)


def test_a_wide_dataset_is_profiled_in_column_chunks(tmp_path):
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({f"x{i}": rng.integers(0, 20, 40).astype(float) for i in range(data.CHUNK_COLUMNS + 7)})
    frame["x3"] = np.nan  # a column with no values: one bin of share 0, all missing
    frame["converted"] = rng.integers(0, 2, 40)
    frame.to_parquet(tmp_path / "wide.parquet", index=False)
    con = data.connect(tmp_path)
    features = {name: "DOUBLE" for name in frame.columns if name != "converted"}
    refs = reference_profile(con, spec_on("wide.parquet"), features)
    assert list(refs) == list(features)
    for name, ref in refs.items():
        memory = reference_from_values(name, frame[name])
        assert np.array_equal(ref.edges, memory.edges) and ref.shares == pytest.approx(memory.shares, rel=1e-12)
    assert list(refs["x3"].shares) == [0.0, 1.0]

import numpy as np
import pandas as pd
import pytest

from core.diagnostics import calibration, diagnose, rolling, slice_finder, slices, threshold


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """4,000 predictions in time order, with tied scores, a missing segment value and a rare one."""
    rng = np.random.default_rng(5)
    n = 4_000
    score = np.round(rng.beta(1, 12, n), 3)  # rounded: many ties, as isotonic scores have
    frame = pd.DataFrame(
        {
            "row": np.arange(n) * 3,
            "y": (rng.random(n) < score * 1.2).astype(np.int64),
            "score": score,
            "score_raw": np.clip(score * 1.1, 0, 1),
            "time": pd.Timestamp("2026-09-01") + pd.to_timedelta(np.sort(rng.integers(0, 28 * 86_400, n)), unit="s"),
            "channel": pd.array(rng.choice(["search", "social", "email", None], n, p=[0.5, 0.3, 0.19, 0.01]), dtype="string"),
            "device": pd.array(rng.choice(["mobile", "desktop"], n), dtype="string"),
        }
    )
    return frame


def test_prepared_orders_by_score_and_codes_segments_keeping_every_row(predictions):
    ready = diagnose.prepared(predictions)
    assert ready["score"].is_monotonic_increasing
    assert all(isinstance(ready[c].dtype, pd.CategoricalDtype) for c in ("channel", "device"))
    again = ready.set_index("row").loc[predictions["row"]]
    assert (again["score"].to_numpy() == predictions["score"].to_numpy()).all()
    assert again["channel"].astype("string").equals(predictions.set_index("row")["channel"])
    # Ties keep their order (a stable sort): gain and lift split tied blocks by row order.
    tied = ready[ready["score"] == ready["score"].mode()[0]]["row"]
    assert tied.is_monotonic_increasing
    assert diagnose.prepared(ready) is ready


def test_everything_on_a_prepared_frame_equals_each_function_on_the_raw_frame(predictions):
    shuffled = predictions.sample(frac=1, random_state=1)  # as a filter or a file may hand them over
    options = diagnose.Options(resamples=50, slice_min_rows=200)
    numbers = diagnose.everything(shuffled, None, options)
    cut = float(numbers["threshold_at"]["chosen"].iloc[0])
    valued = threshold.with_profit(threshold.threshold_frame(shuffled), options.value_tp, options.cost_fp, options.cost_fn)
    expected = {
        "headline": diagnose.headline(shuffled, options.resamples),
        "calibration": diagnose.calibration_compare(shuffled),
        "reliability": diagnose.reliability(shuffled),
        "threshold_curve": valued,
        "windows": rolling.windows(shuffled, 7, 1, threshold=cut, conversion_days=options.conversion_days),
        "slices": slice_finder.find_slices(shuffled, ["channel", "device"], min_rows=200),
    }
    for column in ("channel", "device"):
        expected[f"segments.{column}"] = slices.segment_metrics(shuffled, column)
        expected[f"calibration_by.{column}"] = calibration.by_group(shuffled, column)
        expected[f"parity.{column}"] = slices.parity(shuffled, column, cut)
    for name, table in expected.items():
        pd.testing.assert_frame_equal(numbers[name], table, check_exact=False, rtol=1e-9, obj=name)
    # Tied scores straddling a decile cut are split by row order, and the stable sort keeps that order.
    assert numbers["gain_lift"].equals(diagnose.gain_lift(shuffled))


def test_everything_keeps_the_table_names_the_report_writes(predictions):
    numbers = diagnose.everything(predictions, None, diagnose.Options(resamples=20))
    assert list(numbers)[:5] == ["headline", "calibration", "reliability_raw", "reliability", "gain_lift"]
    assert [n for n in numbers if "." in n] == [
        "segments.channel", "calibration_by.channel", "parity.channel", "segments.device", "calibration_by.device", "parity.device",
    ]  # fmt: skip
    assert "slices" in numbers and "windows" in numbers and "shap_importance" not in numbers


def test_the_opening_cut_is_max_profit_and_says_so_else_max_f1_else_fixed():
    frame = pd.DataFrame({"y": [1, 0, 1, 0], "score": [0.9, 0.8, 0.4, 0.1]})
    # Profit at value 1, cost 0.1 per FP: cut 0.9 → 1.0, 0.8 → 0.9, 0.4 → 1.9, 0.1 → 1.8.
    cut, policy = diagnose.opening_cut(frame, 1.0, 0.1, 0.0)
    assert cut == 0.4
    assert policy == {"kind": "max_profit", "params": {"value_tp": 1.0, "cost_fp": 0.1, "cost_fn": 0.0, "capacity": None}}
    assert threshold.policy_cut(threshold.threshold_frame(frame), policy) == cut  # a retrain finds the same cut by it
    # The top row a non-converter and 5 per FP: every cut loses (0.9 → -5, 0.8 → -4, 0.4 → -3, 0.1 → -8), so max F1
    # takes over (F1 0, 0.5, 0.8, 2/3): cut 0.4.
    frame = pd.DataFrame({"y": [0, 1, 1, 0], "score": [0.9, 0.8, 0.4, 0.1]})
    cut, policy = diagnose.opening_cut(frame, 1.0, 5.0, 0.0)
    assert (cut, policy) == (0.4, {"kind": "max_f1", "params": {}})


def test_read_predictions_gives_what_prepared_makes_of_the_text(predictions, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = {"row": str, "channel": "str", "device": "str"}  # as the training job writes them (pandas' default text)
    frame = predictions.astype(text).assign(city=np.where(predictions["y"] == 1, "Zürich", "Ærø"))
    # Small row groups: each holds its own dictionary, in its own order of appearance.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "p.parquet", row_group_size=700)
    read = diagnose.read_predictions(tmp_path / "p.parquet")
    assert read["row"].dtype == predictions["row"].astype(str).dtype  # the row key stays text
    assert list(read["city"].cat.categories) == ["Zürich", "Ærø"] and list(read["channel"].cat.categories) == ["email", "search", "social"]
    pd.testing.assert_frame_equal(diagnose.prepared(read), diagnose.prepared(pd.read_parquet(tmp_path / "p.parquet")))

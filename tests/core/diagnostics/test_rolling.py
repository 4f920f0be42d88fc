import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

from core.diagnostics.intervals import Z95, wilson_interval
from core.diagnostics.metrics import ece
from core.diagnostics.rolling import COLUMNS, PSI_EMPTY_SHARE, psi, span_note, windows
from core.errors import DataError
from core.plots.over_time import metric_over_time, psi_over_time

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-01-05")  # a Monday at midnight


def frame_of(times, y, score) -> pd.DataFrame:
    return pd.DataFrame({"y": np.asarray(y, dtype=int), "score": np.asarray(score, dtype=float), "time": pd.to_datetime(times)})


# Six rows on one day, checked by hand below. Scores 0.1 0.3 0.3 0.6 0.8 0.9, converters at 0.3, 0.8 and 0.9.
SIX_SCORE = [0.1, 0.3, 0.3, 0.6, 0.8, 0.9]
SIX_Y = [0, 1, 0, 0, 1, 1]
SIX = frame_of([T0 + pd.Timedelta(hours=h) for h in range(6)], SIX_Y, SIX_SCORE)


def simulated(rows: int, days: int, seed: int = 0, decimals: int | None = 2) -> pd.DataFrame:
    """Calibrated scores (y ~ Bernoulli(score)) spread over `days`; rounding makes many tied scores."""
    rng = np.random.default_rng(seed)
    score = rng.beta(1, 8, rows)
    if decimals is not None:
        score = np.round(score, decimals)
    times = T0 + pd.to_timedelta(rng.uniform(0, days * 86_400, rows), unit="s")
    return frame_of(times, rng.random(rows) < score, score)


# --- PSI -----------------------------------------------------------------------------------------


def test_psi_by_hand():
    reference = np.arange(1, 11)  # quantile cuts for 2 bins: 5.5 -> bins (-inf, 5.5], (5.5, inf), shares 1/2, 1/2
    current = [1, 1, 1, 1, 1, 1, 9, 9]  # shares 3/4, 1/4
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.25 * math.log(3))


def test_psi_empty_bin_counts_as_the_small_share():
    current = [1, 2]  # every value in the first bin; the second is empty and counts as 1e-4
    expected = (1 - 0.5) * math.log(1 / 0.5) + (PSI_EMPTY_SHARE - 0.5) * math.log(PSI_EMPTY_SHARE / 0.5)
    assert PSI_EMPTY_SHARE == 1e-4
    assert psi(np.arange(1, 11), current, bins=2) == pytest.approx(expected, rel=1e-12)


def test_psi_bins_are_right_closed_with_open_outer_edges_and_merged_cuts():
    reference = [0, 0, 0, 1, 1]  # quantile cuts 0, 0, 0 (bins=4) merge into one: bins (-inf, 0], (0, inf), shares 3/5, 2/5
    current = [-5, 0, 7, 7]  # -5 falls in the open first bin, 7 in the open last bin: shares 1/2, 1/2
    expected = (0.5 - 0.6) * math.log(0.5 / 0.6) + (0.5 - 0.4) * math.log(0.5 / 0.4)
    assert psi(reference, current, bins=4) == pytest.approx(expected, rel=1e-12)
    assert psi(reference, reference, bins=4) == 0.0
    assert psi([3, 3, 3], [1, 9], bins=10) == 0.0  # one distinct reference value: a single bin, nothing can shift
    assert math.isnan(psi([], [1.0]))


# --- window grid and boundaries ------------------------------------------------------------------


BOUNDARY = frame_of(
    [T0, T0 + pd.Timedelta(hours=18), T0 + DAY, T0 + DAY + pd.Timedelta(hours=9), T0 + 2 * DAY],
    [1, 0, 0, 1, 1],
    [0.9, 0.2, 0.4, 0.7, 0.6],
)


def test_windows_include_their_start_and_exclude_their_end():
    table = windows(BOUNDARY, length_days=1, step_days=1)
    assert list(table.columns) == COLUMNS
    assert list(table["start"]) == [T0, T0 + DAY, T0 + 2 * DAY]
    assert list(table["end"]) == [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]
    # The row at exactly T0 + 1 day belongs to the second window, not the first; the last row (exactly midnight) gets a window.
    assert list(table["rows"]) == [2, 2, 1]
    assert list(table["positives"]) == [1, 1, 1]


def test_longer_windows_overlap_and_step():
    table = windows(BOUNDARY, length_days=2, step_days=1)
    assert list(table["rows"]) == [4, 3, 1]  # [T0, T0+2d) stops before the row at T0+2d
    assert list(windows(BOUNDARY, length_days=2, step_days=2)["rows"]) == [4, 1]


def test_first_window_starts_at_midnight_of_the_first_day():
    frame = frame_of([T0 + pd.Timedelta(hours=15), T0 + pd.Timedelta(days=3, hours=1)], [1, 0], [0.5, 0.5])
    table = windows(frame, length_days=2, step_days=1)
    assert list(table["start"]) == [T0 + k * DAY for k in range(4)]  # every start <= the last time
    assert list(table["rows"]) == [1, 0, 1, 1]


def test_an_empty_window_is_kept_with_a_note():
    frame = frame_of([T0, T0 + 2 * DAY], [1, 0], [0.8, 0.3])
    table = windows(frame, length_days=1, step_days=1)
    empty = table.iloc[1]
    assert (empty["rows"], empty["positives"]) == (0, 0)
    assert "no rows in this window" in empty["note"]
    assert empty[["base_rate", "mean_score", "roc_auc", "ece", "psi", "precision", "est_roc_auc"]].isna().all()


def test_rows_with_a_missing_time_fall_in_no_window():
    frame = frame_of([T0, pd.NaT, T0 + pd.Timedelta(hours=1)], [1, 1, 0], [0.7, 0.5, 0.2])
    assert list(windows(frame)["rows"]) == [2]


def test_zoned_times_are_windowed_by_wall_clock():
    frame = frame_of(["2026-03-28 23:30", "2026-03-29 00:00", "2026-03-30 12:00"], [1, 0, 1], [0.6, 0.4, 0.3])
    frame["time"] = frame["time"].dt.tz_localize("Europe/Paris")  # clocks go forward on 2026-03-29
    table = windows(frame, length_days=1, step_days=1)
    assert list(table["start"]) == list(pd.to_datetime(["2026-03-28", "2026-03-29", "2026-03-30"]).tz_localize("Europe/Paris"))
    assert list(table["rows"]) == [1, 1, 1]


def test_length_and_step_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        windows(SIX, length_days=0)


# --- every column on a tiny window ---------------------------------------------------------------


def test_every_column_of_a_tiny_window_by_hand():
    row = windows(SIX, length_days=1, threshold=0.6).iloc[0]
    assert (row["rows"], row["positives"]) == (6, 3)
    assert row["base_rate"] == 0.5
    lo, hi = wilson_interval(3, 6)
    assert (row["base_rate_lo"], row["base_rate_hi"]) == pytest.approx((float(lo), float(hi)), rel=1e-12)
    assert row["mean_score"] == pytest.approx(3.0 / 6, rel=1e-12)
    # Pairs (positive, negative): 0.3 beats 0.1, ties 0.3 and loses to 0.6 -> 1.5; 0.8 and 0.9 beat all three -> 6.
    auc = 7.5 / 9
    assert row["roc_auc"] == pytest.approx(auc, rel=1e-12)
    q1, q2 = 5 / 7, 25 / 33  # A / (2 - A) and 2 A^2 / (1 + A) at A = 5/6
    se = math.sqrt((auc * (1 - auc) + 2 * (q1 - auc**2) + 2 * (q2 - auc**2)) / 9)
    assert (row["roc_auc_lo"], row["roc_auc_hi"]) == pytest.approx((auc - Z95 * se, min(auc + Z95 * se, 1.0)), rel=1e-12)
    # Cuts 0.9 and 0.8 each add a third of recall at precision 1, cut 0.3 the last third at precision 3/5.
    assert row["pr_auc"] == pytest.approx(1 / 3 + 1 / 3 + 1 / 3 * 3 / 5, rel=1e-12)
    # ECE bins: 0.1 gap 0.1; 0.3 and 0.3 (one converter) gap 0.4; 0.6 gap 0.6; 0.8 gap 0.2; 0.9 gap 0.1.
    assert row["ece"] == pytest.approx((0.1 + 0.4 + 0.6 + 0.2 + 0.1) / 6, rel=1e-12)
    assert row["calibration_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert (row["calibration_ratio_lo"], row["calibration_ratio_hi"]) == pytest.approx((0.5 / float(hi), 0.5 / float(lo)), rel=1e-12)
    assert row["psi"] == 0.0  # the first window is the reference
    # Flag score >= 0.6 (0.6 itself is flagged): 0.6, 0.8, 0.9 -> two of three flagged convert, two of three converters flagged.
    assert (row["precision"], row["recall"]) == pytest.approx((2 / 3, 2 / 3), rel=1e-12)
    assert row["est_precision"] == pytest.approx((0.6 + 0.8 + 0.9) / 3, rel=1e-12)
    assert row["est_recall"] == pytest.approx((0.6 + 0.8 + 0.9) / 3.0, rel=1e-12)
    assert row["few_positives"] and row["mature"] and not row["drift"]
    assert row["note"] == "few positives (3 < 30): wide intervals"


def test_estimated_roc_auc_of_two_rows_by_hand():
    # Each row is a positive of weight score and a negative of weight 1 - score. Pairs: 0.6 over 0.2 -> 0.6 * 0.8 = 0.48;
    # 0.2 over 0.6 -> 0; each row with itself is a tie -> half of 0.2 * 0.8 and of 0.6 * 0.4. Total weights 0.8 and 1.2.
    frame = frame_of([T0, T0 + pd.Timedelta(hours=1)], [0, 1], [0.2, 0.6])
    expected = (0.48 + 0.5 * 0.16 + 0.5 * 0.24) / (0.8 * 1.2)
    assert windows(frame).iloc[0]["est_roc_auc"] == pytest.approx(expected, rel=1e-12)


def test_estimated_roc_auc_matches_a_brute_force_pair_count():
    score = np.array(SIX_SCORE)
    pos, neg = score[:, None], (1 - score)[None, :]
    wins = (score[:, None] > score[None, :]) + 0.5 * (score[:, None] == score[None, :])
    expected = (pos * neg * wins).sum() / (score.sum() * (1 - score).sum())
    assert windows(SIX).iloc[0]["est_roc_auc"] == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def tied_table():
    frame = simulated(6_000, days=20, seed=3)
    return frame, windows(frame, length_days=5, step_days=2, threshold=0.2, min_positives=100)


def test_every_window_matches_scikit_learn_and_core_metrics(tied_table):
    frame, table = tied_table
    assert len(table) == 10
    first = frame[(frame["time"] >= table["start"][0]) & (frame["time"] < table["end"][0])]
    for _, row in table.iterrows():
        part = frame[(frame["time"] >= row["start"]) & (frame["time"] < row["end"])]
        y, score = part["y"].to_numpy(), part["score"].to_numpy()
        flagged = (score >= 0.2).astype(int)
        assert (row["rows"], row["positives"]) == (len(part), y.sum())
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-9)
        assert row["pr_auc"] == pytest.approx(average_precision_score(y, score), abs=1e-9)
        assert row["ece"] == pytest.approx(ece(y, score), abs=1e-12)
        assert row["mean_score"] == pytest.approx(score.mean(), abs=1e-12)
        assert row["precision"] == pytest.approx(precision_score(y, flagged), abs=1e-12)
        assert row["recall"] == pytest.approx(recall_score(y, flagged), abs=1e-12)
        assert row["est_precision"] == pytest.approx(score[flagged == 1].mean(), abs=1e-12)
        assert row["est_recall"] == pytest.approx(score[flagged == 1].sum() / score.sum(), abs=1e-12)
        assert row["psi"] == pytest.approx(psi(first["score"], score), abs=1e-12)
        assert row["few_positives"] == (y.sum() < 100)
        assert row["roc_auc_lo"] < row["roc_auc"] < row["roc_auc_hi"]


def test_untied_scores_also_match_scikit_learn():
    frame = simulated(3_000, days=6, seed=5, decimals=None)
    table = windows(frame, length_days=3, step_days=3)
    for _, row in table.iterrows():
        part = frame[(frame["time"] >= row["start"]) & (frame["time"] < row["end"])]
        assert row["roc_auc"] == pytest.approx(roc_auc_score(part["y"], part["score"]), abs=1e-9)
        assert row["pr_auc"] == pytest.approx(average_precision_score(part["y"], part["score"]), abs=1e-9)


def test_estimates_match_realised_metrics_on_a_large_calibrated_sample():
    frame = simulated(400_000, days=7, seed=11, decimals=None)
    row = windows(frame, threshold=0.25).iloc[0]
    assert row["est_roc_auc"] == pytest.approx(row["roc_auc"], abs=0.01)
    assert row["est_precision"] == pytest.approx(row["precision"], abs=0.01)
    assert row["est_recall"] == pytest.approx(row["recall"], abs=0.01)


def test_the_estimated_roc_auc_interval_is_hanley_mcneil_at_the_expected_counts():
    frame = frame_of([T0, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)], [0, 1, 0], [0.2, 0.6, 0.5])
    row = windows(frame).iloc[0]
    auc, positives, negatives = row["est_roc_auc"], 1.3, 1.7  # expected counts: the sum of scores, and the rest
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (positives * negatives))
    assert (row["est_roc_auc_lo"], row["est_roc_auc_hi"]) == pytest.approx((max(auc - Z95 * se, 0), min(auc + Z95 * se, 1)))


def test_realised_roc_auc_of_calibrated_windows_falls_in_the_estimates_interval():
    table = windows(simulated(60_000, days=20, seed=13, decimals=None), length_days=2, step_days=2)
    inside = (table["est_roc_auc_lo"] <= table["roc_auc"]) & (table["roc_auc"] <= table["est_roc_auc_hi"])
    assert inside.mean() >= 0.8  # a 95% interval: 10 windows, so at most two misses by chance


# --- single class, few positives, notes -----------------------------------------------------------


def test_a_window_with_one_class_has_no_auc_and_says_why():
    frame = frame_of([T0, T0 + pd.Timedelta(hours=2), T0 + DAY, T0 + DAY + pd.Timedelta(hours=1)], [0, 0, 1, 1], [0.2, 0.7, 0.4, 0.9])
    table = windows(frame, length_days=1, step_days=1, threshold=0.5)
    negatives, positives = table.iloc[0], table.iloc[1]
    assert negatives[["roc_auc", "roc_auc_lo", "pr_auc", "recall", "calibration_ratio", "calibration_ratio_hi"]].isna().all()
    assert negatives["note"].startswith("no positives: ROC AUC, PR AUC, recall and calibration ratio undefined")
    assert negatives["precision"] == 0.0 and negatives["est_precision"] == pytest.approx(0.7)
    assert positives[["roc_auc", "pr_auc"]].isna().all()
    assert positives["note"].startswith("no negatives: ROC AUC and PR AUC undefined")
    assert positives["recall"] == 0.5 and positives["calibration_ratio"] == pytest.approx(0.65)
    assert not table["drift"].any()


def test_no_flagged_rows_means_no_precision_with_a_note():
    row = windows(SIX, threshold=0.95).iloc[0]
    assert math.isnan(row["precision"]) and math.isnan(row["est_precision"])
    assert row["recall"] == 0.0 and row["est_recall"] == 0.0
    assert "no score >= 0.95: precision and est_precision undefined" in row["note"]


def test_few_positives_are_marked_not_dropped():
    assert not windows(SIX, min_positives=3).iloc[0]["few_positives"]
    row = windows(SIX, length_days=1, min_positives=4).iloc[0]
    assert row["few_positives"] and row["note"] == "few positives (3 < 4): wide intervals"
    assert not math.isnan(row["roc_auc"])


def test_every_nan_has_a_note(tied_table):
    frame = frame_of([T0, T0 + 2 * DAY, T0 + 3 * DAY], [1, 0, 1], [0.0, 0.0, 1.0])
    for table in (tied_table[1], windows(frame, length_days=1, conversion_days=1)):
        numbers = table.drop(columns=["start", "end", "note"]).astype(float)
        assert (table["note"][numbers.isna().any(axis=1)] != "").all()


# --- maturity and drift --------------------------------------------------------------------------


def test_windows_ending_within_the_conversion_delay_are_immature():
    frame = simulated(2_000, days=10, seed=1)  # last time on day 9 of T0
    last = frame["time"].max()
    table = windows(frame, length_days=2, step_days=1, conversion_days=3)
    assert len(table) == 10
    assert list(table["mature"]) == list(table["end"] <= last - 3 * DAY)
    assert table["mature"].iloc[:5].all() and not table["mature"].iloc[5:].any()  # ends T0+6d <= last-3d; T0+7d is not
    assert table.loc[~table["mature"], "note"].str.contains("immature").all()
    assert windows(frame, length_days=2, step_days=1).loc[:, "mature"].all()  # no conversion delay: every window mature
    explicit = windows(frame, length_days=2, step_days=1, conversion_days=3, now=T0 + 20 * DAY)
    assert explicit["mature"].all()
    assert table["est_roc_auc"].notna().all()  # estimates for every window, mature or not


def test_windows_past_the_data_end_are_marked_with_the_days_they_miss():
    table = windows(simulated(500, days=10, seed=2), length_days=3, step_days=1)
    assert list(table["past_end"]) == [False] * 8 + [True] * 2  # windows starting on days 8 and 9 reach past day 9
    assert table["note"].str.contains("past the data's end").tolist() == [False] * 8 + [True] * 2
    assert table["note"].iloc[-2].endswith("past the data's end: its last 1 day holds no rows")
    assert table["note"].iloc[-1].endswith("past the data's end: its last 2 days hold no rows")
    fig = metric_over_time(table, "roc_auc")
    assert [(shape.type, shape.x0, shape.x1) for shape in fig.layout.shapes if shape.line.dash == "dot" and shape.type == "rect"] == [
        ("rect", table["start"].iloc[8], table["start"].iloc[9])
    ]


def test_a_test_split_shorter_than_a_window_plus_the_conversion_window_is_said_in_words():
    eight_days = frame_of([T0 + pd.Timedelta(hours=11), T0 + 7 * DAY + pd.Timedelta(hours=23)], [0, 1], [0.2, 0.4])
    assert span_note(eight_days, 7, 7) == (
        "These test rows span 8 days, fewer than one 7-day window plus the 7-day conversion window (14 days): "
        "no window is both inside the data and mature, so every window here is partial, immature or both. "
        "Read the est_* estimates, shorten the windows, or train with a larger test share to see settled windows."
    )
    assert span_note(eight_days, 9, None).startswith("These test rows span 8 days, fewer than one 9-day window (9 days): ")
    assert span_note(eight_days, 7, None) == "" and span_note(eight_days, 4, 4) == ""  # 8 days hold a 4 + 4-day window
    table = windows(eight_days, length_days=7, step_days=1, conversion_days=7)
    assert not (table["mature"] & ~table["past_end"]).any()  # what the sentence says


def drifting_frame() -> pd.DataFrame:
    """Four weeks: two good, one where the scores are noise (AUC about 0.5), one where scores are twice the truth."""
    rng = np.random.default_rng(4)
    parts = []
    for week in range(4):
        truth = rng.beta(1, 6, 5_000)
        y = rng.random(5_000) < truth
        score = {2: rng.permutation(truth), 3: np.minimum(2 * truth, 1)}.get(week, truth)
        times = T0 + week * 7 * DAY + pd.to_timedelta(rng.uniform(0, 7 * 86_400, 5_000), unit="s")
        parts.append(frame_of(times, y, score))
    return pd.concat(parts, ignore_index=True)


def test_drift_flags_a_worse_auc_or_a_ratio_outside_the_band():
    table = windows(drifting_frame(), length_days=7, step_days=7)
    assert list(table["drift"]) == [False, False, True, True]
    assert table["roc_auc"][2] < table["roc_auc_lo"][0]
    assert 0.8 <= table["calibration_ratio"][2] <= 1.25  # week 3 drifts by AUC alone
    assert table["calibration_ratio"][3] > 1.25 and table["roc_auc"][3] >= table["roc_auc_lo"][0]  # week 4 by calibration alone


def test_immature_windows_never_drift_and_the_reference_is_the_first_mature_one():
    frame = drifting_frame()
    assert list(windows(frame, length_days=7, step_days=7, conversion_days=14)["drift"]) == [False, False, False, False]
    # With the first week left out, the reference is the second week's interval.
    later = windows(frame[frame["time"] >= T0 + 7 * DAY], length_days=7, step_days=7)
    assert list(later["drift"]) == [False, True, True]


# --- bad input -----------------------------------------------------------------------------------


def test_no_time_column_is_a_data_error():
    with pytest.raises(DataError) as caught:
        windows(SIX.drop(columns="time"))
    assert str(caught.value) == "this run has no time column, so there are no windows; train with a time column"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(y=[0, 1, 2, 0, 1, 1]), "y must be 0 or 1"),
        (lambda f: f.assign(score=[0.1, np.nan, 0.3, 0.6, 0.8, 0.9]), "score must be a probability"),
        (lambda f: f.assign(time=f["time"].astype(str)), "not datetimes"),
        (lambda f: f.drop(columns="score"), "no score column"),
        (lambda f: f.assign(time=pd.NaT), "no values"),
    ],
)
def test_unusable_predictions_are_data_errors(change, message):
    with pytest.raises(DataError, match=message):
        windows(change(SIX.copy()))


# --- figures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn_table():
    table = windows(drifting_frame(), length_days=7, step_days=7, conversion_days=3)
    return table.assign(few_positives=[False, True, False, False])


def test_metric_over_time_draws_band_realised_estimate_and_drift(drawn_table):
    fig = metric_over_time(drawn_table, "roc_auc")
    assert [trace.name for trace in fig.data] == ["95% interval (upper)", "95% interval", "roc_auc", "estimated (labels immature)", "drift"]
    upper, band, realised, estimate, drift = fig.data
    assert list(upper.y) == list(drawn_table["roc_auc_hi"]) and band.fill == "tonexty"
    assert list(realised.x) == list(drawn_table["start"])
    assert list(realised.marker.symbol) == ["circle", "circle-open", "circle", "circle"]
    assert estimate.line.dash == "dash" and list(estimate.y) == [drawn_table["est_roc_auc"].iloc[-1]]
    last = drawn_table.iloc[-1]
    assert list(estimate.error_y.array) == pytest.approx([last["est_roc_auc_hi"] - last["est_roc_auc"]])
    assert list(estimate.error_y.arrayminus) == pytest.approx([last["est_roc_auc"] - last["est_roc_auc_lo"]])
    assert list(drift.x) == list(drawn_table.loc[drawn_table["drift"], "start"])
    assert fig.layout.xaxis.title.text == "window start"
    assert [shape.type for shape in fig.layout.shapes] == ["rect", "line"]  # immature span, AUC 0.5 guide


def test_metric_without_band_or_estimate_draws_one_line(drawn_table):
    fig = metric_over_time(drawn_table.assign(drift=False, mature=True), "pr_auc")
    assert [trace.name for trace in fig.data] == ["pr_auc"]
    ratio = metric_over_time(drawn_table, "calibration_ratio")
    assert [trace.name for trace in ratio.data] == ["95% interval (upper)", "95% interval", "calibration_ratio", "drift"]
    assert sorted(shape.y0 for shape in ratio.layout.shapes if shape.type == "line") == [0.8, 1.0, 1.25]
    with pytest.raises(ValueError, match="not a column"):
        metric_over_time(drawn_table, "f1")


def test_psi_over_time_has_guide_lines(drawn_table):
    fig = psi_over_time(drawn_table)
    assert [trace.name for trace in fig.data] == ["psi"]
    assert list(fig.data[0].y) == list(drawn_table["psi"])
    assert sorted(shape.y0 for shape in fig.layout.shapes) == [0.1, 0.25]


# --- reference_scores (the monitor's score PSI against the model's own test scores) --------------------


def test_reference_scores_make_each_window_psi_against_them():
    frame = simulated(3_000, days=10, seed=5)
    reference = np.random.default_rng(1).beta(2, 8, 500)
    table = windows(frame, 3, 1, reference_scores=reference)
    for _, row in table.iterrows():
        part = frame.loc[(frame["time"] >= row["start"]) & (frame["time"] < row["end"]), "score"]
        assert row["psi"] == pytest.approx(psi(reference, part), abs=1e-12)
    assert table["psi"].iloc[0] > 0.01  # the first window is no longer its own reference


def test_without_reference_scores_the_first_window_stays_the_reference():
    frame = simulated(3_000, days=10, seed=5)
    table = windows(frame, 3, 1)
    first = frame.loc[frame["time"] < table["end"].iloc[0], "score"]
    assert table["psi"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    for _, row in table.iterrows():
        part = frame.loc[(frame["time"] >= row["start"]) & (frame["time"] < row["end"]), "score"]
        assert row["psi"] == pytest.approx(psi(first, part), abs=1e-12)
    pd.testing.assert_frame_equal(table, windows(frame, 3, 1, reference_scores=None))

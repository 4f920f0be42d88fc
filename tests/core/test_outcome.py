import pandas as pd

from core import data, outcome


def test_the_tiny_tables_outcome_is_converted(tiny_con):
    assert outcome.likely_target(tiny_con, "tiny.parquet") == "converted"


def _target_of(tmp_path, frame, name="f.csv"):
    if name.endswith(".csv"):
        frame.to_csv(tmp_path / name, index=False)
    else:
        frame.to_parquet(tmp_path / name, index=False)
    return outcome.likely_target(data.connect(tmp_path), name)


def test_likely_target_skips_a_leading_date_for_the_outcome(tmp_path):
    frame = pd.DataFrame(
        {"day": ["2026-01-01", "2026-01-02", "2026-01-03"], "visits": [3, 1, 2], "bought": [0, 1, 0], "plan": ["a", "b", "a"]}
    )
    assert _target_of(tmp_path, frame) == "bought"


def test_likely_target_finds_a_yes_no_outcome_under_an_odd_name(tmp_path):
    frame = pd.DataFrame(
        {
            "when": ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"],
            "gender": ["m", "f", "f", "m"],  # two-valued, but not an outcome the default positive value finds
            "visits": [3, 1, 2, 2],
            "answered_q3": ["Yes", "no", "yes", "No"],
        }
    )
    assert _target_of(tmp_path, frame) == "answered_q3"


def test_likely_target_prefers_converted_to_an_is_flag(tmp_path):
    frame = pd.DataFrame({"is_member": [True, False, True], "converted": [1, 0, 0], "is_new": [1, 1, 1]})
    assert _target_of(tmp_path, frame, "f.parquet") == "converted"
    only_flags = pd.DataFrame({"spend": [1.5, 2.5, 3.5], "is_new": [1, 1, 1], "is_member": [True, False, True]})
    assert _target_of(tmp_path, only_flags, "g.parquet") == "is_member"


def test_likely_target_without_a_two_valued_column_takes_the_first_column_that_is_not_a_date(tmp_path):
    frame = pd.DataFrame({"day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]), "n": [1, 2, 3]})
    assert _target_of(tmp_path, frame, "h.parquet") == "n"

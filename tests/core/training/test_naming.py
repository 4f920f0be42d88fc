"""Run names: family, dataset and segment, short, and a retrain says so."""

from core.spec import TrainSpec
from core.training.naming import run_name, segment_text


def spec(*filters, family="gbdt"):
    return TrainSpec.from_dict({"dataset": "demo", "target": "converted", "filter": list(filters), "model": {"family": family}})


def test_a_run_without_a_filter_is_family_and_dataset():
    assert run_name(spec()) == "gbdt · demo"
    assert run_name(spec(family="linear"), retrain=True) == "retrain · linear · demo"


def test_the_segment_is_part_of_the_name():
    assert run_name(spec("country in US, GB")) == "gbdt · demo · country in (US, GB)"
    assert run_name(spec("country = US", "hour between 9 and 17"), retrain=True) == (
        "retrain · gbdt · demo · country = US & hour between 9 and 17"
    )


def test_long_value_lists_and_long_segments_are_cut_with_an_ellipsis():
    assert run_name(spec("country in US, GB, DE, FR, IT")) == "gbdt · demo · country in (US, GB, DE, …)"
    long = [("campaign", "=", "c" * 30), ("placement", "not in", ("feed", "story")), ("device", "is null", None)]
    text = segment_text(long)
    assert text == "campaign = " + "c" * 30 + " & placement not i…"
    assert len(text) == 60

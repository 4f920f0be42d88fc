import pytest

from core.errors import SpecError
from core.spec import TrainSpec, flatten


def test_defaults_and_yaml_round_trip():
    spec = TrainSpec.from_dict(
        {"dataset": "demo", "target": "converted", "time_column": "event_time", "filter": ["country in US, GB", ["hour", ">=", 9]],
         "model": {"family": "linear", "params": {"C": 0.5}}, "features": {"exclude": ["revenue"]}}
    )  # fmt: skip
    assert spec.split.kind == "temporal" and spec.calibration == "none" and spec.seed == 0
    assert spec.filter == [("country", "in", ("US", "GB")), ("hour", ">=", 9)]
    again = TrainSpec.from_yaml(spec.to_yaml())
    assert again == spec


def test_without_a_time_column_the_split_is_stratified():
    assert TrainSpec(dataset="d", target="y").split.kind == "stratified"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"dataset": "d", "target": "y", "colour": 1}, "Unknown key `colour`"),
        ({"dataset": "d", "target": "y", "split": {"kind": "temporal", "size": 2}}, "Unknown key `split.size`"),
        ({"dataset": "d", "target": "y", "split": {"kind": "sideways"}}, "`split.kind` must be one of"),
        ({"dataset": "d", "target": "y", "split": {"test_fraction": 0.9}}, "`split.test_fraction` must be a number between 0 and 0.5"),
        ({"dataset": "d", "target": "y", "calibration": "platt"}, "`calibration` must be one of none, sigmoid, isotonic"),
        ({"dataset": "d", "target": "y", "features": {"include": "a"}}, "`features.include` must be a list"),
        ({"dataset": "d", "target": "y", "search": {"n_trials": -1}}, "`search.n_trials`"),
        ({"dataset": "d"}, "missing a required key"),
        ({"dataset": "d", "target": "y", "model": "gbdt"}, "`model` must be a mapping"),
    ],
)
def test_bad_specs_name_the_key(raw, message):
    with pytest.raises(SpecError, match=message):
        TrainSpec.from_dict(raw)


def test_unreadable_files_and_yaml(tmp_path):
    with pytest.raises(SpecError, match="Cannot read spec file"):
        TrainSpec.from_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("dataset: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        TrainSpec.from_file(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        TrainSpec.from_file(tmp_path / "list.yaml")


def test_flatten_gives_dotted_text_params():
    flat = flatten(TrainSpec.from_dict({"dataset": "d", "target": "y", "model": {"family": "gbdt", "params": {"num_leaves": 15}}}))
    assert flat["model.params.num_leaves"] == "15"
    assert flat["split.kind"] == "stratified"


def test_value_section_round_trips_and_defaults_its_column_to_the_last_horizon():
    spec = TrainSpec.from_dict({"dataset": "d", "target": "y", "value": {"horizons": ["revenue_d1", "revenue_d7"]}})
    assert spec.value.column == "revenue_d7"
    assert spec.value.columns() == ["revenue_d1", "revenue_d7"]
    assert TrainSpec.from_yaml(spec.to_yaml()).value == spec.value
    assert TrainSpec.from_dict({"dataset": "d", "target": "y"}).value.columns() == []


@pytest.mark.parametrize(
    ("value", "extra", "message"),
    [
        ({"column": "rev", "horizons": ["rev_d1", "rev_d7"]}, {}, "must be one of value.horizons"),
        ({"column": "y"}, {}, "is the target"),
        ({"column": "rev"}, {"features": {"include": ["rev", "a"]}}, "known only after the outcome"),
        ({"column": "rev", "family": "forest"}, {}, "`value.family` must be one of gbdt, linear"),
        ({"horizons": ["a", "a"]}, {}, "distinct column names"),
        ({"column": "rev"}, {"model": {"family": "hashed_sgd"}}, "hashed_sgd streams"),
        ({"column": "rev"}, {"engine": "dask"}, "local engine only"),
        ({"colum": "rev"}, {}, "Unknown key `value.colum`"),
    ],
)
def test_bad_value_sections_say_what_to_fix(value, extra, message):
    with pytest.raises(SpecError, match=message):
        TrainSpec.from_dict({"dataset": "d", "target": "y", "value": value, **extra})

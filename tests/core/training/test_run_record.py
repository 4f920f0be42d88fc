"""What a run records: the number of test rows each family explains."""

import models
from core.spec import TrainSpec
from core.training import run_record


def test_a_forest_explains_at_most_its_cap_and_other_families_the_setting(monkeypatch):
    spec = TrainSpec(dataset="demo", target="converted")
    forest = models.family("forest").build(models.resolve_params(models.family("forest"), {}), spec)
    gbdt = models.family("gbdt").build(models.resolve_params(models.family("gbdt"), {}), spec)
    monkeypatch.setenv("WB_SHAP_ROWS", "2000")
    assert (run_record.explained_rows(forest), run_record.explained_rows(gbdt)) == (500, 2000)
    monkeypatch.setenv("WB_SHAP_ROWS", "300")
    assert (run_record.explained_rows(forest), run_record.explained_rows(gbdt)) == (300, 300)

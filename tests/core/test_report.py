"""core.report writes report.html and metrics.json from the same compute as the page."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core import report, runs
from core.diagnostics import threshold


def test_report_holds_every_number_the_page_shows(train_env, demo_run, tmp_path, capsys):
    assert report.main(["--run", demo_run, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["run_id"] == demo_run
    assert "Downloading artifacts" not in captured.err  # no MLflow progress bars in a scheduler's log
    numbers = json.loads((tmp_path / "metrics.json").read_text())
    frame = runs.predictions(demo_run)
    headline = {r["metric"]: r for r in numbers["headline"]}
    assert headline["roc_auc"]["value"] == pytest.approx(roc_auc_score(frame["y"], frame["score"]), abs=1e-12)
    assert headline["roc_auc"]["lo"] <= headline["roc_auc"]["value"] <= headline["roc_auc"]["hi"]
    table = threshold.with_profit(threshold.threshold_frame(frame), 1.0, 0.1, 0.0)
    expected = threshold.suggestions(table, 1.0, 0.1, 0.0)
    assert [r["suggestion"] for r in numbers["threshold_suggestions"]] == expected["suggestion"].tolist()
    cuts = [np.nan if r["threshold"] is None else r["threshold"] for r in numbers["threshold_suggestions"]]  # NaN is written as null
    assert cuts == pytest.approx(expected["threshold"].tolist(), nan_ok=True)
    for name in ("calibration", "reliability", "reliability_raw", "gain_lift", "windows", "segments.channel", "parity.channel"):
        assert numbers[name], name
    assert numbers["slices"] == []  # only slices found worse are listed: none on the small demo's test split
    assert len(numbers["windows"]) >= 1 and {"start", "end", "roc_auc", "psi", "mature"} <= set(numbers["windows"][0])
    assert "roc" not in numbers and "threshold_curve" not in numbers  # drawing-only tables stay out
    page = (tmp_path / "report.html").read_text()
    assert page.count("<h2>") >= 14 and "Explain · beeswarm" in page
    assert '<script src="http' not in page  # self-contained: plotly.js is inline
    assert "NaN" not in (tmp_path / "metrics.json").read_text()  # missing values are null


def test_a_saved_threshold_is_the_cut_the_report_reads_at(train_env, demo_run, tmp_path, capsys):
    runs.save_threshold(demo_run, 0.3, 1.0, 0.1, 0.0, None)
    assert report.main(["--run", demo_run, "--out", str(tmp_path)]) == 0
    numbers = json.loads((tmp_path / "metrics.json").read_text())
    frame = runs.predictions(demo_run)
    at = numbers["threshold_at"][0]
    assert at["chosen"] == 0.3
    assert at["tp"] == int(((frame["score"] >= 0.3) & (frame["y"] == 1)).sum())
    assert at["fp"] == int(((frame["score"] >= 0.3) & (frame["y"] == 0)).sum())
    assert np.isclose(numbers["options"]["threshold"], 0.3)


def test_an_unknown_run_exits_2_with_one_line(train_env, tmp_path, capsys):
    assert report.main(["--run", "0" * 32, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No run") and "\n" not in err
    assert not (tmp_path / "report.html").exists()


def test_a_value_run_reports_deciles_capture_and_regression_metrics(train_env, value_run, tmp_path, capsys):
    from core.diagnostics import diagnose
    from core.value import diagnostics as vd

    assert report.main(["--run", value_run, "--out", str(tmp_path)]) == 0
    numbers = json.loads((tmp_path / "metrics.json").read_text())
    frame = diagnose.prepared(runs.predictions(value_run))  # the page's row order
    deciles = vd.value_deciles(frame, "revenue")
    assert [r["mean_actual"] for r in numbers["value_deciles"]] == pytest.approx(deciles["mean_actual"].tolist())
    assert [r["mean_predicted"] for r in numbers["value_deciles"]] == pytest.approx(deciles["mean_predicted"].tolist())
    capture = {r["ranking"]: r["captured_share"] for r in numbers["value_capture"]}
    assert capture == pytest.approx(vd.capture_at(vd.value_gain(frame, "revenue"), 0.1).to_dict())
    assert {r["metric"] for r in numbers["value_metrics"]} == {"rmse", "mae", "r2", "rmsle"}
    assert "value_gain" not in numbers and "segments.revenue" not in numbers  # drawing only; value columns are not segments
    page = (tmp_path / "report.html").read_text()
    assert "Value: expected against actual" in page and "Value · gain" in page
    assert vd.capture_words(vd.value_gain(frame, "revenue"), 0.1) in page

"""Value-stage benchmark (issue 14): its quality against the demo's oracle, and its cost against raw LightGBM.

    make bench-value [BENCH_ARGS="--quick"]
    .venv/bin/python -m bench.value [--quick] [--rows 1000000] [--repeat 3] [--out bench/value.json] [--data-dir bench/out]

- quality: `core.train` of gbdt with `--value-column revenue` (bench.train.JOB), its test predictions.parquet joined by
  `row` (the row's position in the dataset as the job read it) to the demo's true_p and true_value, the join checked
  on time, label, revenue and a segment column of every row. Revenue captured by the top 10% ranked by expected_value,
  by score alone and by the oracle true_p × true_value; mean predicted against actual revenue per decile of
  expected_value (worst |ratio − 1|); R² on test converters of value_if_converted and of true_value.
- horizons: the same job with `--value-horizons revenue_d1 revenue_d7 revenue_d30` and a random split (a temporal test
  split is the data's last ~8 days, where no row has lived 30 days, so d30 has no mature test converter to score):
  R² per horizon on mature test converters, and rows where value_if_converted.<h> decreases along the horizons.
- cost: the value job against the same job without a value stage, `--repeat` times in turns (wall, peak RSS, each
  its own process, bench.train.measured); and in one process on the prepared frame, core.value.stage.fit_value_stage
  against raw `lightgbm.train` regression of log1p(revenue) on the same converters with the same parameters (early
  stopping and smearing on the valid converters), `--repeat` times in turns; medians and ratios.
Demo tables: <data-dir>/root_<rows>/demo (56 days, generated when missing or older than the value columns).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.train import JOB, measured, stages

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out"
PY = sys.executable
FULL, QUICK = 1_000_000, 100_000
VALUE = ["--value-column", "revenue"]
HORIZONS = ["revenue_d1", "revenue_d7", "revenue_d30"]
LIMITS = {"decile_gap": 0.10, "r2_gap": 0.05}
TOP = 0.10


def joined(predictions: pd.DataFrame, demo: pd.DataFrame, target: str = "converted", time_column: str = "event_time") -> pd.DataFrame:
    """predictions with true_p and true_value of the demo rows their `row` points at (positions in `demo`, read in the
    dataset's order); SystemExit when the rows' time, label, revenue or a segment column disagree on any row."""
    rows = demo.iloc[predictions["row"].to_numpy()].reset_index(drop=True)
    nanoseconds = [pd.to_datetime(f).astype("datetime64[ns]").astype("int64") for f in (predictions["time"], rows[time_column])]
    pairs = {"time": tuple(nanoseconds), "y": (predictions["y"], rows[target])}
    pairs |= {c: (predictions[c], rows[c]) for c in ("revenue", "country", "device") if c in predictions and c in rows}
    for name, (ours, theirs) in pairs.items():
        ours, theirs = ours.to_numpy(), theirs.to_numpy()
        numeric = np.issubdtype(ours.dtype, np.number) and np.issubdtype(theirs.dtype, np.number)
        same = np.allclose(ours, theirs, equal_nan=True) if numeric else (ours.astype(str) == theirs.astype(str)).all()
        if not same:
            raise SystemExit(f"predictions' rows do not join the demo by position: {name} differs")
    return predictions.assign(true_p=rows["true_p"].to_numpy(), true_value=rows["true_value"].to_numpy())


def quality(frame: pd.DataFrame, value_column: str = "revenue", top: float = TOP) -> dict:
    """The issue's value quality figures from joined() test predictions.

    capture: share of all actual value in the top `top` of rows ranked by expected_value, by score, by the oracle
    true_p × true_value, and by the actual value (core.value.diagnostics.value_gain); deciles: value_deciles' mean
    predicted and actual per decile of expected_value, with the oracle's ratios beside; worst_decile_gap: max |ratio − 1| over the deciles that
    hold value (a ratio);
    worst_decile_gap_with: the same gap with the oracle's p, value, or both in place of the model's (which factor a gap
    comes from); r2: R² on converters of value_if_converted and of true_value (core.value.metrics.regression_metrics),
    and their gap."""
    from core.value.diagnostics import capture_at, value_deciles, value_gain
    from core.value.metrics import regression_metrics

    step = max(1, round(top * 100))
    at = capture_at(value_gain(frame, value_column, step), top)
    oracle = frame.assign(expected_value=frame["true_p"] * frame["true_value"])
    at_oracle = capture_at(value_gain(oracle, value_column, step), top)
    deciles = value_deciles(frame, value_column)
    # Which factor a decile gap comes from: the oracle's own p or value in place of the model's, deciles re-ranked.
    swaps = {
        "oracle": oracle,
        "true_p × value_if_converted": frame.assign(expected_value=frame["true_p"] * frame["value_if_converted"]),
        "score × true_value": frame.assign(expected_value=frame["score"] * frame["true_value"]),
    }
    swapped = {name: value_deciles(f, value_column)["ratio"] for name, f in swaps.items()}
    converters = frame[(frame["y"] == 1) & np.isfinite(frame[value_column])]
    model = regression_metrics(converters[value_column], converters["value_if_converted"])
    truth = regression_metrics(converters[value_column], converters["true_value"])
    gap = (deciles["ratio"] - 1).abs()
    return {
        "rows": len(frame),
        "converters": len(converters),
        "capture": {
            "top_share": top,
            "expected_value": float(at["expected value"]),
            "probability": float(at["probability"]),
            "oracle": float(at_oracle["expected value"]),
            "perfect": float(at["perfect"]),
        },
        "deciles": deciles[["decile", "rows", "converters", "mean_predicted", "mean_actual", "ratio"]].to_dict("records"),
        "oracle_decile_ratios": swapped["oracle"].tolist(),
        "worst_decile_gap": float(gap.max()),
        "worst_decile": int(deciles.loc[gap.idxmax(), "decile"]),  # idxmax skips a decile without value (ratio NaN)
        "worst_decile_gap_with": {name: float((ratios - 1).abs().max()) for name, ratios in swapped.items()},
        "calibration_ratio": float(frame["score"].mean() / frame["y"].mean()),
        "value_ratio_on_converters": float(converters["value_if_converted"].mean() / converters[value_column].mean()),
        "r2": {"value_stage": model["r2"], "true_value": truth["r2"], "gap": truth["r2"] - model["r2"]},
        "rmsle": {"value_stage": model["rmsle"], "true_value": truth["rmsle"]},
    }


def horizon_quality(predictions: pd.DataFrame, horizons: list[str]) -> dict:
    """Per horizon: R² (and RMSLE) of value_if_converted.<h> on mature test converters with a known value; and the rows
    where value_if_converted decreases from one horizon to the next (0 by construction)."""
    from core.value.metrics import regression_metrics

    out = {}
    for h in horizons:
        keep = (predictions["y"] == 1) & np.isfinite(predictions[h]) & predictions[f"mature.{h}"].astype(bool)
        found = {"rows": int(keep.sum()), "mature_share": float(predictions[f"mature.{h}"].mean())}
        if keep.sum() >= 2:
            metrics = regression_metrics(predictions.loc[keep, h], predictions.loc[keep, f"value_if_converted.{h}"])
            found |= {"r2": metrics["r2"], "rmsle": metrics["rmsle"]}
        out[h] = found
    stacked = predictions[[f"value_if_converted.{h}" for h in horizons]].to_numpy()
    decreasing = int((np.diff(stacked, axis=1) < 0).any(axis=1).sum())
    return {"horizons": out, "rows": len(predictions), "rows_decreasing": decreasing}


def fit_times(root: Path, repeat: int) -> dict:
    """In one process on the prepared frame: fit_value_stage against raw lightgbm.train regression, in turns (seconds)."""
    import lightgbm as lgb

    from core.progress import Log
    from core.train import parse_args
    from core.training.prepare import connect_and_prepare
    from core.value.stage import fit_value_stage
    from models.value import regressor

    os.environ["WB_DATA_ROOT"] = str(root)
    spec, _ = parse_args([*JOB, *VALUE])
    log = Log(stream=io.StringIO())
    _, prep = connect_and_prepare(spec, log)
    usable = (prep.y == 1) & np.isfinite(prep.values["revenue"].to_numpy(dtype=float))
    train, valid = usable & (prep.labels == "train"), usable & (prep.labels == "valid")
    model = regressor("gbdt", spec.categorical, spec.seed, int(train.sum()))
    booster = model._booster_params()
    params = {
        "objective": "regression",
        "learning_rate": booster["learning_rate"],
        "num_leaves": booster["num_leaves"],
        "min_child_samples": booster["min_child_samples"],
        "subsample": booster["subsample"],
        "bagging_freq": booster["subsample_freq"],
        "colsample_bytree": booster["colsample_bytree"],
        "reg_lambda": booster["reg_lambda"],
        "cat_smooth": booster["cat_smooth"],
        "seed": booster["random_state"],
        "verbose": -1,
    }

    def raw() -> int:
        """The analyst's regression: categories, log1p target, early stopping and Duan's smearing on the valid rows."""
        X = prep.frame.loc[train | valid, prep.features].copy()
        for column in prep.features:
            if not pd.api.types.is_numeric_dtype(X[column]):
                X[column] = X[column].astype("category")
        target = np.log1p(prep.values["revenue"].to_numpy(dtype=float))
        fit_rows, valid_rows = train[train | valid], valid[train | valid]
        fitting = lgb.Dataset(X[fit_rows], target[train])
        held = lgb.Dataset(X[valid_rows], target[valid], reference=fitting)
        found = lgb.train(
            params,
            fitting,
            model.n_estimators,
            valid_sets=[held],
            callbacks=[lgb.early_stopping(model.early_stopping_rounds, verbose=False)],
        )
        np.mean(np.exp(target[valid] - found.predict(X[valid_rows], num_iteration=found.best_iteration)))
        return found.best_iteration

    ours_s, raw_s, rounds = [], [], {}
    for _ in range(repeat):  # in turns, so a busy spell on the shared machine falls on both
        began = time.perf_counter()
        fitted = fit_value_stage(spec, prep, log)
        ours_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        rounds["raw"] = raw()
        raw_s.append(time.perf_counter() - began)
        rounds["ours"] = fitted[0].estimator_.model_.best_iteration_
    return {
        "train_converters": int(train.sum()),
        "valid_converters": int(valid.sum()),
        "min_child_samples": params["min_child_samples"],
        "rounds": rounds,
        "smearing": fitted[0].smearing_,
        "ours_s": [round(s, 2) for s in ours_s],
        "raw_s": [round(s, 2) for s in raw_s],
        "ratio": round(statistics.median(ours_s) / statistics.median(raw_s), 2),
    }


def last_json(run: dict) -> dict:
    return json.loads(run["stdout"].strip().splitlines()[-1])


def span_s(stderr: str, start: str, end: str) -> float | None:
    """Seconds from the first progress line starting with `start` to the first after it starting with `end`."""
    lines = stages(stderr)
    began = next((t for t, message in lines if message.startswith(start)), None)
    ended = next((t for t, message in lines if began is not None and t >= began and message.startswith(end)), None)
    return None if ended is None else round(ended - began, 1)


def artifact(uri: str, run_id: str, name: str) -> pd.DataFrame:
    import mlflow

    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=uri))


def bench(rows: int, repeat: int, data_dir: Path) -> dict:
    """Every part on root_<rows>: the quality of the value job, its horizons, and its cost."""
    from bench.explore import root_for
    from bench.train import make_store

    root, _ = root_for(rows, data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-value-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        # OpenMP threads sleep while waiting (as bench.selection), so LightGBM on the shared machine does not spin.
        env = {**os.environ, "WB_DATA_ROOT": str(root), "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
               "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
        make_store(env)
        runs = {"value": [], "plain": []}
        for i in range(repeat):  # in turns
            for side, extra in (("value", VALUE), ("plain", [])):
                found = measured([PY, "-m", "core.train", *JOB, *extra], env)
                runs[side].append(found)
                print(f"  {rows:,} rows, round {i + 1}/{repeat}, {side} job: {found['wall_s']:.1f} s, {found['rss_mb']:,.0f} MB "
                      f"(load {found['load_before']:.2f})", flush=True)  # fmt: skip
        result = last_json(runs["value"][-1])
        demo = pd.read_parquet(root / "demo", columns=["event_time", "converted", "revenue", "country", "device", "true_p", "true_value"])
        frame = joined(artifact(uri, result["run_id"], "predictions.parquet"), demo)
        found_quality = quality(frame)
        print(f"  {rows:,} rows, value job on a random split …", flush=True)
        random_run = measured([PY, "-m", "core.train", *JOB, *VALUE, "--split", "random"], env)
        random_frame = joined(artifact(uri, last_json(random_run)["run_id"], "predictions.parquet"), demo)
        print(f"  {rows:,} rows, horizons job (random split) …", flush=True)
        horizon_run = measured([PY, "-m", "core.train", *JOB, "--value-horizons", *HORIZONS, "--split", "random"], env)
        horizon_id = last_json(horizon_run)["run_id"]
        horizons = horizon_quality(artifact(uri, horizon_id, "predictions.parquet"), HORIZONS)
        logged = artifact(uri, horizon_id, "value_metrics.parquet")
        for h, found in horizons["horizons"].items():  # the run's own value_metrics agree with the figures here
            found["logged_r2"] = float(logged.loc[(logged["horizon"] == h) & (logged["metric"] == "r2"), "value"].iloc[0])
        print(f"  {rows:,} rows, fit_value_stage against lightgbm.train ×{repeat} …", flush=True)
        fit = last_json(measured([PY, "-m", "bench.value", "--fit", str(root), "--repeat", str(repeat)], env))
    wall = {side: [r["wall_s"] for r in found] for side, found in runs.items()}
    rss = {side: [r["rss_mb"] for r in found] for side, found in runs.items()}
    return {
        "rows": rows,
        "split_rows": result["rows"],
        "job_value_metrics": result.get("value"),
        "quality": found_quality,
        "quality_random_split": quality(random_frame),
        "horizons": {**horizons, "split": "random", "wall_s": round(horizon_run["wall_s"], 1), "rss_mb": round(horizon_run["rss_mb"])},
        "fit": fit,
        # calibrated -> test metrics: the value job fits the value stage and logs its columns and metrics in this span
        "after_calibration_s": {side: [span_s(r["stderr"], "calibrated", "test ROC AUC") for r in found] for side, found in runs.items()},
        "jobs": {
            "value_s": [round(s, 1) for s in wall["value"]],
            "plain_s": [round(s, 1) for s in wall["plain"]],
            "wall_ratio": round(statistics.median(wall["value"]) / statistics.median(wall["plain"]), 2),
            "value_rss_mb": [round(m) for m in rss["value"]],
            "plain_rss_mb": [round(m) for m in rss["plain"]],
            "rss_ratio": round(statistics.median(rss["value"]) / statistics.median(rss["plain"]), 2),
            "load_before": [round(r["load_before"], 2) for side in runs.values() for r in side],
        },
        "job_stages": {side: stages(found[-1]["stderr"]) for side, found in runs.items()},
    }


def targets(result: dict) -> list[dict]:
    """The issue's three quality targets on each split measured, with the value and whether each holds."""
    out = []
    for key, split in (("quality", "temporal split"), ("quality_random_split", "random split")):
        q = result.get(key)
        if q is None:
            continue
        capture = q["capture"]["expected_value"] - q["capture"]["probability"]
        out += [
            {"name": f"top {q['capture']['top_share']:.0%} capture, expected value - probability ({split})", "value": capture,
             "limit": "> 0", "met": capture > 0},
            {"name": f"worst decile |predicted / actual - 1| ({split})", "value": q["worst_decile_gap"],
             "limit": f"<= {LIMITS['decile_gap']}", "met": q["worst_decile_gap"] <= LIMITS["decile_gap"]},
            {"name": f"R² true_value - R² value stage, test converters ({split})", "value": q["r2"]["gap"],
             "limit": f"<= {LIMITS['r2_gap']}", "met": q["r2"]["gap"] <= LIMITS["r2_gap"]},
        ]  # fmt: skip
    return out


def quality_lines(q: dict, split: str) -> list[str]:
    """One split's quality figures as text: capture, the decile table with the oracle's ratios, the gap's sources, R²."""
    c, swaps = q["capture"], q["worst_decile_gap_with"]
    return [
        f"{split}: test {q['rows']:,} rows, {q['converters']:,} converters; mean score / conversion rate {q['calibration_ratio']:.3f}, "
        f"mean value_if_converted / revenue on converters {q['value_ratio_on_converters']:.3f}",
        f"top {c['top_share']:.0%} captures: by expected value {c['expected_value']:.1%}, by probability {c['probability']:.1%}, "
        f"oracle true_p × true_value {c['oracle']:.1%}, perfect {c['perfect']:.1%}",
        pd.DataFrame(q["deciles"]).assign(oracle_ratio=q["oracle_decile_ratios"]).round(3).to_string(index=False),
        f"worst decile gap {q['worst_decile_gap']:.3f} (decile {q['worst_decile']}); with true_p in place of the score "
        f"{swaps['true_p × value_if_converted']:.3f}, with true_value in place of the value stage {swaps['score × true_value']:.3f}, "
        f"oracle {swaps['oracle']:.3f}",
        f"R² on test converters: value stage {q['r2']['value_stage']:.4f}, true_value {q['r2']['true_value']:.4f} "
        f"(gap {q['r2']['gap']:.4f}); RMSLE {q['rmsle']['value_stage']:.4f} vs {q['rmsle']['true_value']:.4f}",
        "",
    ]  # fmt: skip


def report(result: dict) -> str:
    """The results as text: quality on each split, horizons, cost, then the targets."""
    fit, jobs, h = result["fit"], result["jobs"], result["horizons"]
    after = result["after_calibration_s"]
    lines = [f"{result['rows']:,} rows over 56 days", *quality_lines(result["quality"], "temporal split (the bench.train job)")]
    if "quality_random_split" in result:
        lines += quality_lines(result["quality_random_split"], "random split")
    lines += [
        "horizons (random split), on mature test converters: "
        + "; ".join(f"{name} R² {v.get('r2', float('nan')):.4f} on {v['rows']:,} rows ({v['mature_share']:.0%} of rows mature)"
                    for name, v in h["horizons"].items())
        + f"; rows where the value decreases along the horizons: {h['rows_decreasing']} of {h['rows']:,}",
        "",
        f"value stage fit on {fit['train_converters']:,} converters ({fit['rounds']['ours']} rounds; raw {fit['rounds']['raw']}): "
        f"fit_value_stage {fit['ours_s']} s, raw lightgbm.train {fit['raw_s']} s -> {fit['ratio']}x",
        f"calibrated -> test metrics in the job's log: value job {after['value']} s, no value stage {after['plain']} s",
        f"value job {jobs['value_s']} s vs no value stage {jobs['plain_s']} s -> {jobs['wall_ratio']}x; peak RSS "
        f"{jobs['value_rss_mb']} MB vs {jobs['plain_rss_mb']} MB -> {jobs['rss_ratio']}x",
        "",
    ]  # fmt: skip
    for t in result["targets"]:
        lines.append(f"{t['name']}: {t['value']:.4f} (target {t['limit']}): {'met' if t['met'] else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark, writes the JSON, prints the results (or, with --fit, times the fits and prints their JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench.value", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} rows instead of {FULL:,}")
    parser.add_argument("--rows", type=int, help="demo rows (overrides the mode's)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the job pair and of the fit pair, in turns")
    parser.add_argument("--out", type=Path, help="JSON to write (default bench/value.json; with --quick bench/out/value_quick.json)")
    parser.add_argument("--data-dir", type=Path, default=OUT, help="folder of the root_<rows> demo datasets")
    parser.add_argument("--fit", type=Path, help=argparse.SUPPRESS)  # a data root: time the fits in this process
    args = parser.parse_args(argv)
    if args.fit:
        print(json.dumps(fit_times(args.fit, args.repeat)))
        return 0
    from bench.summary import machine

    rows = args.rows or (QUICK if args.quick else FULL)
    out = args.out or (OUT / "value_quick.json" if args.quick else PROJECT / "bench" / "value.json")
    load, began = os.getloadavg(), time.perf_counter()
    result = bench(rows, args.repeat, args.data_dir)
    result["targets"] = targets(result)
    result |= {"mode": "quick" if args.quick else "full", "seconds": round(time.perf_counter() - began, 1),
               "machine": {**machine(), "load_before": load, "load_after": os.getloadavg()}}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(report(result))
    print(f"\n{result['seconds']:.0f} s; load {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

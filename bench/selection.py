"""Model-selection benchmark (issue 13): k-fold CV against one fit, the leaderboard against its members, and FLAML.

    make bench-selection [BENCH_ARGS="--quick"]
    .venv/bin/python -m bench.selection [--quick] [--parts cv board flaml] [--cv-rows 1000000] [--board-rows 45000]
                                        [--folds 5] [--budget 180] [--repeat 3] [--out bench/selection.json]

- cv: `core.train` of gbdt with 5-fold CV against the same spec on the holdout, each in its own process. The CV stage
  (first fold's line to the last fold's result) against the final fit stage (its `fitting` line to the test metrics:
  fit, calibration, scoring) of the same run; the peak RSS of the CV job against the holdout job's.
- board: `core.leaderboard` of gbdt + linear + forest with 5-fold CV against the three `core.train` jobs with the same
  validation run one after the other (wall of one process against the sum of three), `--repeat` times in turns.
- flaml: FLAML AutoML (in .venv-bench, `make bench-selection` makes it) with time_budget=--budget, roc_auc, 5-fold CV on
  the train+valid rows, against the leaderboard with a search budget of --budget / 3 s per family; best CV ROC AUC and
  test ROC AUC of each on the same rows.
Every measured run is its own subprocess (bench.train.measured: wall, peak RSS). Demo tables: bench/out/root_<rows>.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.train import JOB, measured, stages

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out"
FLAML_PYTHON = PROJECT / ".venv-bench" / "bin" / "python"
PY = sys.executable
FAMILIES = ("gbdt", "linear", "forest")
QUICK = {"cv_rows": 12_000, "board_rows": 12_000, "budget": 12.0, "repeat": 1}
FULL = {"cv_rows": 1_000_000, "board_rows": 45_000, "budget": 180.0, "repeat": 3}
LIMITS = {"cv_over_fit": 5.5, "cv_rss_ratio": 1.5, "board_over_sum": 1.15, "board_seconds": 60.0, "flaml_gap": 0.002}


def spec_file(folder: Path, family: str, kind: str, folds: int) -> Path:
    """The bench job's TrainSpec (bench.train.JOB) for `family` with validation `kind`, as YAML for `core.train --spec`."""
    from core.spec import Validation
    from core.train import parse_args

    spec, _ = parse_args([*JOB, "--family", family])
    path = folder / f"{family}_{kind}.yaml"
    path.write_text(dataclasses.replace(spec, validation=Validation(kind=kind, folds=folds)).to_yaml())
    return path


def board_argv(spec: Path, timeout_s: float | None = None) -> list[str]:
    """The leaderboard job over the members' own spec (its validation and columns), the three families, an optional search
    budget in seconds per family."""
    budget = ["--timeout-s", f"{timeout_s:g}"] if timeout_s else []
    return [PY, "-m", "core.leaderboard", "--spec", str(spec), "--families", *FAMILIES, *budget]


def last_json(run: dict) -> dict:
    return json.loads(run["stdout"].strip().splitlines()[-1])


def stamp(lines: list[tuple[float, str]], starts: str, last: bool = False) -> float:
    """The time stamp of the first (or last) progress line starting with `starts`."""
    found = [t for t, message in lines if message.startswith(starts)]
    if not found:
        raise SystemExit(f"no progress line starts with {starts!r}: {lines}")
    return found[-1] if last else found[0]


def cv_stages(stderr: str, folds: int, family: str = "gbdt") -> dict:
    """Seconds of the CV stage and of the final fit stage in one CV job's progress lines, and their ratio."""
    lines = stages(stderr)
    cv_s = stamp(lines, f"CV fold {folds}/{folds}: ROC AUC") - stamp(lines, "CV fold 1/")
    fit_s = stamp(lines, "test ROC AUC", last=True) - stamp(lines, f"fitting {family} on", last=True)
    return {"cv_s": round(cv_s, 1), "fit_s": round(fit_s, 1), "ratio": round(cv_s / fit_s, 2)}


def family_seconds(stderr: str) -> dict:
    """Seconds of each family inside one leaderboard job: from its `training <family>` line to the next family's (or the
    ranking line), and the reading before the first family as `read`."""
    lines = stages(stderr)
    marks = [(t, m.split()[1]) for t, m in lines if m.startswith("training ")] + [(stamp(lines, "ranking by"), "")]
    out = {"read": marks[0][0]}
    out |= {family: round(end - start, 1) for (start, family), (end, _) in zip(marks, marks[1:], strict=False)}
    return out


class Bench:
    """Data roots, one temporary tracking store and the child processes' environment for one benchmark."""

    def __init__(self, folder: Path, data_dir: Path, child_env: dict):
        self.folder, self.data_dir = folder, data_dir
        uri = f"sqlite:///{folder}/mlruns/mlflow.db"
        self.env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **child_env}
        self.uri, self.roots = uri, {}
        from bench.train import make_store

        make_store(self.env)  # the job's experiment exists before the first timed run (a new store costs ~1.5 s)

    def env_for(self, rows: int) -> dict:
        """The children's environment on root_<rows> (generated by core.demo when missing)."""
        from bench.explore import root_for

        if rows not in self.roots:
            self.roots[rows], _ = root_for(rows, self.data_dir)
        return {**self.env, "WB_DATA_ROOT": str(self.roots[rows])}

    def run(self, argv: list[str], rows: int, what: str) -> dict:
        began = time.strftime("%H:%M:%S")
        found = measured(argv, self.env_for(rows))
        print(f"  {began} {what}: {found['wall_s']:.1f} s, {found['rss_mb']:,.0f} MB (load {found['load_before']:.2f})", flush=True)
        return found

    def metrics(self, run_id: str) -> dict:
        """The metrics MLflow holds for a run."""
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.uri).get_run(run_id).data.metrics


def cv_vs_fit(bench: Bench, rows: int, folds: int, repeat: int) -> dict:
    """gbdt with k-fold CV against the same spec on the holdout: stage and process times, peak RSS."""
    holdout, kfold = (spec_file(bench.folder, "gbdt", kind, folds) for kind in ("holdout", "kfold"))
    pairs = []
    for i in range(repeat):  # in turns, so a busy spell on the shared machine falls on both
        print(f"cv at {rows:,} rows, pair {i + 1}/{repeat}", flush=True)
        one = bench.run([PY, "-m", "core.train", "--spec", str(holdout)], rows, "gbdt holdout job")
        cv = bench.run([PY, "-m", "core.train", "--spec", str(kfold)], rows, f"gbdt {folds}-fold CV job")
        lines = stages(one["stderr"])  # the holdout job's own fit stage, measured as the CV run's final one
        alone = stamp(lines, "test ROC AUC", last=True) - stamp(lines, "fitting gbdt on", last=True)
        pairs.append({"holdout": one, "cv": cv, "stages": cv_stages(cv["stderr"], folds), "holdout_fit_s": round(alone, 1)})
    ratio = statistics.median(p["stages"]["ratio"] for p in pairs)
    wall = [p["cv"]["wall_s"] / p["holdout"]["wall_s"] for p in pairs]
    rss = [p["cv"]["rss_mb"] / p["holdout"]["rss_mb"] for p in pairs]
    result = last_json(pairs[-1]["cv"])
    found = bench.metrics(result["run_id"])
    return {
        "rows": rows,
        "folds": folds,
        "split_rows": result["rows"],
        "cv_stage_s": [p["stages"]["cv_s"] for p in pairs],
        "fit_stage_s": [p["stages"]["fit_s"] for p in pairs],
        "cv_over_fit": round(ratio, 2),
        "cv_over_fit_each": [p["stages"]["ratio"] for p in pairs],
        "holdout_fit_stage_s": [p["holdout_fit_s"] for p in pairs],
        "cv_over_holdout_job_fit": round(statistics.median(p["stages"]["cv_s"] / p["holdout_fit_s"] for p in pairs), 2),
        "holdout_job_s": [round(p["holdout"]["wall_s"], 1) for p in pairs],
        "cv_job_s": [round(p["cv"]["wall_s"], 1) for p in pairs],
        "job_wall_ratio": round(statistics.median(wall), 2),
        "holdout_rss_mb": [round(p["holdout"]["rss_mb"]) for p in pairs],
        "cv_rss_mb": [round(p["cv"]["rss_mb"]) for p in pairs],
        "cv_rss_ratio": round(statistics.median(rss), 2),
        "cv_roc_auc_mean": found.get("cv_roc_auc_mean"),
        "cv_roc_auc_std": found.get("cv_roc_auc_std"),
        "test_roc_auc": result["metrics"]["roc_auc"],
        "load_before": [round(p[side]["load_before"], 2) for p in pairs for side in ("holdout", "cv")],
        "cv_job_stages": stages(pairs[-1]["cv"]["stderr"]),
    }


def board_vs_members(bench: Bench, rows: int, folds: int, repeat: int) -> dict:
    """The 3-family leaderboard job against its members as separate core.train jobs with the same validation."""
    specs = {family: spec_file(bench.folder, family, "kfold", folds) for family in FAMILIES}
    boards, members = [], []
    for i in range(repeat):
        print(f"board at {rows:,} rows, round {i + 1}/{repeat}", flush=True)
        boards.append(bench.run(board_argv(specs["gbdt"]), rows, f"leaderboard {'+'.join(FAMILIES)}"))
        members.append({f: bench.run([PY, "-m", "core.train", "--spec", str(s)], rows, f"{f} job") for f, s in specs.items()})
    board_s = [b["wall_s"] for b in boards]
    sums = [sum(m[f]["wall_s"] for f in FAMILIES) for m in members]
    table = last_json(boards[-1])
    member_cv = {f: bench.metrics(last_json(members[-1][f])["run_id"]).get("cv_roc_auc_mean") for f in FAMILIES}
    board_cv = {row["family"]: row.get("roc_auc_mean") for row in table["leaderboard"]}
    same = [abs(board_cv[f] - member_cv[f]) for f in FAMILIES if board_cv.get(f) is not None and member_cv[f] is not None]
    return {
        "rows": rows,
        "folds": folds,
        "board_s": [round(s, 1) for s in board_s],
        "members_s": {f: [round(m[f]["wall_s"], 1) for m in members] for f in FAMILIES},
        "members_sum_s": [round(s, 1) for s in sums],
        "board_seconds": round(statistics.median(board_s), 1),
        "board_over_sum": round(statistics.median(b / s for b, s in zip(board_s, sums, strict=True)), 2),
        "board_rss_mb": round(statistics.median(b["rss_mb"] for b in boards)),
        "members_rss_mb": {f: round(statistics.median(m[f]["rss_mb"] for m in members)) for f in FAMILIES},
        "board_family_s": family_seconds(boards[-1]["stderr"]),
        "leaderboard": table["leaderboard"],
        "member_cv_roc_auc_mean": member_cv,
        "max_cv_difference_board_vs_members": max(same) if same else None,
        "load_before": [round(b["load_before"], 2) for b in boards],
    }


def export_for_flaml(root: Path, folder: Path) -> dict:
    """train.parquet (train+valid rows) and test.parquet of the bench job's features and split, `y` 0/1; row counts."""
    from bench.train import features_for
    from core import data
    from core.training.split import split_labels

    features = features_for(root)
    frame = data.training_frame(data.connect(root), "demo", "converted", [*features, "event_time"])
    y = frame.pop("__target").to_numpy(dtype=int)
    labels = split_labels(y, frame["event_time"], "temporal", 0.15, 0.15, 0)
    table = frame[features].copy()
    for column in features:  # text as pandas categories, which FLAML's LightGBM and XGBoost take natively
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str", "bool"):
            table[column] = table[column].astype("category")
    table["y"] = y
    test = labels == "test"
    table[~test].reset_index(drop=True).to_parquet(folder / "train.parquet")
    table[test].reset_index(drop=True).to_parquet(folder / "test.parquet")
    return {"train_valid": int((~test).sum()), "test": int(test.sum()), "features": features}


def flaml_vs_board(bench: Bench, rows: int, folds: int, budget: float) -> dict:
    """FLAML with time_budget=budget against the leaderboard with budget/3 s of search per family, on the same rows."""
    if not FLAML_PYTHON.exists():
        return {"rows": rows, "skipped": f"{FLAML_PYTHON} is missing; `make bench-selection` makes it from requirements-bench.txt"}
    env = bench.env_for(rows)
    exported = export_for_flaml(Path(env["WB_DATA_ROOT"]), bench.folder)
    print(f"flaml at {rows:,} rows, budget {budget:g} s", flush=True)
    argv = [str(FLAML_PYTHON), str(PROJECT / "bench" / "flaml_run.py"), str(bench.folder), f"{budget:g}", "--folds", str(folds)]
    flaml_run = bench.run(argv, rows, "FLAML AutoML")
    flaml = last_json(flaml_run)
    per_family = budget / len(FAMILIES)
    board_run = bench.run(
        board_argv(spec_file(bench.folder, "gbdt", "kfold", folds), per_family),
        rows,
        f"leaderboard with {per_family:g} s search per family",
    )
    table = last_json(board_run)["leaderboard"]
    best = max(table, key=lambda row: row["roc_auc_mean"])
    ours_test = bench.metrics(best["run_id"])["roc_auc"]
    return {
        "rows": rows,
        "folds": folds,
        "budget_s": budget,
        "search_s_per_family": round(per_family, 1),
        "exported_rows": {k: v for k, v in exported.items() if k != "features"},
        "flaml": {**flaml, "wall_s": round(flaml_run["wall_s"], 1), "rss_mb": round(flaml_run["rss_mb"])},
        "ours": {
            "best_family": best["family"],
            "best_cv_roc_auc": best["roc_auc_mean"],
            "best_cv_roc_auc_std": best.get("roc_auc_std"),
            "test_roc_auc": ours_test,
            "wall_s": round(board_run["wall_s"], 1),
            "rss_mb": round(board_run["rss_mb"]),
            "leaderboard": table,
        },
        "cv_gap": round(flaml["best_cv_roc_auc"] - best["roc_auc_mean"], 5),
        "test_gap": round(flaml["test_roc_auc"] - ours_test, 5),
        "load_before": [round(flaml_run["load_before"], 2), round(board_run["load_before"], 2)],
    }


def targets(result: dict) -> list[dict]:
    """Each target of the issue with the measured value and whether it holds (None when its part did not run)."""
    parts = result["parts"]
    cv, board, flaml = parts.get("cv", {}), parts.get("board", {}), parts.get("flaml", {})
    found = [
        ("5-fold CV / one holdout fit (same run)", cv.get("cv_over_fit"), LIMITS["cv_over_fit"]),
        ("peak RSS CV job / holdout job", cv.get("cv_rss_ratio"), LIMITS["cv_rss_ratio"]),
        ("leaderboard / sum of its members", board.get("board_over_sum"), LIMITS["board_over_sum"]),
        ("leaderboard seconds, 3 families with 5-fold CV", board.get("board_seconds"), LIMITS["board_seconds"]),
        ("FLAML best CV ROC AUC - ours", flaml.get("cv_gap"), LIMITS["flaml_gap"]),
    ]
    return [
        {"name": name, "value": value, "limit": limit, "met": None if value is None else value <= limit} for name, value, limit in found
    ]


def report(result: dict) -> str:
    """The results as text: one line per measured number, then the targets."""
    lines = []
    cv, board, flaml = (result["parts"].get(k, {}) for k in ("cv", "board", "flaml"))
    if cv:
        lines += [
            f"cv at {cv['rows']:,} rows, {cv['folds']} folds: CV stage {cv['cv_stage_s']} s, final fit stage {cv['fit_stage_s']} s "
            f"-> {cv['cv_over_fit']}x (holdout job's fit stage {cv.get('holdout_fit_stage_s')} s -> {cv.get('cv_over_holdout_job_fit')}x); jobs {cv['cv_job_s']} s vs holdout {cv['holdout_job_s']} s -> {cv['job_wall_ratio']}x; "
            f"peak RSS {cv['cv_rss_mb']} MB vs {cv['holdout_rss_mb']} MB -> {cv['cv_rss_ratio']}x; "
            f"CV ROC AUC {cv['cv_roc_auc_mean']:.4f} ± {cv['cv_roc_auc_std']:.4f}, test {cv['test_roc_auc']:.4f}"
        ]
    if board:
        lines += [
            f"board at {board['rows']:,} rows: leaderboard {board['board_s']} s vs members' sum {board['members_sum_s']} s "
            f"-> {board['board_over_sum']}x; members {board['members_s']}; CV means board vs members differ by at most "
            f"{board['max_cv_difference_board_vs_members']}; seconds inside the last leaderboard {board.get('board_family_s')}"
        ]
        lines += [
            f"  {row['family']:<8} CV ROC AUC {row['roc_auc_mean']:.4f} ± {row['roc_auc_std']:.4f}, p vs best {row['p_value_vs_best']}"
            for row in board["leaderboard"]
        ]
    if flaml.get("skipped"):
        lines.append(f"flaml: skipped ({flaml['skipped']})")
    elif flaml:
        f, o = flaml["flaml"], flaml["ours"]
        lines += [
            f"flaml at {flaml['rows']:,} rows, budget {flaml['budget_s']:g} s ({flaml['search_s_per_family']:g} s search per family for ours):",
            f"  FLAML ({f['best_estimator']}, {f['trials']} trials): CV ROC AUC {f['best_cv_roc_auc']:.4f}, test {f['test_roc_auc']:.4f}, "
            f"{f['wall_s']} s; default LightGBM CV {f['default_lgbm_cv_roc_auc']:.4f}",
            f"  ours ({o['best_family']}): CV ROC AUC {o['best_cv_roc_auc']:.4f}, test {o['test_roc_auc']:.4f}, {o['wall_s']} s",
        ]
    lines.append("")
    for t in result["targets"]:
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        lines.append(f"{t['name']}: {t['value']} (target <= {t['limit']}): {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the chosen parts, prints the results and writes the JSON (parts not run keep their earlier entry)."""
    parser = argparse.ArgumentParser(prog="python -m bench.selection", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12k rows, one round, a 12 s budget: checks the bench runs, not the targets")
    parser.add_argument("--parts", nargs="+", choices=("cv", "board", "flaml"), default=["cv", "board", "flaml"])
    parser.add_argument("--cv-rows", type=int, help=f"rows of the cv part (default {FULL['cv_rows']:,})")
    parser.add_argument("--board-rows", type=int, help=f"rows of the board and flaml parts (default {FULL['board_rows']:,})")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--budget", type=float, help=f"FLAML's time budget and ours in search seconds (default {FULL['budget']:g})")
    parser.add_argument("--repeat", type=int, help=f"rounds of the cv and board parts, in turns (default {FULL['repeat']})")
    parser.add_argument(
        "--out", type=Path, help="JSON to write (default bench/selection.json; with --quick bench/out/selection_quick.json)"
    )
    parser.add_argument("--data-dir", type=Path, default=OUT, help="folder of the root_<rows> demo datasets")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    cv_rows, board_rows = args.cv_rows or mode["cv_rows"], args.board_rows or mode["board_rows"]
    budget, repeat = args.budget or mode["budget"], args.repeat or mode["repeat"]
    out = args.out or (OUT / "selection_quick.json" if args.quick else PROJECT / "bench" / "selection.json")
    result = json.loads(out.read_text()) if out.exists() else {"parts": {}}
    load, began = os.getloadavg(), time.perf_counter()
    # OpenMP threads sleep while waiting (as bench.run --quick), so LightGBM on a shared machine does not spin: a 1M-row
    # holdout job took 259 s instead of ~35 s at load 10 without it. Every side gets it; the JSON records it.
    child_env = {"OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory(prefix="bench-selection-") as tmp:
        bench = Bench(Path(tmp), args.data_dir, child_env)
        for part in args.parts:
            started, load_part = time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getloadavg()
            if part == "cv":
                found = cv_vs_fit(bench, cv_rows, args.folds, repeat)
            elif part == "board":
                found = board_vs_members(bench, board_rows, args.folds, repeat)
            else:
                found = flaml_vs_board(bench, board_rows, args.folds, budget)
            result["parts"][part] = {**found, "started": started, "load_avg_1_5_15": [round(x, 2) for x in load_part]}
    from bench.summary import machine

    result |= {
        "machine": {**machine(), "load_before": load, "load_after": os.getloadavg()},
        "mode": "quick" if args.quick else "full",
        "child_env": child_env,
    }
    result["targets"] = targets(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")  # before printing: the measurements are the slow part
    print(report(result))
    print(f"\n{time.perf_counter() - began:.0f} s; load {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
